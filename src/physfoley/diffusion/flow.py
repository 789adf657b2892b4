"""Flow matching for PAVAS (section 3.4): the training loss and Euler sampling with CFG.

Convention of the paper: x_0 is Gaussian noise, x_1 the data latent, x_t = (1 - t) x_0 + t x_1,
and the network predicts the velocity u = x_1 - x_0 (MSE). The network's time input is
t x 1000, so the sinusoidal timestep embedding of the diffusion backbones serves unchanged.
Sampling integrates dx/dt = v(x, t) from t = 0 to 1 with `steps` Euler steps; guidance is
v^ = (1 + omega) v(x, t, c) - omega v(x, t, null) (omega = `cfg_scale`, 0 = conditional only).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

TIME_SCALE = 1000.0


def flow_matching_loss(
    net: Callable, x1: Tensor, cond: dict[str, Tensor], drop: Tensor, generator
) -> Tensor:
    """mean || (x_1 - x_0) - v_theta(x_t, t, c) ||^2, t ~ U(0, 1); x1: Tensor[B, ...]."""
    b = x1.shape[0]
    t = torch.rand(b, generator=generator).to(x1.device)
    x0 = torch.randn(x1.shape, generator=generator).to(x1.device)
    tv = t.view(-1, *([1] * (x1.dim() - 1)))
    x_t = (1 - tv) * x0 + tv * x1
    return F.mse_loss(net(x_t, t * TIME_SCALE, cond, drop.to(x1.device)), x1 - x0)


def _doubled(cond: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: torch.cat([v, v]) for k, v in cond.items()}


@torch.no_grad()
def sample_flow(
    net: Callable, cond: dict[str, Tensor], shape: tuple[int, ...], *, steps: int,
    cfg_scale: float, generator: torch.Generator, device,
) -> Tensor:  # fmt: skip
    """Euler integration from noise (t = 0) to a latent (t = 1): -> Tensor[shape]."""
    x = torch.randn(shape, generator=generator).to(device)
    b = shape[0]
    cond = {k: v.to(device) for k, v in cond.items()}
    both = _doubled(cond) if cfg_scale else None
    drop = torch.cat([torch.zeros(b, dtype=torch.bool), torch.ones(b, dtype=torch.bool)])
    for i in range(steps):
        t = torch.full((b,), i / steps, device=device)
        if cfg_scale:
            v_c, v_u = net(torch.cat([x, x]), torch.cat([t, t]) * TIME_SCALE, both,
                           drop.to(device)).chunk(2)  # fmt: skip
            v = (1 + cfg_scale) * v_c - cfg_scale * v_u
        else:
            v = net(x, t * TIME_SCALE, cond, None)
        x = x + v / steps
    return x
