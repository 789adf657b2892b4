"""Modal synthesis: physics parameters back to sound (Su et al. 2023, eq. 4, plus eq. 5-6).

`modal_synthesis` is the batched, differentiable sum of damped sinusoids of eq. 4
(`q(t) = sum_k 10^((p_k - lambda_k t)/20) sin(2 pi f_k t)`); `resynthesize` turns a
`ModalParams` into a waveform: its modes plus, when present, the residual noise bands of
`physfoley.audio.residual`, normalised as the reference code does. This module sits at the end
of the flow: analysed or edited parameters, and those the models predict, become audio here.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from physfoley.audio.params import ModalParams
from physfoley.audio.residual import ResidualSynth
from physfoley.errors import InputError


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
