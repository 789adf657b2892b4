"""Figures of a modal analysis: the clip's spectrogram with its strongest modes marked, and each
of those modes' measured dB envelope against its fitted decay line `p - lambda t` (eq. 4).

Used by `physfoley analyze --plot` and the demo. Matplotlib's non-interactive Agg backend; the
file is written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from physfoley.atomic import atomic_path
from physfoley.audio.analysis import prepare_clips
from physfoley.audio.params import ModalParams
from physfoley.audio.spectrogram import stft
from physfoley.config import AudioConfig, get_preset
from physfoley.errors import InputError


def plot_modal_analysis(
    wave: np.ndarray,
    params: ModalParams,
    cfg: AudioConfig | str,
    path: str | os.PathLike,
    *,
    top: int = 8,
    title: str | None = None,
    force: bool = False,
) -> Path:
    """Draw `wave: [N]` (the analysed clip) with the `top` strongest modes of `params` to `path`
    (PNG, PDF or SVG by extension)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = get_preset(cfg)
    if params.batched:
        raise InputError("plot one clip at a time (params.select(i))")
    path = Path(path)
    if path.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise InputError(f"plot file must end in .png, .pdf or .svg, got {path}")
    x, _, _ = prepare_clips(wave, cfg)
    mag = stft(x, cfg).abs()[0]
    db = 20 * torch.log10(mag.clamp_min(1e-5))
    db = (db - db.max()).clamp_min(-cfg.top_db).numpy()
    times = np.arange(db.shape[1]) * cfg.hop_length / cfg.sample_rate
    freqs = np.arange(db.shape[0]) * cfg.sample_rate / cfg.n_fft
    modes = np.array([m["bin"] for m in params.modes_table(top, peaks_only=True)], dtype=int)
    colors = plt.cm.tab10(np.arange(len(modes)) % 10)

    fig, (ax_spec, ax_env) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    mesh = ax_spec.pcolormesh(times * 1e3, freqs / 1e3, db, shading="nearest", cmap="magma")
    fig.colorbar(mesh, ax=ax_spec, label="dB (re loudest cell)")
    for k, color in zip(modes, colors, strict=True):
        ax_spec.axhline(params.freq_hz[k] / 1e3, color=color, lw=0.8, ls="--")
        ax_spec.annotate(
            f"{params.freq_hz[k]:.0f} Hz, {params.decay_db_per_s[k]:.0f} dB/s",
            (times[-1] * 1e3, params.freq_hz[k] / 1e3),
            color=color,
            fontsize=7,
            ha="right",
            va="bottom",
        )
    ax_spec.set_xlabel("time (ms)")
    ax_spec.set_yscale("symlog", linthresh=1.0, linscale=0.5)  # modes crowd the low kHz
    ax_spec.set_ylim(0, freqs[-1] / 1e3)
    ax_spec.set_ylabel("frequency (kHz)")
    ax_spec.set_title(title or f"spectrogram, {len(modes)} strongest modes ({params.method})")

    for k, color in zip(modes, colors, strict=True):
        ax_env.plot(times * 1e3, db[k], color=color, lw=1.0, alpha=0.6)
        line = params.power_db[k] - params.decay_db_per_s[k] * times
        ax_env.plot(times * 1e3, np.maximum(line, -cfg.top_db), color=color, lw=1.5, ls="--")
    ax_env.set_ylim(-cfg.top_db - 2, 8)
    ax_env.set_xlabel("time (ms)")
    ax_env.set_ylabel("dB")
    ax_env.set_title("mode envelopes: measured (solid) vs p - \u03bb t (dashed)")
    with atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path
