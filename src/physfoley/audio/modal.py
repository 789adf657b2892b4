"""Modal analysis and synthesis of impact sounds (Su et al. 2023, section 3.1, eq. 1-4).

An impact sound is a sum of damped sinusoids, one per STFT bin (K = n_fft//2 + 1 modes):
`q(t) = sum_k 10^((p_k - lambda_k t)/20) sin(2 pi f_k t)` with frequency f (Hz), power p (dB,
relative to the clip's loudest STFT cell) and decay rate lambda (dB/s), plus an optional residual
of decaying filtered noise (eq. 5-6, `physfoley.audio.residual`). This module sits at the start of
training (audio clip -> physics parameters) and at the end of editing (parameters -> sound).

Two analysis methods, both batched over clips and modes with no Python loop over either:

- `reference`: the public code's conventions (REFERENCE_NOTES.md) with its frequency-axis bug
  fixed: frequency = peak of the clip's full-length FFT within half a bin of the bin centre,
  power = dB of frame 0, decay = 60 / (time of the first frame at the -80 dB floor).
- `default`: built to reconstruct real recordings. Frequency from a zero-padded FFT (>= 4x) with
  log-parabolic peak interpolation (sub-0.1-bin accuracy); decay and power from a least-squares
  line through each bin's whole dB envelope, from the first frame whose window lies inside the
  clip until the envelope reaches that bin's own noise floor (masked regression over all bins at
  once); power is the line's value at t = 0 with the Hann scalloping loss put back. Bins whose
  FFT has no true peak of its own (only the skirt of a neighbour's mode) are silenced, so that a
  strong mode is not synthesised three times.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physfoley.atomic import atomic_path
from physfoley.audio.spectrogram import as_batch, fit_length, peak_normalize, stft
from physfoley.config import AudioConfig, get_preset
from physfoley.errors import InputError

# Power of a mode that an edit removed (high/low-pass, above Nyquist): 10^-15, inaudible but finite.
SILENT_DB = -300.0
METHODS = ("default", "reference")
SKIRT_ATTENUATION_DB = 12.0


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
        for key in ("band_weight", "band_decay_db_per_s", "band_edges_hz"):
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
        missing = [
            k for k in ("freq_hz", "power_db", "decay_db_per_s", "sample_rate") if k not in arrays
        ]
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


# ---------------------------------------------------------------------- analysis
def prepare_clips(
    wave: np.ndarray | torch.Tensor, cfg: AudioConfig
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Validate, crop/pad and peak-normalise: `[N]` or `[B, N]` -> (Tensor[B, num_samples], peak[B], batched)."""
    x, batched = as_batch(wave)
    if x.shape[-1] == 0:
        raise InputError("empty waveform: nothing to analyse")
    if not torch.isfinite(x).all():
        raise InputError("waveform contains NaN or infinite samples")
    x = fit_length(x, cfg.num_samples)
    peak = x.abs().amax(dim=-1)
    if not bool((peak > 0).all()):
        bad = int(torch.nonzero(peak <= 0)[0, 0])
        raise InputError(
            f"clip {bad} is silent within the first {cfg.num_samples} samples; nothing to analyse"
        )
    return peak_normalize(x), peak, batched


def _db_spectrogram(spec: torch.Tensor, top_db: float) -> torch.Tensor:
    """librosa.amplitude_to_db(|spec|, ref=max, top_db) per clip: complex `[B, F, T]` -> dB in
    [-top_db, 0] (from re^2 + im^2: no complex abs)."""
    db = 10.0 * torch.log10(torch.view_as_real(spec).square().sum(-1).clamp_min(1e-10))
    db = db - db.flatten(1).amax(dim=1)[:, None, None]
    return db.clamp_min(-top_db)


