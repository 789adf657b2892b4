"""Training objectives (swappable): DDPM epsilon-prediction with L1 loss (eq. 10 of Su et al.)
and rectified-flow matching (the objective PAVAS trains with).

An objective draws the noise level, corrupts x0, calls the network and returns the loss. With
probability `cond_drop_prob` a sample's conditions are replaced by the network's learned null
embeddings, so classifier-free guidance is available at sampling time.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from physfoley.diffusion.schedule import NoiseSchedule
from physfoley.errors import InputError

# model_fn(x_t Tensor[B, ...], t Tensor[B], cond dict, drop Tensor[B] bool) -> Tensor[B, ...]
ModelFn = Callable[[Tensor, Tensor, dict, Tensor | None], Tensor]


class EpsilonL1:
    """L = E || eps - eps_theta(x_t, t, c) ||_1 with t ~ U{0..T-1} (eq. 10)."""

    name = "eps_l1"

    def __init__(self, schedule: NoiseSchedule, cond_drop_prob: float = 0.1):
        self.schedule, self.cond_drop_prob = schedule, cond_drop_prob

    def loss(self, model_fn: ModelFn, x0: Tensor, cond: dict[str, Tensor]) -> Tensor:
        """x0: Tensor[B, 1, F, T] in [-1, 1] -> scalar loss."""
        b = x0.shape[0]
        t = torch.randint(0, self.schedule.num_timesteps, (b,), device=x0.device)
        noise = torch.randn_like(x0)
        drop = torch.rand(b, device=x0.device) < self.cond_drop_prob
        pred = model_fn(self.schedule.q_sample(x0, t, noise), t, cond, drop)
        return (pred - noise).abs().mean()


class FlowMatching:
    """Rectified flow: x_s = (1 - s) x0 + s eps, target v = eps - x0, s ~ U(0, 1), MSE loss.

    The network sees the time as s * timesteps so the same time embedding serves both objectives.
    """

    name = "flow_matching"

    def __init__(self, schedule: NoiseSchedule, cond_drop_prob: float = 0.1):
        self.schedule, self.cond_drop_prob = schedule, cond_drop_prob

    def loss(self, model_fn: ModelFn, x0: Tensor, cond: dict[str, Tensor]) -> Tensor:
        b = x0.shape[0]
        s = torch.rand(b, device=x0.device)
        noise = torch.randn_like(x0)
        drop = torch.rand(b, device=x0.device) < self.cond_drop_prob
        sv = s.view(-1, *([1] * (x0.dim() - 1)))
        x_s = (1 - sv) * x0 + sv * noise
        pred = model_fn(x_s, s * self.schedule.num_timesteps, cond, drop)
        return ((pred - (noise - x0)) ** 2).mean()


OBJECTIVES = {EpsilonL1.name: EpsilonL1, FlowMatching.name: FlowMatching}


def make_objective(name: str, schedule: NoiseSchedule, cond_drop_prob: float = 0.1):
    """Objective by name: "eps_l1" (default, the paper's) or "flow_matching"."""
    try:
        return OBJECTIVES[name](schedule, cond_drop_prob)
    except KeyError:
        raise InputError(
            f"unknown objective {name!r}; choose one of {sorted(OBJECTIVES)}"
        ) from None
