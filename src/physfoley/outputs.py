"""Writing what the flow produces: the soundtrack, the muxed video, and a result's JSON form.

The last step of the flow (`ImpactPipeline.synthesize` -> `SynthesisResult` -> files) is shared
by `physfoley synthesize` and `physfoley demo`: `check_soundtrack_outputs` refuses bad paths
before any work, `write_soundtrack` muxes the new soundtrack into a copy of the video and then
writes the audio file, removing the video again when the audio write fails (so a failure leaves
no half of the output behind), and `result_json` is the one JSON form of a result
(`soundtrack_json` that of a whole-soundtrack result, with its detected onsets). The arrays
that `physfoley eval` saves for re-scoring go through `write_npz`, atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from physfoley.atomic import atomic_path, check_output_path
from physfoley.audio.io import write_audio
from physfoley.errors import InputError
from physfoley.evaluation.metrics import detect_onsets
from physfoley.video.mux import AUDIO_CODEC_OF, ORIGINAL_AUDIO, check_video_out, mux_audio

if TYPE_CHECKING:
    from physfoley.pipeline import SynthesisResult
    from physfoley.soundtrack_pipeline import SoundtrackResult

#: Audio files a soundtrack can be written as.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
#: Containers a soundtrack can be muxed into (the picture is copied, not re-encoded; .webm
#: holds VP8, VP9 or AV1 video only, with Opus sound).
VIDEO_SUFFIXES = tuple(AUDIO_CODEC_OF)


def check_soundtrack_outputs(
    video: str | os.PathLike,
    audio_out: str | os.PathLike,
    video_out: str | os.PathLike | None = None,
    *,
    force: bool = False,
    original_audio: str = "replace",
) -> tuple[Path, Path | None]:
    """Check the input video and the output paths before any work; returns (audio, video) paths.

    Raises `InputError` when `video` is not a file, an output exists without `force`, a suffix
    is not one of `AUDIO_SUFFIXES` / `VIDEO_SUFFIXES` or cannot hold the input's picture,
    `video_out` is the input itself, or `original_audio` keep/mix is asked without a
    `video_out` or of a video without sound.
    """
    if not Path(video).is_file():
        raise InputError(f"{video} does not exist or is not a file")
    audio_path = check_output_path(audio_out, force=force)
    if audio_path.suffix.lower() not in AUDIO_SUFFIXES:
        raise InputError(
            f"unsupported audio extension {audio_path.suffix!r}; use .wav, .flac or .ogg"
        )
    video_path = None
    if video_out:
        video_path = check_output_path(video_out, force=force)
        if video_path.resolve() == Path(video).resolve():
            raise InputError("--video-out must differ from the input video")
        check_video_out(video, video_path)
    if original_audio not in ORIGINAL_AUDIO:
        raise InputError(f"--original-audio must be one of {', '.join(ORIGINAL_AUDIO)}")
    if original_audio != "replace":
        if video_path is None:
            raise InputError(f"--original-audio {original_audio} needs --video-out")
        if not has_audio(video):
            raise InputError(
                f"{video} has no audio track to {original_audio}; use --original-audio replace"
            )
    return audio_path, video_path


def has_audio(video: str | os.PathLike) -> bool:
    """Whether `video` has an audio track (False when it cannot be opened)."""
    import av

    try:
        with av.open(str(video)) as cont:
            return bool(cont.streams.audio)
    except av.error.FFmpegError:
        return False


def write_soundtrack(
    audio: np.ndarray,
    sample_rate: int,
    audio_out: str | os.PathLike,
    *,
    video: str | os.PathLike | None = None,
    video_out: str | os.PathLike | None = None,
    force: bool = False,
    original_audio: str = "replace",
    original_gain_db: float = 0.0,
) -> None:
    """Write `audio` [N] (mono, at `sample_rate` Hz) to `audio_out`, and, with `video_out`, into
    a copy of `video` whose picture is kept and whose soundtrack is `audio`; `original_audio`
    says what becomes of the video's own sound (`physfoley.video.mux.mux_audio`: replace, keep
    as a second track, or mix in at `original_gain_db`). `audio_out` is always `audio` alone.

    The video is muxed first (a codec its container cannot hold fails there, before any audio
    file exists); if the audio write then fails, the muxed video is removed again.
    """
    if video_out is not None:
        if video is None:
            raise InputError("a muxed video needs the input video")
        mux_audio(
            video,
            audio,
            sample_rate,
            video_out,
            force=force,
            original=original_audio,
            original_gain_db=original_gain_db,
        )
    try:
        write_audio(audio_out, audio, sample_rate, force=force)
    except Exception:
        if video_out is not None:
            Path(video_out).unlink(missing_ok=True)
        raise


def result_json(result: SynthesisResult, *, sample_rate: bool = True) -> dict[str, Any]:
    """The JSON form of a `SynthesisResult`: duration_s, sample_rate, sampler, steps, normalized
    and one {time_s, neighbour, neighbour_material, speed_before_m_s, speed_after_m_s, mass_kg,
    impulse_n_s, kinetic_energy_change_j, gain, speed_source, duration_s} per impact, in that order.

    sample_rate : False leaves the sample rate out (the demo's summary has never carried it).
    """
    doc: dict[str, Any] = {"duration_s": result.duration_s}
    if sample_rate:
        doc["sample_rate"] = result.sample_rate
    doc.update(
        sampler=result.sampler,
        steps=result.steps,
        normalized=result.normalized,
        impacts=[
            {
                "time_s": imp.time_s,
                "neighbour": imp.neighbour,
                "neighbour_material": imp.neighbour_material,
                "speed_before_m_s": imp.speed_before_m_s,
                "speed_after_m_s": imp.speed_after_m_s,
                "mass_kg": imp.mass_kg,
                "impulse_n_s": imp.impulse_n_s,
                "kinetic_energy_change_j": imp.kinetic_energy_change_j,
                "gain": imp.gain,
                "speed_source": imp.speed_source,
                "duration_s": imp.clip.size / result.sample_rate,
            }
            for imp in result.impacts
        ],
    )
    return doc


def write_npz(path: str | os.PathLike, *, force: bool = False, **arrays: np.ndarray) -> Path:
    """`np.savez` of `arrays` to `path`, written to a temp file and renamed (atomic)."""
    path = Path(path)
    with atomic_path(path, force=force) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return path


def soundtrack_json(result: SoundtrackResult) -> dict[str, Any]:
    """The JSON form of a whole-soundtrack `SoundtrackResult` (the diff-foley family):
    duration_s, sample_rate, its sampling settings, the generated windows and the onsets found
    in the soundtrack (`evaluation.metrics.detect_onsets`, the onset protocol `physfoley eval`
    scores) as {time_s, confidence}."""
    times, confidence = detect_onsets(result.wave, result.sample_rate)
    return {
        "family": "diff-foley",
        "duration_s": result.duration_s,
        "sample_rate": result.sample_rate,
        **result.settings,
        "window_starts_s": result.window_starts_s,
        "onsets": [
            {"time_s": round(float(t), 4), "confidence": round(float(c), 4)}
            for t, c in zip(times, confidence, strict=True)
        ],
    }
