"""Residual of an impact sound: decaying band-filtered noise (Su et al. eq. 5-6).

What the modes do not explain (the click of contact, rattle, room noise) is modelled as one
fixed, seeded white-noise signal split into M mel-spaced bands, each with a weight w in [0, 1]
and a decay gamma in dB/s: `r(t) = sum_m w_m band_m(t) 10^(-gamma_m t / 20)`. The bands are cut
once with exact FFT masks (they sum back to the noise) and each is scaled to unit expected RMS,
so w is the band's RMS amplitude. `ResidualSynth` is a differentiable torch module: the residual
network of a later stage predicts (w, gamma), `fit_residual` fits them to one clip by
analysis-by-synthesis (Adam on auraloss's multi-resolution STFT loss) for
`physfoley.audio.analysis`, and `physfoley.audio.synthesis` adds them to the modes.
"""

from __future__ import annotations

import dataclasses
import math

import librosa
import numpy as np
import torch
from torch import nn

from physfoley.audio.losses import mrstft_magnitudes, mrstft_per_clip
from physfoley.audio.params import ModalParams
from physfoley.audio.spectrogram import peak_normalize
from physfoley.config import AudioConfig, get_preset
from physfoley.errors import InputError

# Range of the fitted band decays (dB/s): from nearly steady noise to a 0.6 ms click.
MIN_DECAY_DB_PER_S = 1.0
MAX_DECAY_DB_PER_S = 1e5


def mel_band_edges(sample_rate: int, num_bands: int) -> np.ndarray:
    """`num_bands + 1` mel-spaced (HTK) band edges from 0 Hz to Nyquist, float32 [M + 1]."""
    if num_bands < 1:
        raise InputError(f"need at least one residual band, got {num_bands}")
    return librosa.mel_frequencies(num_bands + 1, fmin=0.0, fmax=sample_rate / 2, htk=True).astype(
        np.float32
    )


