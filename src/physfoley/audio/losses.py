"""Spectral losses and distances on waveforms, built on auraloss (Steinmetz & Reiss).

`mrstft_loss` is auraloss's `MultiResolutionSTFTLoss` (default resolutions: FFT 1024/2048/512,
hop 120/240/50, window 600/1200/240; spectral convergence + log-magnitude L1). auraloss computes
the spectral-convergence term over the whole batch, which couples the clips of a batched
per-clip fit; `mrstft_per_clip` is the same formula evaluated clip by clip in one batched pass
(the tests check it equals auraloss for a single clip). It is the residual fit's objective and
the distance docs/results report for resynthesis quality.
"""

from __future__ import annotations

import auraloss
import torch

FFT_SIZES = (1024, 2048, 512)
HOP_SIZES = (120, 240, 50)
WIN_LENGTHS = (600, 1200, 240)


def mrstft_loss(pred: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
    """auraloss `MultiResolutionSTFTLoss(**kwargs)(pred, target)`: a scalar over the batch.

    pred, target : Tensor[B, N] or [B, C, N] waveforms.
    """
    if pred.ndim == 2:
        pred, target = pred[:, None], target[:, None]
    return auraloss.freq.MultiResolutionSTFTLoss(**kwargs).to(pred.device)(pred, target)


def mrstft_magnitudes(wave: torch.Tensor, eps: float = 1e-8) -> list[torch.Tensor]:
    """auraloss's STFT magnitudes of `wave: Tensor[B, N]` at the three default resolutions."""
    mags = []
    for n_fft, hop, win in zip(FFT_SIZES, HOP_SIZES, WIN_LENGTHS, strict=True):
        window = torch.hann_window(win, device=wave.device, dtype=wave.dtype)
        spec = torch.stft(wave, n_fft, hop, win, window, return_complex=True)
        mags.append(torch.sqrt(torch.clamp(spec.real**2 + spec.imag**2, min=eps)))
    return mags


def mrstft_per_clip(
    pred: torch.Tensor,
    target: torch.Tensor | None = None,
    *,
    target_mags: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """auraloss-default MR-STFT distance of each clip: `pred, target: Tensor[B, N]` -> `Tensor[B]`.

    Differentiable; equal to `mrstft_loss(pred[i:i+1], target[i:i+1])` for every i. An optimiser
    that compares many predictions with one target passes `target_mags=mrstft_magnitudes(target)`.
    """
    if target_mags is None:
        target_mags = mrstft_magnitudes(target)
    total = torch.zeros(pred.shape[0], device=pred.device, dtype=pred.dtype)
    for x_mag, y_mag in zip(mrstft_magnitudes(pred), target_mags, strict=True):
        sc = (y_mag - x_mag).flatten(1).norm(dim=1) / y_mag.flatten(1).norm(dim=1)
        log_mag = (torch.log(x_mag) - torch.log(y_mag)).abs().flatten(1).mean(dim=1)
        total = total + sc + log_mag
    return total / len(FFT_SIZES)
