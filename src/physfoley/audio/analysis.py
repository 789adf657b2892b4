"""Modal analysis of impact sounds: a clip to its physics parameters (Su et al. 2023, sec. 3.1).

Each clip of `[N]` or `[B, N]` samples becomes a `ModalParams`: one damped sinusoid per STFT bin
(K = n_fft//2 + 1 modes: frequency f in Hz, power p in dB relative to the clip's loudest STFT
cell, decay rate lambda in dB/s, eq. 1-4), plus, on request, the residual noise bands of eq. 5-6
fitted by `physfoley.audio.residual.fit_residual`. This module sits at the start of training
(audio clip -> physics parameters) and of editing (analyse, edit, `physfoley.audio.synthesis`).

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

import math

import numpy as np
import torch

from physfoley.audio.params import ModalParams
from physfoley.audio.residual import fit_residual
from physfoley.audio.spectrogram import as_batch, fit_length, peak_normalize, stft
from physfoley.audio.synthesis import modal_synthesis
from physfoley.config import AudioConfig, get_preset
from physfoley.errors import InputError

METHODS = ("default", "reference")
SKIRT_ATTENUATION_DB = 12.0


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
        with torch.no_grad():
            modal_clips = peak_normalize(
                modal_synthesis(
                    torch.as_tensor(np.atleast_2d(params.freq_hz)),
                    torch.as_tensor(np.atleast_2d(params.power_db)),
                    torch.as_tensor(np.atleast_2d(params.decay_db_per_s)),
                    cfg.sample_rate,
                    cfg.num_samples,
                )
            )
        params = fit_residual(
            params,
            x,
            modal_clips,
            num_bands=num_bands or cfg.num_bands,
            steps=residual_steps,
            lr=residual_lr,
            seed=seed,
            device=device,
        )
    if not batched:
        params = params.select(0)
    return params
