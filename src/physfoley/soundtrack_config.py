"""Timing of the whole-soundtrack family (Diff-Foley): one dataclass for audio and video together.

Like MMAudio's `sequence_config.py`, one frozen dataclass fixes every rate and length that the
segment data, the spectrogram VAE, CAVP, the latent denoiser and the pipeline must agree on:
the mel spectrogram (sample rate, STFT, mel bands), the segment length, the VAE's compression
and the visual feature rate. A segment always starts on a latent frame (`latent_stride_t` mel
frames), so latents and visual features of a long video can be sliced into segments.

Presets
-------
paper : Diff-Foley as published (luosiallen/Diff-Foley `data_preprocess/wav2spec.py`): 16 kHz,
    n_fft 1024, hop 256, 128 mels in 125-7600 Hz, 20 log10 with a 1e-5 floor mapped to [0, 1]
    over 100 dB; 512 mel frames (8.192 s, the paper's "8.2 s"); latent 4 x 16 x 64 (r = 8);
    CAVP at 4 fps on 224 x 224 frames.
small : the CPU preset. Same STFT and mel range, 64 mels, 256 mel frames (4.096 s), latent
    4 x 16 x 64 (r = 4). Visual features at 15.625 fps, i.e. exactly one per latent frame (64 ms):
    4 fps (250 ms) cannot place a hit within 0.1 s, while 64 ms can (worst case +-32 ms from
    sampling, about a third of the tolerance), and one feature per latent frame makes the visual
    and latent sequences line up token for token. Frames of 64 x 64 px (the striker and the
    objects of SynthHits stay legible at that size) keep the video encoder cheap on a CPU.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from physfoley.errors import InputError


@dataclass(frozen=True)
class SoundtrackConfig:
    """Audio and video timing of one preset (all derived sizes are properties).

    Attributes
    ----------
    sample_rate : Hz of the generated audio.
    n_fft, hop_length : STFT (Hann window, centred, zero padding), in samples.
    n_mels, fmin_hz, fmax_hz : mel filter bank (librosa, Slaney scale and norm).
    db_floor_amp, db_offset, db_range : log-mel mapping `clip((20 log10(max(mel, floor)) -
        offset + range) / range, 0, 1)`, then to [-1, 1] (Diff-Foley: 1e-5, 20 dB, 100 dB).
    segment_mel_frames : mel frames per segment (a multiple of latent_stride_t).
    latent_channels, latent_stride_t, latent_stride_f : VAE latent channels and compression.
    visual_fps : rate of the visual features E_v (frame i shows time (i + 0.5) / visual_fps).
    image_size : side of the square frames the video encoder sees, in pixels.
    """

    name: str
    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 64
    fmin_hz: float = 125.0
    fmax_hz: float = 7600.0
    db_floor_amp: float = 1e-5
    db_offset: float = 20.0
    db_range: float = 100.0
    segment_mel_frames: int = 256
    latent_channels: int = 4
    latent_stride_t: int = 4
    latent_stride_f: int = 4
    visual_fps: float = 15.625
    image_size: int = 64

    def __post_init__(self) -> None:
        if self.segment_mel_frames % self.latent_stride_t:
            raise InputError(
                f"segment_mel_frames {self.segment_mel_frames} is not a multiple of "
                f"latent_stride_t {self.latent_stride_t}"
            )
        if self.n_mels % self.latent_stride_f:
            raise InputError(
                f"n_mels {self.n_mels} is not a multiple of latent_stride_f {self.latent_stride_f}"
            )

    @property
    def mel_rate_hz(self) -> float:
        """Mel frames per second (frame j is centred at j * hop / sr)."""
        return self.sample_rate / self.hop_length

    @property
    def latent_rate_hz(self) -> float:
        """Latent frames (denoiser tokens) per second."""
        return self.mel_rate_hz / self.latent_stride_t

    @property
    def segment_s(self) -> float:
        return self.segment_mel_frames / self.mel_rate_hz

    @property
    def segment_samples(self) -> int:
        return self.segment_mel_frames * self.hop_length

    @property
    def latent_frames(self) -> int:
        """Latent frames per segment (the denoiser's sequence length)."""
        return self.segment_mel_frames // self.latent_stride_t

    @property
    def latent_freqs(self) -> int:
        return self.n_mels // self.latent_stride_f

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(C', M / r_f, T' / r_t) of one segment's latent."""
        return (self.latent_channels, self.latent_freqs, self.latent_frames)

    @property
    def visual_frames(self) -> int:
        """Visual features per segment."""
        return self.visual_count(self.latent_frames)

    def visual_count(self, latent_frames: int) -> int:
        """Visual frames that fit within `latent_frames` latent frames (whole frames only)."""
        return int(latent_frames / self.latent_rate_hz * self.visual_fps + 1e-6)

    def visual_index(self, latent_frame: int) -> int:
        """Index of the visual frame where a segment starting at `latent_frame` begins."""
        return int(round(latent_frame / self.latent_rate_hz * self.visual_fps))

    def num_visual_frames(self, duration_s: float) -> int:
        """Visual frames covering `duration_s` seconds."""
        return max(1, math.ceil(duration_s * self.visual_fps - 1e-9))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> SoundtrackConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise InputError(f"unknown soundtrack config keys {unknown}; known: {sorted(known)}")
        return cls(**doc)


SOUNDTRACK_PRESETS: dict[str, SoundtrackConfig] = {
    "paper": SoundtrackConfig(
        name="paper",
        n_mels=128,
        segment_mel_frames=512,
        latent_stride_t=8,
        latent_stride_f=8,
        visual_fps=4.0,
        image_size=224,
    ),
    "small": SoundtrackConfig(name="small"),
}


def get_soundtrack_preset(name: str | SoundtrackConfig) -> SoundtrackConfig:
    """The preset called `name` (or `name` itself when it is already a config)."""
    if isinstance(name, SoundtrackConfig):
        return name
    try:
        return SOUNDTRACK_PRESETS[name]
    except KeyError:
        raise InputError(
            f"unknown soundtrack preset {name!r}; choose one of {sorted(SOUNDTRACK_PRESETS)}"
        ) from None


def nearest_frames(times_s: np.ndarray, fps: float, count: int) -> np.ndarray:
    """Indices int64 [count] of the decoded frames (presentation times `times_s`, sorted)
    nearest to the visual grid times (i + 0.5) / fps, i < count."""
    times_s = np.asarray(times_s, dtype=np.float64)
    if len(times_s) == 1:
        return np.zeros(count, dtype=np.int64)
    want = (np.arange(count) + 0.5) / fps
    right = np.clip(np.searchsorted(times_s, want), 1, len(times_s) - 1)
    left = right - 1
    return np.where(np.abs(times_s[left] - want) <= np.abs(times_s[right] - want), left, right)
