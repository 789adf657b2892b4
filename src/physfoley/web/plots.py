"""Figures of the web app: the impacts on the striker's speed curve, and the soundtrack's spectrogram.

Pure presentation: matplotlib figures (Agg) from arrays the session already holds; the app
shows them with `gr.Plot`. Impacts are numbered 1..B in time order, as in the impacts table.
"""

from __future__ import annotations

import numpy as np

#: Colour of the impact markers and of the selected impact.
IMPACT_COLOUR = "#1f77b4"
SELECTED_COLOUR = "#d62728"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _mark_impacts(
    ax, times_s, labels, selected: int | None, top: float, base: str = IMPACT_COLOUR
) -> None:
    for i, (t, label) in enumerate(zip(times_s, labels, strict=True)):
        colour = SELECTED_COLOUR if i == selected else base
        ax.axvline(t, color=colour, lw=1.6 if i == selected else 0.9, ls="--")
        ax.text(t, top, f" {i + 1} {label}", color=colour, fontsize=8, va="top")


def timeline_figure(
    frame_times_s: np.ndarray,
    speed_px_s: np.ndarray,
    impact_times_s: list[float],
    labels: list[str],
    *,
    duration_s: float,
    selected: int | None = None,
):
    """Striker speed over time (px/s, from the detector's motion track) with the impacts.

    frame_times_s, speed_px_s : [T]; impact_times_s, labels : one per impact.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 2.6), constrained_layout=True)
    ax.plot(frame_times_s, speed_px_s, color="0.3", lw=1.2, label="striker speed")
    top = float(np.nanmax(speed_px_s)) if np.size(speed_px_s) else 1.0
    ax.set_ylim(0, max(top, 1.0) * 1.18)
    _mark_impacts(ax, impact_times_s, labels, selected, max(top, 1.0) * 1.16)
    ax.set_xlim(0, duration_s)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("speed (px/s)")
    ax.set_title("Impacts on the timeline (dashed) over the striker's speed", fontsize=10)
    plt.close(fig)
    return fig


def spectrogram_figure(
    audio: np.ndarray,
    sample_rate: int,
    impact_times_s: list[float],
    labels: list[str],
    *,
    selected: int | None = None,
    title: str = "Spectrogram of the soundtrack",
):
    """Log spectrogram (dB re its loudest cell, 80 dB range) of `audio` [N] with the impacts."""
    import librosa

    plt = _pyplot()
    wave = np.asarray(audio, np.float32)
    spec = np.abs(librosa.stft(wave, n_fft=512, hop_length=128)) if wave.size else np.zeros((1, 1))
    db = librosa.amplitude_to_db(spec, ref=max(float(spec.max()), 1e-9), top_db=80)
    top_khz = sample_rate / 2000
    fig, ax = plt.subplots(figsize=(9, 2.8), constrained_layout=True)
    extent = (0, wave.size / sample_rate, 0, top_khz)
    ax.imshow(db, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=-80, vmax=0)
    _mark_impacts(ax, impact_times_s, labels, selected, top_khz * 0.98, base="cyan")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("kHz")
    ax.set_title(title, fontsize=10)
    plt.close(fig)
    return fig