def _reference_modes(
    x: torch.Tensor, db: torch.Tensor, cfg: AudioConfig
) -> tuple[torch.Tensor, ...]:
    """The public code's estimates, vectorised; frequency axis fixed (rfftfreq, not linspace)."""
    sr, n_fft, hop = cfg.sample_rate, cfg.n_fft, cfg.hop_length
    n = x.shape[-1]
    spectrum_db = (
        20.0 * torch.log10(torch.fft.rfft(x.double(), dim=-1).abs().clamp_min(1e-12)).float()
    )
    fft_freq = torch.fft.rfftfreq(n, d=1.0 / sr, dtype=torch.float64)
    bin_hz = torch.arange(cfg.num_freqs, dtype=torch.float64) * sr / n_fft
    half = sr / n_fft / 2
    # FFT bins within +-half a bin of each STFT bin centre: [F, W] index table, masked at the ends.
    start = torch.searchsorted(fft_freq, bin_hz - half - 1e-9)
    width = int(math.ceil(2 * half / (sr / n))) + 2
    idx = start[:, None] + torch.arange(width)[None, :]
    valid = idx < fft_freq.numel()
    idx = idx.clamp(max=fft_freq.numel() - 1)
    valid &= (fft_freq[idx] - bin_hz[:, None]).abs() <= half + 1e-9
    cand = spectrum_db[:, idx].masked_fill(~valid, -torch.inf)  # [B, F, W]
    best_db, best = cand.max(dim=-1)
    best_idx = idx[None].expand(x.shape[0], -1, -1).gather(-1, best[..., None])[..., 0]
    freq = torch.where(best_db > 0, fft_freq[best_idx].float(), bin_hz.float())
    power = db[:, :, 0]
    floor = -cfg.top_db
    at_floor = db <= floor + 1e-6
    frames = db.shape[-1]
    first = torch.where(
        at_floor.any(-1), at_floor.float().argmax(-1).float(), torch.full_like(power, float(frames))
    )
    first = torch.where(first == 0, torch.full_like(first, 0.5), first)
    t60 = first * hop / sr
    decay = 60.0 / t60
    return freq, power, decay


