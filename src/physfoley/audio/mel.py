"""Log-mel spectrograms of the soundtrack family (Diff-Foley's mapping) and their vocoder.

Forward: |STFT| (power 1, Hann, centred) -> librosa's mel bank -> `20 log10(max(mel, 1e-5))`
-> `(dB - 20 + 100) / 100` clipped to [0, 1] (luosiallen/Diff-Foley `wav2spec.py`) -> [-1, 1].
Inverse: the mel magnitude back to a linear magnitude (the pseudo-inverse of the mel bank,
clamped at 0, by default; librosa's NNLS as `mel_to_stft` does on request: same fit, about
1000x slower), then the project's fast Griffin-Lim (`audio.spectrogram.griffin_lim`). The
spectrograms are time-major inside the data files; every function here takes and returns the
usual `[B, M, T]` layout.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from physfoley.audio.spectrogram import as_batch, griffin_lim, stft
from physfoley.config import AudioConfig
from physfoley.errors import InputError
from physfoley.soundtrack_config import SoundtrackConfig

MEL_INVERSIONS = ("pinv", "nnls")


def stft_config(cfg: SoundtrackConfig) -> AudioConfig:
    """The `AudioConfig` through which `audio.spectrogram`'s STFT and Griffin-Lim see `cfg`."""
    return AudioConfig(
        name=f"soundtrack-{cfg.name}",
        sample_rate=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        num_samples=cfg.segment_samples,
    )


@lru_cache(maxsize=8)
def _mel_bank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)


def mel_bank(cfg: SoundtrackConfig) -> np.ndarray:
    """librosa's mel filter bank, float32 [n_mels, n_fft // 2 + 1]."""
    return _mel_bank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin_hz, cfg.fmax_hz)


@lru_cache(maxsize=8)
def _mel_pinv(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    bank = _mel_bank(sample_rate, n_fft, n_mels, fmin, fmax)
    return np.linalg.pinv(bank).astype(np.float32)


def log_mel(wave: np.ndarray | Tensor, cfg: SoundtrackConfig) -> Tensor:
    """Normalised log-mel spectrogram.

    wave : [N] or [B, N] at `cfg.sample_rate` -> Tensor[B, n_mels, 1 + N // hop] in [-1, 1]
    (frame j centred at j * hop / sr).
    """
    x, _ = as_batch(wave)
    mag = stft(x, stft_config(cfg)).abs()
    bank = torch.from_numpy(mel_bank(cfg)).to(mag)
    mel = torch.einsum("mf,bft->bmt", bank, mag)
    db = 20.0 * torch.log10(mel.clamp_min(cfg.db_floor_amp))
    unit = ((db - cfg.db_offset + cfg.db_range) / cfg.db_range).clamp(0.0, 1.0)
    return unit * 2.0 - 1.0


def shift_level(spec: np.ndarray, gain_db: float, cfg: SoundtrackConfig) -> np.ndarray:
    """The normalised log-mel (any shape, values in [-1, 1]) of the same sound `gain_db` louder:
    every value moves by 2 gain_db / db_range; values at the floor (-1) stay there, since what
    lay below it is unknown, and the top clips at 1 as `log_mel` does."""
    spec = np.asarray(spec, np.float32)
    moved = np.clip(spec + 2.0 * gain_db / cfg.db_range, -1.0, 1.0)
    return np.where(spec <= -1.0, np.float32(-1.0), moved).astype(np.float32)


def mel_magnitude(spec: Tensor, cfg: SoundtrackConfig) -> Tensor:
    """Inverse of the log mapping: `spec: Tensor[B, M, T]` in [-1, 1] -> mel magnitude [B, M, T]."""
    unit = (torch.as_tensor(spec).float().clamp(-1.0, 1.0) + 1.0) * 0.5
    db = unit * cfg.db_range - cfg.db_range + cfg.db_offset
    return torch.pow(10.0, db / 20.0)


def mel_to_linear(mel: Tensor, cfg: SoundtrackConfig, *, method: str = "pinv") -> Tensor:
    """Linear STFT magnitude `Tensor[B, F, T]` from a mel magnitude `mel: Tensor[B, M, T]`.

    method : "pinv" (pseudo-inverse of the bank, clamped at 0) or "nnls" (librosa's
        non-negative least squares, what `librosa.feature.inverse.mel_to_stft` does).
    """
    if method not in MEL_INVERSIONS:
        raise InputError(f"unknown mel inversion {method!r}; choose one of {list(MEL_INVERSIONS)}")
    mel = torch.as_tensor(mel).float()
    if method == "pinv":
        pinv = torch.from_numpy(
            _mel_pinv(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin_hz, cfg.fmax_hz)
        ).to(mel)
        return torch.einsum("fm,bmt->bft", pinv, mel).clamp_min(0.0)
    import librosa

    bank = mel_bank(cfg)
    out = [librosa.util.nnls(bank, m.cpu().numpy()) for m in mel]
    return torch.from_numpy(np.stack(out)).to(mel)


def vocode(
    spec: Tensor,
    cfg: SoundtrackConfig,
    *,
    length: int | None = None,
    n_iter: int = 32,
    method: str = "pinv",
    seed: int = 0,
) -> Tensor:
    """Waveform from a normalised log-mel spectrogram.

    spec : Tensor[B, M, T] (or [M, T]) in [-1, 1] -> Tensor[B, length] (or [length]), length
    defaulting to (T - 1) * hop. Griffin-Lim with momentum 0.99, `n_iter` iterations.
    """
    spec = torch.as_tensor(spec)
    unbatched = spec.ndim == 2
    if unbatched:
        spec = spec[None]
    if spec.ndim != 3 or spec.shape[1] != cfg.n_mels:
        raise InputError(f"expected a log-mel [B, {cfg.n_mels}, T], got {tuple(spec.shape)}")
    linear = mel_to_linear(mel_magnitude(spec, cfg), cfg, method=method)
    if length is None:
        length = (spec.shape[-1] - 1) * cfg.hop_length
    wave = griffin_lim(linear, stft_config(cfg), n_iter=n_iter, length=length, seed=seed)
    return wave[0] if unbatched else wave
