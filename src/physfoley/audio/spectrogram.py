"""STFT magnitudes, the normalised log-spectrogram the diffusion model sees, and its vocoder.

Every function is batched over clips (`Tensor[B, N]` in, `Tensor[B, F, T]` out) and follows the
reference settings (REFERENCE_NOTES.md): Hann window, centred frames, zero padding. The
log-spectrogram is `ln(|STFT| + 1e-8)` of the peak-normalised clip mapped linearly from
`[cfg.log_mag_min, cfg.log_mag_max]` to `[-1, 1]`. Griffin-Lim is the fast variant with momentum
(Perraudin et al. 2013), the reference vocoder; torch has no Griffin-Lim without torchaudio, so it
is written here in a few lines on top of `torch.stft`/`torch.istft`.
"""

from __future__ import annotations

import numpy as np
import torch

from physfoley.config import AudioConfig, get_preset
from physfoley.errors import InputError

LOG_EPS = 1e-8


def as_batch(wave: np.ndarray | torch.Tensor, *, dtype=torch.float32) -> tuple[torch.Tensor, bool]:
    """Return (`Tensor[B, N]`, was_batched) for a `[N]` or `[B, N]` array or tensor."""
    x = torch.as_tensor(np.asarray(wave) if not isinstance(wave, torch.Tensor) else wave)
    if x.ndim == 1:
        return x.to(dtype)[None], False
    if x.ndim != 2:
        raise InputError(f"expected a waveform [N] or a batch [B, N], got shape {tuple(x.shape)}")
    return x.to(dtype), True


