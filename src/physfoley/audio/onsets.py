"""Onsets of long recordings and the cutting of their analysis window.

Modal analysis reads one short clip (0.25 s with the paper preset); a recording may be longer and
hold several hits. `onsets` finds the hits (librosa's spectral flux, backtracked) with their peak
amplitudes, `cut_clip` cuts the analysis window at the strongest (or the first) of them, and
`read_analysis_window` does both for an audio file at a preset's rate. This module sits before
`physfoley.audio.analysis` in the `analyze` and `edit` commands and the hammer benchmarks.
"""

from __future__ import annotations

import os

import numpy as np

from physfoley.audio.io import load_audio
from physfoley.config import AudioConfig
from physfoley.errors import InputError


def onsets(wave: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Onsets of a long recording via librosa (spectral flux, backtracked to the energy minimum
    before each attack): (start samples [E] int, peak amplitude of each hit [E]) in time order."""
    import librosa

    wave = np.asarray(wave, np.float32)
    hop = 512
    envelope = librosa.onset.onset_strength(y=wave, sr=sample_rate, hop_length=hop)
    frames = librosa.onset.onset_detect(
        onset_envelope=envelope, sr=sample_rate, hop_length=hop, units="frames"
    )
    if frames.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    backtracked = librosa.onset.onset_backtrack(frames, envelope)
    samples = librosa.frames_to_samples(backtracked, hop_length=hop).astype(np.int64)
    # Strength = peak amplitude of the hit (first 50 ms): spectral flux is measured in dB, so a
    # quiet tap out of silence would otherwise outrank a loud hit over a ringing tail.
    attack = max(1, int(0.05 * sample_rate))
    padded = np.concatenate([np.abs(wave), np.zeros(attack, np.float32)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, attack)[samples]
    return samples, windows.max(axis=1).astype(np.float32)


def cut_clip(
    wave: np.ndarray, sample_rate: int, num_samples: int, *, which: str = "strongest"
) -> tuple[np.ndarray, int | None]:
    """The analysis window of a recording: `wave[N]` -> (clip [<= num_samples], start sample).

    Audio no longer than `num_samples` is returned whole (start None: analyse as is). Longer
    audio is cut at its strongest onset (`which="strongest"`) or its first (`which="first"`);
    with no detectable onset, at its loudest sample.
    """
    wave = np.asarray(wave, np.float32)
    if wave.shape[-1] <= num_samples:
        return wave, None
    starts, strengths = onsets(wave, sample_rate)
    if starts.size == 0:
        start = int(np.argmax(np.abs(wave)))
    elif which == "first":
        start = int(starts[0])
    elif which == "strongest":
        start = int(starts[int(np.argmax(strengths))])
    else:
        raise InputError(f"unknown onset choice {which!r}; use 'strongest' or 'first'")
    return wave[start : start + num_samples], start


def read_analysis_window(
    path: str | os.PathLike, cfg: AudioConfig
) -> tuple[np.ndarray, float | None, float]:
    """Read an audio file at the preset's rate and cut its analysis window at the strongest onset.

    Returns (clip float32 [<= cfg.num_samples] at cfg.sample_rate, onset_s: start of the window
    in the recording in seconds, or None when the recording is analysed whole, recording_s: the
    recording's length in seconds).
    """
    wave, sample_rate = load_audio(path, cfg.sample_rate)
    clip, start = cut_clip(wave, sample_rate, cfg.num_samples, which="strongest")
    onset_s = None if start is None else start / sample_rate
    return clip, onset_s, wave.size / sample_rate
