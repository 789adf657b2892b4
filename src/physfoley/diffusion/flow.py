"""Flow matching for PAVAS (section 3.4): the training loss and Euler sampling with CFG.

Convention of the paper: x_0 is Gaussian noise, x_1 the data latent, x_t = (1 - t) x_0 + t x_1,
and the network predicts the velocity u = x_1 - x_0 (MSE). The network's time input is
t x 1000, so the sinusoidal timestep embedding of the diffusion backbones serves unchanged.
Sampling integrates dx/dt = v(x, t) from t = 0 to 1 with `steps` Euler steps; guidance is
v^ = (1 + omega) v(x, t, c) - omega v(x, t, null) (omega = `cfg_scale`, 0 = conditional only).

Physics guidance (`physics_scale` lambda, PAVAS models only; not in the paper, which guides
with omega alone): v^ += lambda (v(x, t, c) - v(x, t, c without physics)), the second term
with the physics replaced by its null tokens and the picture kept, so the part of the
prediction that the physics tokens explain is amplified, and with it every what-if edit of
mass or speed (less than in proportion: docs/RESULTS.md section 9). lambda = 0 is exactly the
guidance above.
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


@torch.no_grad()
def sample_flow(
    net: Callable, cond: dict[str, Tensor], shape: tuple[int, ...], *, steps: int,
    cfg_scale: float, generator: torch.Generator, device, physics_scale: float = 0.0,
) -> Tensor:  # fmt: skip
    """Euler integration from noise (t = 0) to a latent (t = 1): -> Tensor[shape].

    The conditional, unconditional (cfg_scale) and physics-free (physics_scale, when `cond`
    carries physics) predictions are made in one batch per step."""
    x = torch.randn(shape, generator=generator).to(device)
    b = shape[0]
    cond = {k: v.to(device) for k, v in cond.items()}
    physics_scale = physics_scale if "mass" in cond else 0.0
    copies = 1 + bool(cfg_scale) + bool(physics_scale)
    batch = {k: torch.cat([v] * copies) for k, v in cond.items()}
    drop = torch.zeros(b * copies, dtype=torch.bool)
    if cfg_scale:
        drop[b : 2 * b] = True
    if physics_scale:
        null = batch.get("physics_null", torch.zeros(b * copies, dtype=torch.bool, device=device))
        null = null.bool().clone()
        null[-b:] = True
        batch["physics_null"] = null
    drop = drop.to(device) if copies > 1 else None
    for i in range(steps):
        t = torch.full((b * copies,), i / steps, device=device)
        out = net(torch.cat([x] * copies), t * TIME_SCALE, batch, drop).chunk(copies)
        v = out[0]
        if cfg_scale:
            v = (1 + cfg_scale) * out[0] - cfg_scale * out[1]
        if physics_scale:
            v = v + physics_scale * (out[0] - out[-1])
        x = x + v / steps
    return x
