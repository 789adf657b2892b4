"""The audio half of `physfoley demo`: a built-in impact sound, analysed, edited, resynthesised.

The sound is made here from physics, so the demo needs no download: a free-free bar struck
off-centre (Euler-Bernoulli mode frequencies, mode shapes at the strike point as amplitudes,
loss-factor damping, so higher modes die faster) plus the short noise burst of the contact.
`run_audio_demo` analyses it (default method + fitted residual), writes the original, the
resynthesis and three physics edits (heavier, brighter, longer ring) as wavs, the parameters, a
plot and a JSON summary. The video pipeline's demo builds on this function.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physfoley.atomic import check_output_path, write_text_atomic
from physfoley.audio.analysis import analyze
from physfoley.audio.io import write_audio
from physfoley.audio.losses import mrstft_loss
from physfoley.audio.plots import plot_modal_analysis
from physfoley.audio.synthesis import resynthesize
from physfoley.config import get_preset
from physfoley.errors import InputError

# Free-free Euler-Bernoulli bar: beta_n L for the first bending modes.
_BETA_L = np.array([4.7300, 7.8532, 10.9956, 14.1372, 17.2788, 20.4204, 23.5619])

EDITS: dict[str, dict[str, float]] = {
    # a bigger, heavier object: lower modes that ring longer
    "heavier": {"freq_scale": 0.7, "decay_scale": 0.7, "gain_db": 0.0},
    # a smaller, stiffer one: higher modes, a little more damped
    "brighter": {"freq_scale": 1.5, "decay_scale": 1.2, "gain_db": 0.0},
    # the same object with half the damping: rings twice as long
    "longer_ring": {"freq_scale": 1.0, "decay_scale": 0.5, "gain_db": 0.0},
}


def struck_bar(
    sample_rate: int = 44100,
    seconds: float = 0.25,
    *,
    fundamental_hz: float = 523.0,
    loss_factor: float = 0.012,
    strike_position: float = 0.22,
    contact_ms: float = 1.5,
    seed: int = 0,
) -> np.ndarray:
    """A struck free-free bar, float32 [N] peak 0.9.

    Mode n: f_n = f_1 (beta_n / beta_1)^2, amplitude |phi_n(strike)| / f_n (a short impulse
    excites each mode by its shape at the strike point; displacement ~ 1/f), decay
    pi f_n eta nepers/s (constant loss factor eta). Contact: white noise with a `contact_ms`
    exponential envelope, gently low-passed, -20 dB; plus room noise at -60 dB.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    freqs = fundamental_hz * (_BETA_L / _BETA_L[0]) ** 2
    freqs = freqs[freqs < 0.45 * sample_rate]
    beta = _BETA_L[: freqs.size]
    x = beta * strike_position
    sigma = (np.cosh(beta) - np.cos(beta)) / (np.sinh(beta) - np.sin(beta))
    shape = np.cosh(x) + np.cos(x) - sigma * (np.sinh(x) + np.sin(x))
    amps = np.abs(shape) / freqs * fundamental_hz
    decay_np = np.pi * freqs * loss_factor  # nepers per second
    phases = rng.uniform(0, 2 * np.pi, freqs.size)
    modes = (
        amps[:, None]
        * np.exp(-decay_np[:, None] * t)
        * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])
    ).sum(0)
    noise = rng.standard_normal(n)
    noise = np.convolve(noise, np.ones(4) / 4, mode="same")  # gentle high-cut
    contact = noise * np.exp(-t / (contact_ms / 1e3))
    contact *= 0.1 * np.abs(modes).max() / np.abs(contact).max()
    room = rng.standard_normal(n) * 1e-3 * np.abs(modes).max()  # a quiet room, -60 dB
    wave = modes + contact + room
    return (0.9 * wave / np.abs(wave).max()).astype(np.float32)


def run_audio_demo(
    out_dir: str | os.PathLike, *, force: bool = False, preset: str = "paper"
) -> dict[str, Any]:
    """Write the audio demo into `out_dir` (created if missing); returns a JSON-ready summary.

    Files: original.wav, resynth.wav, resynth_modes_only.wav, heavier.wav, brighter.wav,
    longer_ring.wav, params.npz, analysis.png, audio_summary.json. Nothing is overwritten
    without `force`; every path is checked before any work.
    """
    cfg = get_preset(preset)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    names = ["original", "resynth", "resynth_modes_only", *EDITS]
    paths = {name: out / f"{name}.wav" for name in names}
    paths.update(
        params=out / "params.npz", plot=out / "analysis.png", summary=out / "audio_summary.json"
    )
    for path in paths.values():
        check_output_path(path, force=force)

    wave = struck_bar(cfg.sample_rate, cfg.duration_s)
    params = analyze(wave, cfg.sample_rate, preset=cfg, residual=True)
    peak = float(np.abs(wave).max())
    sounds = {
        "original": wave,
        "resynth": resynthesize(params) * peak,
        "resynth_modes_only": resynthesize(params, residual=False) * peak,
    }
    for name, edit in EDITS.items():
        sounds[name] = resynthesize(params.scaled(**edit), level_from=params) * peak
    for name, sound in sounds.items():
        write_audio(paths[name], np.clip(sound, -1, 1), cfg.sample_rate, force=force)
    params.save(paths["params"], force=force)
    plot_modal_analysis(wave, params, cfg, paths["plot"], title="built-in struck bar", force=force)

    target = torch.from_numpy(wave / peak)[None]

    def distance(sound: np.ndarray) -> float:
        return float(mrstft_loss(torch.from_numpy(sound / np.abs(sound).max())[None], target))

    summary = {
        "preset": cfg.name,
        "files": {k: str(v) for k, v in paths.items()},
        "strongest_modes": params.modes_table(5, peaks_only=True),
        "edits": EDITS,
        "mrstft_to_original": {
            "resynth": distance(sounds["resynth"]),
            "resynth_modes_only": distance(sounds["resynth_modes_only"]),
        },
    }
    write_text_atomic(paths["summary"], json.dumps(summary, indent=2), force=force)
    return summary