def band_noise(
    sample_rate: int, num_samples: int, band_edges_hz: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Seeded white noise split into bands by FFT masks: float32 [M, num_samples].

    Band m holds the noise's spectrum in [edge_m, edge_m+1) (the last band includes Nyquist),
    scaled to unit expected RMS; a band of zero width is silent.
    """
    edges = np.asarray(band_edges_hz, np.float64)
    noise = np.random.default_rng(seed).standard_normal(num_samples)
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(num_samples, 1.0 / sample_rate)
    lo, hi = edges[:-1, None], edges[1:, None]
    masks = (freqs[None] >= lo) & (freqs[None] < hi)
    masks[-1] |= (freqs == freqs[-1]) & (freqs[-1] >= lo[-1, 0]) & (freqs[-1] <= hi[-1, 0])
    masks &= hi > lo
    bands = np.fft.irfft(spectrum[None] * masks, n=num_samples, axis=-1)
    width = np.maximum(np.diff(edges), 0.0) / (sample_rate / 2)
    scale = np.where(width > 0, 1.0 / np.sqrt(np.maximum(width, 1e-12)), 0.0)
    return (bands * scale[:, None]).astype(np.float32)


class ResidualSynth(nn.Module):
    """Differentiable residual synthesiser.

    Parameters
    ----------
    cfg : preset name or `AudioConfig` (sample rate, clip length, default band count).
    num_bands : M (default `cfg.num_bands`); ignored when `band_edges_hz` is given.
    seed : seed of the white noise.
    band_edges_hz : explicit edges [M + 1] (e.g. an edited parameter file's).
    sample_rate, num_samples : override the preset's.
    """

    def __init__(
        self,
        cfg: AudioConfig | str = "paper",
        num_bands: int | None = None,
        seed: int = 0,
        *,
        band_edges_hz: np.ndarray | None = None,
        sample_rate: int | None = None,
        num_samples: int | None = None,
    ) -> None:
        super().__init__()
        cfg = get_preset(cfg)
        self.sample_rate = int(sample_rate or cfg.sample_rate)
        self.num_samples = int(num_samples or cfg.num_samples)
        if band_edges_hz is None:
            band_edges_hz = mel_band_edges(self.sample_rate, num_bands or cfg.num_bands)
        edges = np.asarray(band_edges_hz, np.float32)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) < 0):
            raise InputError("band edges must be an increasing list of at least two frequencies")
        self.seed = seed
        self.register_buffer("band_edges_hz", torch.from_numpy(edges))
        bands = torch.from_numpy(band_noise(self.sample_rate, self.num_samples, edges, seed))
        self.register_buffer("bands", bands)  # [M, N]
        # Envelope factorised over n = a L + l: exp(-r n) = exp(-r a L) exp(-r l), so only
        # M (A + L) exponentials per clip instead of M N (and a cheaper backward pass).
        block = max(1, int(math.ceil(math.sqrt(self.num_samples))))
        blocks = int(math.ceil(self.num_samples / block))
        padded = torch.nn.functional.pad(bands, (0, block * blocks - self.num_samples))
        self.register_buffer("bands_blocked", padded.reshape(bands.shape[0], blocks, block))
        self.register_buffer(
            "block_start_s", torch.arange(blocks, dtype=torch.float32) * block / self.sample_rate
        )
        self.register_buffer(
            "block_offset_s", torch.arange(block, dtype=torch.float32) / self.sample_rate
        )

    @property
    def num_bands(self) -> int:
        return int(self.bands.shape[0])

    def forward(self, band_weight: torch.Tensor, band_decay_db_per_s: torch.Tensor) -> torch.Tensor:
        """`band_weight: Tensor[B, M]` in [0, 1], `band_decay_db_per_s: Tensor[B, M]` -> `Tensor[B, N]`."""
        if (
            band_weight.shape[-1] != self.num_bands
            or band_decay_db_per_s.shape != band_weight.shape
        ):
            raise InputError(
                f"residual expects weights and decays [B, {self.num_bands}], got "
                f"{tuple(band_weight.shape)} and {tuple(band_decay_db_per_s.shape)}"
            )
        rate = band_decay_db_per_s * (math.log(10.0) / 20.0)  # nepers per second
        coarse = band_weight[..., None] * torch.exp(
            -rate[..., None] * self.block_start_s
        )  # [B,M,A]
        fine = torch.exp(-rate[..., None] * self.block_offset_s)  # [B, M, L]
        out = (coarse[..., None] * fine[:, :, None, :] * self.bands_blocked).sum(1)  # [B, A, L]
        return out.reshape(out.shape[0], -1)[:, : self.num_samples]


def _decay_from_logit(v: torch.Tensor) -> torch.Tensor:
    lo, hi = math.log(MIN_DECAY_DB_PER_S), math.log(MAX_DECAY_DB_PER_S)
    return torch.exp(lo + (hi - lo) * torch.sigmoid(v))


def _logit_from_decay(decay: torch.Tensor) -> torch.Tensor:
    lo, hi = math.log(MIN_DECAY_DB_PER_S), math.log(MAX_DECAY_DB_PER_S)
    u = ((torch.log(decay) - lo) / (hi - lo)).clamp(1e-4, 1 - 1e-4)
    return torch.log(u) - torch.log1p(-u)


def initial_bands(
    synth: ResidualSynth,
    target: torch.Tensor,
    modal: torch.Tensor,
    n_fft: int = 1024,
    hop: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form start for the residual fit: (band_weight [B, M], band_decay_db_per_s [B, M]).

    The power the modes leave unexplained, `max(|X|^2 - |modal|^2, 0)` per STFT cell, is pooled
    per band, divided by the power of that band's unit noise, and a line is fitted (least
    squares, all bands at once) to its dB envelope over time: intercept -> weight, slope -> decay.
    """
    window = torch.hann_window(n_fft, device=target.device)

    def power(x: torch.Tensor) -> torch.Tensor:
        return torch.stft(x, n_fft, hop, window=window, return_complex=True).abs().square()

    unexplained = (power(target) - power(modal)).clamp_min(0.0)  # [B, F, T]
    freqs = torch.linspace(0, synth.sample_rate / 2, n_fft // 2 + 1, device=target.device)
    edges = synth.band_edges_hz
    member = (freqs[None] >= edges[:-1, None]) & (freqs[None] < edges[1:, None])  # [M, F]
    # Bands narrower than a bin borrow the bin nearest their centre.
    centre = 0.5 * (edges[:-1] + edges[1:])
    nearest = torch.argmin((freqs[None] - centre[:, None]).abs(), dim=1)
    member[torch.arange(member.shape[0]), nearest] |= ~member.any(1)
    pool = member.float() / member.float().sum(1, keepdim=True)
    band_power = torch.einsum("mf,bft->bmt", pool, unexplained)
    unit_power = (pool * power(synth.bands).mean(-1)).sum(1).clamp_min(1e-12)  # [M]
    ratio_db = 10.0 * torch.log10(band_power / unit_power[:, None] + 1e-12)
    t = (
        torch.arange(ratio_db.shape[-1], device=target.device, dtype=torch.float32)
        * hop
        / synth.sample_rate
    )
    mask = (band_power > 1e-10).float()
    mask[..., :2] = 0.0  # frames that overlap the zero padding before the clip
    mask[..., -2:] = 0.0
    n = mask.sum(-1).clamp_min(1.0)
    sx, sy = (mask * t).sum(-1), (mask * ratio_db).sum(-1)
    sxx, sxy = (mask * t * t).sum(-1), (mask * t * ratio_db).sum(-1)
    det = (n * sxx - sx * sx).clamp_min(1e-9)
    slope = torch.where(n >= 2, (n * sxy - sx * sy) / det, torch.zeros_like(n))
    intercept = (sy - slope * sx) / n
    weight = torch.pow(10.0, intercept / 20.0).clamp(1e-4, 0.99)
    weight = torch.where(mask.sum(-1) > 0, weight, torch.full_like(weight, 1e-4))
    decay = (-slope).clamp(MIN_DECAY_DB_PER_S * 1.01, MAX_DECAY_DB_PER_S * 0.99)
    return weight, decay


def fit_residual(
    params: ModalParams,
    clips: torch.Tensor,
    modal_clips: torch.Tensor,
    *,
    num_bands: int = 100,
    steps: int = 60,
    lr: float = 0.1,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> ModalParams:
    """Fit residual bands to each clip by analysis-by-synthesis; returns a copy of `params`.

    Parameters
    ----------
    params : batched `ModalParams` [B, K] of `clips`.
    clips : Tensor[B, N], the peak-normalised clips the modes were analysed from.
    modal_clips : Tensor[B, N], the peak-normalised sound of the modes of `params`
        (`modal_synthesis`): the part the residual completes.
    steps, lr : Adam steps and learning rate on (logit w, logit of log gamma), all clips at once,
        starting from `initial_bands`; the best step of each clip is kept.

    The prediction is the resynthesis exactly as `resynthesize` builds it (peak-normalised modes
    plus residual, peak-normalised); the loss is auraloss's multi-resolution STFT loss per clip.
    """
    sr, n = params.sample_rate, params.num_samples
    synth = ResidualSynth(
        sample_rate=sr, num_samples=n, band_edges_hz=mel_band_edges(sr, num_bands), seed=seed
    ).to(device)
    target = clips.to(device).float()
    with torch.no_grad():
        modal = modal_clips.to(device)
        target_mags = mrstft_magnitudes(target)
        weight0, decay0 = initial_bands(synth, target, modal)
    weight_logit = torch.logit(weight0).clone().requires_grad_(True)
    decay_logit = _logit_from_decay(decay0).clone().requires_grad_(True)
    best_loss = torch.full((target.shape[0],), float("inf"), device=device)
    best_weight, best_decay = weight0.clone(), decay0.clone()
    optimizer = torch.optim.Adam([weight_logit, decay_logit], lr=lr)
    for step in range(max(0, steps) + 1):
        optimizer.zero_grad()
        weight, decay = torch.sigmoid(weight_logit), _decay_from_logit(decay_logit)
        pred = peak_normalize(modal + synth(weight, decay))
        loss = mrstft_per_clip(pred, target_mags=target_mags)
        with torch.no_grad():
            better = loss < best_loss
            best_loss = torch.where(better, loss, best_loss)
            best_weight[better] = weight[better]
            best_decay[better] = decay[better]
        if step == steps:
            break
        loss.sum().backward()
        optimizer.step()
    return dataclasses.replace(
        params,
        band_weight=best_weight.detach().cpu().numpy().astype(np.float32),
        band_decay_db_per_s=best_decay.detach().cpu().numpy().astype(np.float32),
        band_edges_hz=synth.band_edges_hz.cpu().numpy(),
        residual_seed=seed,
    )
