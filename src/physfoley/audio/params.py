"""Physics parameters of impact sounds: `ModalParams`, its .npz file format and its exact edits.

An impact sound is described by one damped sinusoid per STFT bin (K = n_fft//2 + 1 modes:
frequency f in Hz, power p in dB relative to the clip's loudest STFT cell, decay rate lambda in
dB/s; Su et al. 2023 eq. 1-4) and optionally M residual noise bands (weight and decay, eq. 5-6).
`physfoley.audio.analysis` measures these parameters from a clip, `physfoley.audio.synthesis`
turns them back into sound, and the learned models read and predict them under the names of
`PHYSICS_KEYS`. This module holds only the parameters: no analysis, no synthesis, no torch.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from physfoley.atomic import atomic_path
from physfoley.errors import InputError

# Per-mode arrays ([K] or [B, K]) and residual-band arrays ([M] or [B, M]) of `ModalParams`,
# under the names that parameter files, prepared datasets, the physics bank and the models'
# inputs use; PHYSICS_KEYS is also the order in which the physics encoder concatenates them.
MODE_KEYS = ("freq_hz", "power_db", "decay_db_per_s")
BAND_KEYS = ("band_weight", "band_decay_db_per_s")
PHYSICS_KEYS = MODE_KEYS + BAND_KEYS

# Power of a mode that an edit removed (high/low-pass, above Nyquist): 10^-15, inaudible but finite.
SILENT_DB = -300.0


@dataclass
class ModalParams:
    """Physics parameters of one clip (arrays [K], [M]) or a batch (arrays [B, K], [B, M]).

    Attributes
    ----------
    freq_hz, power_db, decay_db_per_s : np.ndarray float32 [K] or [B, K]
        One mode per STFT bin, eq. 4: amplitude 10^((p - lambda t)/20), frequency f.
    band_weight, band_decay_db_per_s : np.ndarray float32 [M] or [B, M], or None
        Residual noise bands: weight in [0, 1] (RMS of the band's noise) and decay (dB/s).
    band_edges_hz : np.ndarray float32 [M + 1] or None
        Band edges of the residual (mel-spaced by default; shared by the whole batch).
    sample_rate, num_samples : int
        Rate (Hz) and length (samples) of the resynthesised clip.
    method : str
        Analysis method that produced the modes ("default", "reference" or "edited").
    gain_db : float
        Output gain (dB) applied after peak normalisation in `resynthesize`.
    input_peak : np.ndarray float32 [] or [B]
        Peak amplitude of the analysed clip before normalisation (lets the CLI write at the
        original level).
    residual_seed : int
        Seed of the residual's white noise.
    """

    freq_hz: np.ndarray
    power_db: np.ndarray
    decay_db_per_s: np.ndarray
    sample_rate: int
    num_samples: int
    method: str = "default"
    band_weight: np.ndarray | None = None
    band_decay_db_per_s: np.ndarray | None = None
    band_edges_hz: np.ndarray | None = None
    gain_db: float = 0.0
    input_peak: np.ndarray | float = 1.0
    residual_seed: int = 0

    @property
    def batched(self) -> bool:
        return np.ndim(self.freq_hz) == 2

    @property
    def batch_size(self) -> int:
        return int(np.shape(self.freq_hz)[0]) if self.batched else 1

    @property
    def has_residual(self) -> bool:
        return self.band_weight is not None and self.band_decay_db_per_s is not None

    @property
    def input_level(self) -> float:
        """Peak amplitude of the analysed clip (the first clip of a batch): the factor that puts
        a peak-normalised resynthesis back at the recording's level."""
        return float(np.asarray(self.input_peak).reshape(-1)[0])

    def select(self, i: int) -> ModalParams:
        """The parameters of clip `i` of a batch (unbatched arrays)."""
        if not self.batched:
            raise InputError("select() needs batched parameters")
        return dataclasses.replace(
            self,
            freq_hz=self.freq_hz[i],
            power_db=self.power_db[i],
            decay_db_per_s=self.decay_db_per_s[i],
            band_weight=None if self.band_weight is None else self.band_weight[i],
            band_decay_db_per_s=(
                None if self.band_decay_db_per_s is None else self.band_decay_db_per_s[i]
            ),
            input_peak=np.asarray(self.input_peak)[i]
            if np.ndim(self.input_peak)
            else self.input_peak,
        )

    def scaled(
        self, *, freq_scale: float = 1.0, decay_scale: float = 1.0, gain_db: float = 0.0
    ) -> ModalParams:
        """Exact physics edit: every frequency (and residual band edge) times `freq_scale`,
        every decay rate (modes and bands) times `decay_scale`, output level + `gain_db` dB.

        Modes pushed above Nyquist are silenced (they would alias); residual bands above Nyquist
        are cut at Nyquist keeping their spectral density.
        """
        if not (freq_scale > 0 and math.isfinite(freq_scale)):
            raise InputError(f"frequency scale must be a positive number, got {freq_scale}")
        if not (decay_scale > 0 and math.isfinite(decay_scale)):
            raise InputError(f"decay scale must be a positive number, got {decay_scale}")
        if not math.isfinite(gain_db):
            raise InputError(f"gain must be a finite number of dB, got {gain_db}")
        nyquist = self.sample_rate / 2
        freq = (self.freq_hz * freq_scale).astype(np.float32)
        power = np.where(freq < nyquist, self.power_db, SILENT_DB).astype(np.float32)
        out = dataclasses.replace(
            self,
            freq_hz=freq,
            power_db=power,
            decay_db_per_s=(self.decay_db_per_s * decay_scale).astype(np.float32),
            method="edited",
            gain_db=float(self.gain_db + gain_db),
        )
        if self.has_residual and self.band_edges_hz is not None:
            edges = (np.asarray(self.band_edges_hz, np.float64) * freq_scale).astype(np.float32)
            out = dataclasses.replace(
                out,
                band_edges_hz=edges,
                band_decay_db_per_s=(self.band_decay_db_per_s * decay_scale).astype(np.float32),
            )
            out = out.band_limited(0.0, nyquist)
        return out

    def band_limited(
        self, highpass_hz: float | None = None, lowpass_hz: float | None = None
    ) -> ModalParams:
        """Exact filter edit: silence modes below `highpass_hz` or above `lowpass_hz` and cut the
        residual bands at the same edges (a band cut in part keeps its spectral density)."""
        lo = 0.0 if highpass_hz is None else float(highpass_hz)
        hi = self.sample_rate / 2 if lowpass_hz is None else float(lowpass_hz)
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or hi <= lo:
            raise InputError(
                f"need 0 <= high-pass < low-pass, got high-pass {lo} Hz and low-pass {hi} Hz"
            )
        keep = (self.freq_hz >= lo) & (self.freq_hz <= hi)
        out = dataclasses.replace(
            self,
            power_db=np.where(keep, self.power_db, SILENT_DB).astype(np.float32),
            method="edited",
        )
        if self.has_residual and self.band_edges_hz is not None:
            edges = np.asarray(self.band_edges_hz, np.float64)
            clipped = np.clip(edges, lo, hi)
            width = np.diff(edges)
            kept = np.diff(clipped)
            # Bands are unit-RMS noise over their width: keep the density, so weight ~ sqrt(width).
            frac = np.where(width > 0, kept / np.maximum(width, 1e-12), 0.0)
            out = dataclasses.replace(
                out,
                band_edges_hz=clipped.astype(np.float32),
                band_weight=(self.band_weight * np.sqrt(frac)).astype(np.float32),
            )
        return out

    # ------------------------------------------------------------------ files
    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {
            "freq_hz": np.asarray(self.freq_hz, np.float32),
            "power_db": np.asarray(self.power_db, np.float32),
            "decay_db_per_s": np.asarray(self.decay_db_per_s, np.float32),
            "sample_rate": np.asarray(self.sample_rate, np.int64),
            "num_samples": np.asarray(self.num_samples, np.int64),
            "method": np.asarray(self.method),
            "gain_db": np.asarray(self.gain_db, np.float32),
            "input_peak": np.asarray(self.input_peak, np.float32),
            "residual_seed": np.asarray(self.residual_seed, np.int64),
            "format": np.asarray("physfoley-modal-params-v1"),
        }
        for key in (*BAND_KEYS, "band_edges_hz"):
            value = getattr(self, key)
            if value is not None:
                arrays[key] = np.asarray(value, np.float32)
        return arrays

    def save(self, path: str | os.PathLike, *, force: bool = False) -> Path:
        """Write an .npz (keys of ARCHITECTURE.md) atomically; refuses to overwrite without force."""
        path = Path(path)
        if path.suffix.lower() != ".npz":
            raise InputError(f"parameters file must end in .npz, got {path}")
        with atomic_path(path, force=force) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **self.to_arrays())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> ModalParams:
        """Read an .npz written by `save` (or any npz with at least the three mode arrays)."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path} does not exist")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception as err:
            raise InputError(
                f"{path} is not a readable .npz parameters file ({type(err).__name__})"
            ) from None
        missing = [k for k in (*MODE_KEYS, "sample_rate") if k not in arrays]
        if missing:
            raise InputError(
                f"{path} is not a physfoley parameters file: missing {', '.join(missing)}"
            )
        freq = arrays["freq_hz"].astype(np.float32)
        for key in ("power_db", "decay_db_per_s"):
            if arrays[key].shape != freq.shape:
                raise InputError(
                    f"{path}: {key} has shape {arrays[key].shape}, freq_hz {freq.shape}"
                )
        for key, value in arrays.items():
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise InputError(f"{path}: {key} holds NaN or infinite values")
        sr = int(arrays["sample_rate"])
        if sr <= 0:
            raise InputError(f"{path}: sample_rate must be positive, got {sr}")
        params = cls(
            freq_hz=freq,
            power_db=arrays["power_db"].astype(np.float32),
            decay_db_per_s=arrays["decay_db_per_s"].astype(np.float32),
            sample_rate=sr,
            num_samples=int(arrays.get("num_samples", round(0.25 * sr))),
            method=str(arrays.get("method", "default")),
            band_weight=arrays.get("band_weight"),
            band_decay_db_per_s=arrays.get("band_decay_db_per_s"),
            band_edges_hz=arrays.get("band_edges_hz"),
            gain_db=float(arrays.get("gain_db", 0.0)),
            input_peak=arrays.get("input_peak", np.float32(1.0)),
            residual_seed=int(arrays.get("residual_seed", 0)),
        )
        if params.num_samples <= 0:
            raise InputError(f"{path}: num_samples must be positive")
        if params.has_residual and params.band_edges_hz is None:
            raise InputError(f"{path}: residual bands without band_edges_hz")
        return params

    def peak_mask(self) -> np.ndarray:
        """bool [K] or [B, K]: modes at least as strong as both neighbouring bins (a mode's own
        bin rather than the skirt of a neighbour's)."""
        power = np.asarray(self.power_db)
        pad = np.pad(power, [(0, 0)] * (power.ndim - 1) + [(1, 1)], constant_values=-np.inf)
        return (power >= pad[..., :-2]) & (power >= pad[..., 2:]) & (power > SILENT_DB + 1)

    def modes_table(
        self, top: int | None = None, *, peaks_only: bool = False
    ) -> list[dict[str, Any]]:
        """Modes of one clip as dicts (freq_hz, power_db, decay_db_per_s, bin, peak), strongest
        first; silenced modes left out, skirt bins too with `peaks_only`."""
        if self.batched:
            raise InputError("modes_table() needs one clip; use select(i) first")
        peak = self.peak_mask()
        order = np.argsort(-self.power_db, kind="stable")
        keep = (self.power_db[order] > SILENT_DB + 1) & (peak[order] | (not peaks_only))
        order = order[keep]
        if top is not None:
            order = order[:top]
        return [
            {
                "freq_hz": float(self.freq_hz[i]),
                "power_db": float(self.power_db[i]),
                "decay_db_per_s": float(self.decay_db_per_s[i]),
                "bin": int(i),
                "peak": bool(peak[i]),
            }
            for i in order
        ]


def params_to_dict(
    params: ModalParams, top: int | None = None, *, peaks_only: bool = False
) -> dict[str, Any]:
    """JSON-ready summary of one clip's parameters (modes strongest first)."""
    doc: dict[str, Any] = {
        "sample_rate": params.sample_rate,
        "num_samples": params.num_samples,
        "method": params.method,
        "num_modes": int(np.size(params.freq_hz)),
        "modes": params.modes_table(top, peaks_only=peaks_only),
    }
    if params.has_residual:
        doc["residual"] = {
            "band_edges_hz": [float(v) for v in params.band_edges_hz],
            "band_weight": [float(v) for v in params.band_weight],
            "band_decay_db_per_s": [float(v) for v in params.band_decay_db_per_s],
        }
    return doc


def analysis_json(
    params: ModalParams,
    source: str | os.PathLike,
    preset: str,
    onset_s: float | None,
    top: int | None = None,
) -> dict[str, Any]:
    """The JSON form of one recording's analysis (`physfoley analyze --json`, the web app's
    /analyze): `params_to_dict` (all modes, or the `top` strongest peaks) plus the recording
    `source`, the analysis `preset` name and `onset_s`, where the analysed window starts in the
    recording (None: the recording was analysed whole)."""
    doc = params_to_dict(params, top, peaks_only=top is not None)
    doc.update(source=str(source), preset=preset, onset_s=onset_s)
    return doc


def modes_summary(params: ModalParams, top: int = 10) -> str:
    """Text table of one clip's `top` strongest spectral peaks: frequency, power, decay."""
    lines = [f"{'freq (Hz)':>10} {'power (dB)':>11} {'decay (dB/s)':>13}"]
    for mode in params.modes_table(top, peaks_only=True):
        lines.append(
            f"{mode['freq_hz']:10.1f} {mode['power_db']:11.1f} {mode['decay_db_per_s']:13.1f}"
        )
    return "\n".join(lines)