def peak_normalize(wave: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each clip of `wave: Tensor[B, N]` to peak absolute amplitude 1 (silent clips stay 0)."""
    peak = wave.abs().amax(dim=-1, keepdim=True)
    return wave / peak.clamp_min(eps)


def fit_length(wave: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Zero-pad or crop `wave: Tensor[B, N]` to `Tensor[B, num_samples]`."""
    n = wave.shape[-1]
    if n >= num_samples:
        return wave[..., :num_samples]
    return torch.nn.functional.pad(wave, (0, num_samples - n))


def _window(cfg: AudioConfig, device, dtype=torch.float32) -> torch.Tensor:
    return torch.hann_window(cfg.win_length, periodic=True, device=device, dtype=dtype)


def stft(wave: torch.Tensor, cfg: AudioConfig | str) -> torch.Tensor:
    """Complex STFT, `wave: Tensor[B, N]` -> `Tensor[B, F, T]` (F = n_fft//2+1, centred, zero pad)."""
    cfg = get_preset(cfg)
    return torch.stft(
        wave,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=_window(cfg, wave.device, wave.dtype),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )


def istft(spec: torch.Tensor, cfg: AudioConfig | str, length: int | None = None) -> torch.Tensor:
    """Inverse of `stft`: `spec: Tensor[B, F, T]` complex -> `Tensor[B, length]`."""
    cfg = get_preset(cfg)
    return torch.istft(
        spec,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=_window(cfg, spec.device, spec.real.dtype),
        center=True,
        length=length,
    )


def magnitude(wave: np.ndarray | torch.Tensor, cfg: AudioConfig | str) -> torch.Tensor:
    """|STFT| of `wave: [N] or [B, N]` as `Tensor[B, F, T]` (always batched)."""
    x, _ = as_batch(wave)
    return stft(x, cfg).abs()


def log_spectrogram(
    wave: np.ndarray | torch.Tensor, cfg: AudioConfig | str, *, normalize_peak: bool = True
) -> torch.Tensor:
    """Normalised log-magnitude spectrogram in [-1, 1] (the diffusion model's target).

    Parameters
    ----------
    wave : [N] or [B, N] at `cfg.sample_rate`; padded/cropped to `cfg.num_samples`.
    cfg : preset name or `AudioConfig`.
    normalize_peak : peak-normalise each clip first (the reference does).

    Returns
    -------
    Tensor[B, F, T] float32, `2 (ln(|STFT| + 1e-8) - min) / (max - min) - 1` clamped to [-1, 1].
    """
    cfg = get_preset(cfg)
    x, _ = as_batch(wave)
    x = fit_length(x, cfg.num_samples)
    if normalize_peak:
        x = peak_normalize(x)
    log_mag = torch.log(stft(x, cfg).abs() + LOG_EPS)
    scaled = 2.0 * (log_mag - cfg.log_mag_min) / (cfg.log_mag_max - cfg.log_mag_min) - 1.0
    return scaled.clamp(-1.0, 1.0)


def log_spectrogram_inverse(spec: torch.Tensor, cfg: AudioConfig | str) -> torch.Tensor:
    """Magnitude `Tensor[B, F, T]` (>= 0) from a normalised log-spectrogram `spec: Tensor[B, F, T]`."""
    cfg = get_preset(cfg)
    spec = torch.as_tensor(spec).clamp(-1.0, 1.0)
    log_mag = (spec + 1.0) * 0.5 * (cfg.log_mag_max - cfg.log_mag_min) + cfg.log_mag_min
    return (torch.exp(log_mag) - LOG_EPS).clamp_min(0.0)


def spectral_convergence(
    mag: torch.Tensor, wave: torch.Tensor, cfg: AudioConfig | str
) -> torch.Tensor:
    """`|| |STFT(wave)| - mag ||_F / ||mag||_F` per clip: `mag: [B, F, T]`, `wave: [B, N]` -> `[B]`."""
    rebuilt = stft(wave, cfg).abs()
    t = min(rebuilt.shape[-1], mag.shape[-1])
    diff = (rebuilt[..., :t] - mag[..., :t]).flatten(1).norm(dim=1)
    return diff / mag[..., :t].flatten(1).norm(dim=1).clamp_min(1e-12)


def griffin_lim(
    mag: torch.Tensor,
    cfg: AudioConfig | str,
    n_iter: int = 32,
    momentum: float = 0.99,
    *,
    length: int | None = None,
    init: str = "random",
    seed: int = 0,
) -> torch.Tensor:
    """Fast Griffin-Lim (with momentum): a waveform whose |STFT| matches `mag`.

    Parameters
    ----------
    mag : Tensor[B, F, T] (or [F, T]) non-negative STFT magnitude of the preset's STFT.
    n_iter : iterations (reference: 32).
    momentum : 0.99 as in the reference and librosa; 0 gives plain Griffin-Lim.
    length : output samples (default `cfg.num_samples` when T matches the preset, else
        `(T - 1) * hop`).
    init : "random" (seeded uniform phase, as librosa) or "zeros".

    Returns
    -------
    Tensor[B, length] (or [length] for an unbatched `mag`).
    """
    cfg = get_preset(cfg)
    mag = torch.as_tensor(mag)
    unbatched = mag.ndim == 2
    if unbatched:
        mag = mag[None]
    if mag.ndim != 3 or mag.shape[1] != cfg.num_freqs:
        raise InputError(
            f"griffin_lim expects a magnitude [B, {cfg.num_freqs}, T] for preset {cfg.name}, "
            f"got {tuple(mag.shape)}"
        )
    mag = mag.float()
    if length is None:
        length = (
            cfg.num_samples
            if mag.shape[-1] == cfg.num_frames
            else (mag.shape[-1] - 1) * cfg.hop_length
        )
    if init == "random":
        gen = torch.Generator(device="cpu").manual_seed(seed)
        phase = torch.rand(mag.shape, generator=gen).to(mag.device) * (2 * np.pi)
        angles = torch.polar(torch.ones_like(mag), phase)
    elif init == "zeros":
        angles = torch.ones_like(mag, dtype=torch.complex64)
    else:
        raise InputError(f"unknown Griffin-Lim init {init!r}; use 'random' or 'zeros'")
    # Same update as librosa.griffinlim (fast GL of Perraudin et al.): project on consistent
    # spectrograms, extrapolate with momentum, keep only the phase.
    previous = torch.zeros_like(angles)
    for _ in range(n_iter):
        inverse = istft(mag * angles, cfg, length=length)
        rebuilt = stft(inverse, cfg)
        # sgn(z) = z / |z| in one kernel (0 stays 0), cheaper than abs + divide on complex.
        angles = torch.sgn(rebuilt - previous * (momentum / (1.0 + momentum)))
        previous = rebuilt
    wave = istft(mag * angles, cfg, length=length)
    return wave[0] if unbatched else wave
