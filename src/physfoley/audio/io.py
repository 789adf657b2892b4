"""Audio file input/output: read anything soundfile reads, validate, mix down, resample; limit to
full scale and write atomically.

This is the boundary where bad audio becomes a clear `InputError` (missing, not audio, empty,
silent, NaN/inf), so nothing deeper in the library needs to check again.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from physfoley.atomic import atomic_path
from physfoley.errors import InputError


def load_audio(
    path: str | os.PathLike, sample_rate: int | None = None, *, allow_silent: bool = False
) -> tuple[np.ndarray, int]:
    """Read an audio file as mono float32.

    Parameters
    ----------
    path : file soundfile can read (wav, flac, ogg, ...).
    sample_rate : resample to this rate (Hz) when given and different (librosa, soxr_hq).
    allow_silent : accept an all-zero signal.

    Returns
    -------
    wave : np.ndarray[N] float32, sr : int
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not an audio file")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises LibsndfileError/RuntimeError with long text
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path} is not a readable audio file ({reason})") from None
    if data.shape[0] == 0:
        raise InputError(f"{path} holds no audio samples")
    wave = data.mean(axis=1)
    if not np.all(np.isfinite(wave)):
        raise InputError(f"{path} contains NaN or infinite samples; fix or re-export the file")
    if sample_rate is not None and sr != sample_rate:
        import librosa

        wave = librosa.resample(wave, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq").astype(
            np.float32
        )
        sr = sample_rate
    if not allow_silent and not np.any(np.abs(wave) > 0):
        raise InputError(f"{path} is silent (all samples are zero); nothing to analyse")
    return wave.astype(np.float32, copy=False), int(sr)


def write_audio(
    path: str | os.PathLike,
    wave: np.ndarray,
    sample_rate: int,
    *,
    force: bool = False,
    subtype: str | None = None,
) -> Path:
    """Write mono or [channels, N] audio atomically; format from the extension (wav, flac, ogg).

    Samples are written as float (wav: PCM_16 unless `subtype` says otherwise) after clipping to
    [-1, 1]; nothing exists at `path` until the write succeeded.
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:
        wave = wave.T
    if not np.all(np.isfinite(wave)):
        raise InputError("refusing to write audio with NaN or infinite samples")
    wave = np.clip(wave, -1.0, 1.0)
    path = Path(path)
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"unsupported audio extension {path.suffix!r} for {path}; use .wav, .flac or .ogg"
        )
    if subtype is None:
        subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS"}[fmt]
    with atomic_path(path, force=force) as tmp:
        sf.write(str(tmp), wave, sample_rate, format=fmt, subtype=subtype)
    return path


def limit_to_full_scale(wave: np.ndarray) -> tuple[np.ndarray, float]:
    """A waveform ready for a sound file: (wave scaled down to peak 1.0 if it peaked above,
    its peak amplitude before); a wave within full scale comes back unchanged."""
    peak = float(np.abs(wave).max())
    if peak > 1.0:
        wave = wave / peak
    return wave, peak