def _interpolated_peaks(
    x: torch.Tensor, cfg: AudioConfig, zero_pad: int = 4
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sub-bin mode frequencies from a zero-padded FFT with log-parabolic interpolation.

    Returns freq_hz [B, F], offset_bins [B, F] (distance from the STFT bin centre in STFT bins,
    for the scalloping correction) and has_peak [B, F] (the bin holds a true spectral peak, not
    just the skirt of a neighbour's).
    """
    sr, n_fft = cfg.sample_rate, cfg.n_fft
    n_fine = 1 << int(math.ceil(math.log2(zero_pad * x.shape[-1])))
    spectrum = torch.view_as_real(torch.fft.rfft(x, n=n_fine, dim=-1))
    log_mag = 0.5 * torch.log(spectrum.square().sum(-1) + 1e-18)  # [B, n_fine/2+1], no hypot
    fine_per_bin = n_fine / n_fft  # fine FFT bins per STFT bin
    half = int(math.floor(fine_per_bin / 2))
    centre = torch.round(torch.arange(cfg.num_freqs) * fine_per_bin).long()
    offsets = torch.arange(-half, half + 1)
    idx = (centre[:, None] + offsets[None, :]).clamp(1, log_mag.shape[-1] - 2)  # [F, W]
    cand = log_mag[:, idx]  # [B, F, W]
    best = cand.argmax(dim=-1)  # [B, F]
    j = idx[torch.arange(idx.shape[0])[None, :], best]  # global fine index [B, F]
    a = log_mag.gather(1, j - 1)
    b = log_mag.gather(1, j)
    c = log_mag.gather(1, j + 1)
    denom = a - 2 * b + c
    delta = torch.where(denom < 0, 0.5 * (a - c) / denom.clamp(max=-1e-12), torch.zeros_like(b))
    delta = delta.clamp(-0.5, 0.5)
    has_peak = (b >= a) & (b >= c) & (best > 0) & (best < offsets.numel() - 1)
    freq = (j.float() + delta) * sr / n_fine
    nyquist = sr / 2
    freq = freq.clamp(0.0, nyquist)
    offset_bins = freq * n_fft / sr - torch.arange(cfg.num_freqs)[None, :]
    return freq, offset_bins, has_peak


def _spectral_peaks(db: torch.Tensor) -> torch.Tensor:
    """[B, F] bool: the bin's energy over the clip is at least its neighbours' (a mode's own
    bin, not the -6 dB skirt a Hann window spreads into the bins beside it)."""
    energy = torch.pow(10.0, db / 10.0).sum(-1)
    padded = torch.nn.functional.pad(energy, (1, 1), value=0.0)
    return (energy >= padded[:, :-2]) & (energy >= padded[:, 2:])


def _frame0_loss_db(decay_db_per_s: torch.Tensor, cfg: AudioConfig) -> torch.Tensor:
    """How much quieter (dB) centred frame 0 reads a mode of this decay than its amplitude at
    t = 0: frame 0 sees only the clip's first half-window, weighted by the decay.

    With r = exp(-alpha) per sample and the periodic Hann window's right half
    0.5 (1 + cos(2 pi n / n_fft)), n < M = n_fft / 2, the weight is a closed-form geometric sum
    (e^(i pi) = -1 makes the cosine part (1 + r^M) / (1 - r e^(i 2 pi / n_fft))).
    """
    m = cfg.n_fft // 2
    alpha = (decay_db_per_s.double() * (math.log(10.0) / 20.0) / cfg.sample_rate).clamp_min(1e-12)
    r = torch.exp(-alpha)
    r_m = torch.exp(-alpha * m)
    flat = torch.expm1(-alpha * m) / torch.expm1(-alpha)  # sum of r^n, n < M
    omega = 2 * math.pi / cfg.n_fft
    denom = torch.complex(1.0 - r * math.cos(omega), -r * math.sin(omega))
    cosine = ((1.0 + r_m) / denom).real
    seen = 0.5 * (flat + cosine) / (m / 2.0)  # a full frame of an undecayed mode reads M / 2
    return (-20.0 * torch.log10(seen.clamp_min(1e-12))).float()


def _hann_scallop_db(offset_bins: torch.Tensor) -> torch.Tensor:
    """Loss (dB, >= 0) of a Hann-windowed STFT bin for a sinusoid `offset_bins` from its centre."""
    d = offset_bins.abs().clamp(max=0.999)
    # |W(d)| / |W(0)| of the Hann window: sinc(d) / (1 - d^2).
    gain = torch.sinc(d) / (1.0 - d**2)
    return -20.0 * torch.log10(gain.clamp_min(1e-6))


def _fitted_envelopes(
    db: torch.Tensor, cfg: AudioConfig, tail_frames: int = 8, margin_db: float = 0.0
):
    """Least-squares line through each bin's dB envelope, all bins and clips at once.

    Frames used: from the first frame whose window lies wholly inside the clip, until the
    envelope first comes within `margin_db` of the bin's tail level (mean of its last
    `tail_frames` frames: the noise floor for a mode that died, the mode itself for one that
    did not). Returns (power_db at t = 0, decay_db_per_s) as [B, F].
    """
    sr, hop = cfg.sample_rate, cfg.hop_length
    frames = db.shape[-1]
    t = torch.arange(frames, dtype=torch.float32) * hop / sr
    first_full = min(int(math.ceil(cfg.n_fft / 2 / hop)), frames - 2)
    tail = db[..., -tail_frames:].mean(-1, keepdim=True)
    above = db > tail + margin_db
    above[..., :first_full] = True
    # Contiguous run from the start: stop at the first frame that fell to the floor.
    run = torch.cumprod(above.to(torch.uint8), dim=-1).bool()
    run[..., :first_full] = False
    mask = run.float()
    n = mask.sum(-1)
    sx = (mask * t).sum(-1)
    sy = (mask * db).sum(-1)
    sxx = (mask * t * t).sum(-1)
    sxy = (mask * t * db).sum(-1)
    det = n * sxx - sx * sx
    ok = (n >= 2) & (det > 1e-12)
    slope = torch.where(ok, (n * sxy - sx * sy) / det.clamp_min(1e-12), torch.zeros_like(n))
    intercept = torch.where(ok, (sy - slope * sx) / n.clamp_min(1), db[..., first_full])
    # Bins with fewer than two usable frames died before the first full frame: read the drop
    # from that frame to the floor.
    max_decay = 60.0 / (0.5 * hop / sr)
    # A bin that stays at its floor is kept steady there: in a recording that is the noise bed
    # (and the residual fit refines it); a bin at the -80 dB floor is inaudible either way.
    fallback = (db[..., first_full] - tail[..., 0]).clamp_min(0) / (t[first_full] + 0.5 * hop / sr)
    decay = torch.where(ok, -slope, fallback).clamp(0.0, max_decay)
    power = torch.where(ok, intercept, db[..., first_full] + decay * t[first_full])
    return power, decay


def analyze(
    wave: np.ndarray | torch.Tensor,
    sample_rate: int,
    *,
    preset: str | AudioConfig = "paper",
    method: str = "default",
    residual: bool = False,
    residual_steps: int = 60,
    residual_lr: float = 0.1,
    num_bands: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> ModalParams:
    """Modal parameters of one clip `[N]` or a batch `[B, N]` (eq. 1-4 of Su et al.).

    Parameters
    ----------
    wave : np.ndarray or Tensor, [N] or [B, N], at `sample_rate`; each clip is peak-normalised
        and zero-padded or cropped to the preset's length (0.25 s).
    sample_rate : Hz; must equal the preset's rate (resample first, e.g. `load_audio(path, sr)`).
    preset : "paper", "small" or an `AudioConfig`.
    method : "default" (best reconstruction) or "reference" (the public code's conventions).
    residual : also fit the residual noise bands (eq. 5-6) by gradient descent on a
        multi-resolution STFT loss of modal + residual against the clip.
    residual_steps, residual_lr : Adam steps and learning rate of that fit.
    num_bands : residual bands (default: the preset's).
    seed : seed of the residual's white noise.
    device : where the residual fit runs.

    Returns
    -------
    ModalParams with arrays [K] (or [B, K] for a batch), K = n_fft // 2 + 1.
    """
    cfg = get_preset(preset)
    if method not in METHODS:
        raise InputError(f"unknown analysis method {method!r}; choose one of {', '.join(METHODS)}")
    if int(sample_rate) != cfg.sample_rate:
        raise InputError(
            f"audio at {sample_rate} Hz but preset {cfg.name!r} wants {cfg.sample_rate} Hz; "
            "resample first (load_audio(path, sample_rate))"
        )
    with torch.no_grad():
        x, peak, batched = prepare_clips(wave, cfg)
        db = _db_spectrogram(stft(x, cfg), cfg.top_db)
        if method == "reference":
            freq, power, decay = _reference_modes(x, db, cfg)
        else:
            freq, offset, _ = _interpolated_peaks(x, cfg)
            _, decay = _fitted_envelopes(db, cfg)
            power = db[..., 0] + _frame0_loss_db(decay, cfg) + _hann_scallop_db(offset)
            # A bin quieter than a neighbour mostly holds that neighbour's Hann skirt: keep it
            # (it carries noise a real recording has) but 12 dB down, so a strong mode is not
            # synthesised three times over.
            power = torch.where(_spectral_peaks(db), power, power - SKIRT_ATTENUATION_DB)
    params = ModalParams(
        freq_hz=freq.float().numpy(),
        power_db=power.float().numpy(),
        decay_db_per_s=decay.float().numpy(),
        sample_rate=cfg.sample_rate,
        num_samples=cfg.num_samples,
        method=method,
        input_peak=peak.numpy().astype(np.float32),
        residual_seed=seed,
    )
    if residual:
        from physfoley.audio.residual import fit_residual

        params = fit_residual(
            params,
            x,
            num_bands=num_bands or cfg.num_bands,
            steps=residual_steps,
            lr=residual_lr,
            seed=seed,
            device=device,
        )
    if not batched:
        params = params.select(0)
    return params


# --------------------------------------------------------------------- synthesis
def modal_synthesis(
    freq_hz: torch.Tensor,
    power_db: torch.Tensor,
    decay_db_per_s: torch.Tensor,
    sample_rate: int,
    num_samples: int,
    *,
    phase: str = "sine",
) -> torch.Tensor:
    """Eq. 4 for a batch: `[B, K]` parameters -> `Tensor[B, num_samples]` (not normalised).

    Written as a blocked matrix product rather than B*K*N sines: with n = a L + b,
    `z^n = z^(aL) z^b` for z = exp((-alpha + i omega)/sr), so each clip is one complex
    [N/L, K] x [K, L] product (two real float32 GEMMs), with the block phases taken modulo
    one cycle in float64 so that long clips keep their phase accuracy.
    """
    if phase not in ("sine", "cosine"):
        raise InputError(f"unknown phase {phase!r}; use 'sine' or 'cosine'")
    block = max(1, int(math.ceil(math.sqrt(num_samples))))
    blocks = int(math.ceil(num_samples / block))
    a = torch.arange(blocks, dtype=torch.float32)  # block index
    b = torch.arange(block, dtype=torch.float32)  # sample within a block
    cycles = freq_hz.double() / sample_rate  # [B, K] cycles per sample
    # Phase advance per block, modulo one cycle in float64; a * frac < blocks cycles is then
    # exact enough in float32 (error ~ blocks * 6e-8 cycles).
    per_block = torch.remainder(cycles * block, 1.0).float()
    offset = 0.25 if phase == "cosine" else 0.0  # sin(x + pi/2) = cos(x)
    ph_a = (2 * math.pi) * torch.remainder(per_block[..., None] * a + offset, 1.0)  # [B, K, A]
    ph_b = (2 * math.pi) * (cycles.float()[..., None] * b)  # [B, K, L], < 2 pi L
    alpha = decay_db_per_s.float() * (math.log(10.0) / 20.0) / sample_rate  # nepers per sample
    log_amp = power_db.float() * (math.log(10.0) / 20.0)
    env_a = torch.exp(log_amp[..., None] - alpha[..., None] * (a * block))  # [B, K, A]
    env_b = torch.exp(-alpha[..., None] * b)  # [B, K, L]
    # Im(P Q) = Re P Im Q + Im P Re Q, as two [A, K] x [K, L] products per clip.
    out = torch.bmm((env_a * torch.cos(ph_a)).transpose(1, 2), env_b * torch.sin(ph_b))
    out = out.baddbmm_((env_a * torch.sin(ph_a)).transpose(1, 2), env_b * torch.cos(ph_b))
    return out.reshape(out.shape[0], -1)[:, :num_samples]


def _synthesis_parts(
    params: ModalParams, residual: bool, phase: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(modes [B, N], residual [B, N] or None), neither normalised."""
    as_t = lambda v: torch.as_tensor(np.atleast_2d(np.asarray(v, np.float32)))  # noqa: E731
    modes = modal_synthesis(
        as_t(params.freq_hz),
        as_t(params.power_db),
        as_t(params.decay_db_per_s),
        params.sample_rate,
        params.num_samples,
        phase=phase,
    )
    if not (residual and params.has_residual):
        return modes, None
    from physfoley.audio.residual import ResidualSynth

    synth = ResidualSynth(
        sample_rate=params.sample_rate,
        num_samples=params.num_samples,
        band_edges_hz=np.asarray(params.band_edges_hz),
        seed=params.residual_seed,
    )
    return modes, synth(as_t(params.band_weight), as_t(params.band_decay_db_per_s))


def resynthesize(
    params: ModalParams,
    *,
    residual: bool = True,
    normalize: bool = True,
    phase: str = "sine",
    level_from: ModalParams | None = None,
) -> np.ndarray:
    """Waveform of eq. 4 (+ the residual of eq. 5-6 when present and `residual`).

    Returns np.ndarray float32 [N] (or [B, N] for batched params). With `normalize`, the modes
    are peak-normalised, the residual added, the sum peak-normalised again (as the reference
    does), then scaled by `params.gain_db`. `level_from` (the unedited parameters of an edit)
    takes both normalising factors from that sound instead, so an edit keeps every mode's
    amplitude: removing modes makes the sound quieter rather than being normalised away.
    """
    with torch.no_grad():
        modes, noise = _synthesis_parts(params, residual, phase)
        if not normalize:
            wave = modes if noise is None else modes + noise
            out = wave.numpy().astype(np.float32)
            return out if params.batched else out[0]
        ref_modes, ref_noise = (
            (modes, noise) if level_from is None else _synthesis_parts(level_from, residual, phase)
        )
        modal_gain = 1.0 / ref_modes.abs().amax(-1, keepdim=True).clamp_min(1e-12)
        wave = modes * modal_gain
        if noise is not None:
            ref = ref_modes * modal_gain + (ref_noise if ref_noise is not None else 0.0)
            total_gain = 1.0 / ref.abs().amax(-1, keepdim=True).clamp_min(1e-12)
            wave = (wave + noise) * total_gain
        wave = wave * (10.0 ** (params.gain_db / 20.0))
    out = wave.numpy().astype(np.float32)
    return out if params.batched else out[0]


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


# ------------------------------------------------------------------ clip cutting
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
