"""Noise schedule: T = 1000 steps, cosine beta schedule (Nichol & Dhariwal), as Su et al.

The betas come from diffusers' `squaredcos_cap_v2` schedule so that our ancestral sampler and
diffusers' DDIM / DPM-Solver++ schedulers share exactly the same alphas.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from physfoley.errors import InputError

_DIFFUSERS_SCHEDULE = {"cosine": "squaredcos_cap_v2", "linear": "linear"}


@dataclass(frozen=True)
class NoiseSchedule:
    """betas, alphas_cumprod: Tensor[T] (float64 on CPU)."""

    name: str
    betas: Tensor
    alphas_cumprod: Tensor

    @property
    def num_timesteps(self) -> int:
        return int(self.betas.shape[0])

    @property
    def diffusers_name(self) -> str:
        return _DIFFUSERS_SCHEDULE[self.name]

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """Forward process: x0, noise Tensor[B, ...], t Tensor[B] long -> x_t Tensor[B, ...]."""
        abar = self.alphas_cumprod.to(x0.device)[t].float().view(-1, *([1] * (x0.dim() - 1)))
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def make_schedule(name: str = "cosine", timesteps: int = 1000) -> NoiseSchedule:
    """Build a schedule by name ("cosine" or "linear")."""
    from diffusers import DDPMScheduler

    if name not in _DIFFUSERS_SCHEDULE:
        raise InputError(
            f"unknown noise schedule {name!r}; choose one of {sorted(_DIFFUSERS_SCHEDULE)}"
        )
    sched = DDPMScheduler(num_train_timesteps=timesteps, beta_schedule=_DIFFUSERS_SCHEDULE[name])
    betas = sched.betas.double()
    return NoiseSchedule(name, betas, torch.cumprod(1 - betas, dim=0))
