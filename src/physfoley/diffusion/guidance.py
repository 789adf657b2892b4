"""Latent diffusion of the soundtrack family: schedule, training loss, double guidance, sampling.

The schedule is latent diffusion's (Diff-Foley's `linear_start` 0.00085, `linear_end` 0.012 over
1000 steps, linear in sqrt(beta): diffusers' "scaled_linear"), so the diffusers DDIM and
DPM-Solver++ schedulers use exactly the training alphas. The loss is eq. 4 (epsilon, L2).
Double guidance is eq. 8:

    eps^ = (1 + omega) eps(z_t, t, E_v) - omega eps(z_t, t, 0) - gamma sqrt(1 - abar_t) grad log P(y | z_t, t, E_v)

with the CFG scale omega (`cfg_scale`, 0 = conditional only) and the classifier scale gamma
(`cg_scale`, 0 = no classifier). With both zero the sampler is plain conditional sampling.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from physfoley.errors import InputError

TIMESTEPS = 1000
BETA_START, BETA_END = 0.00085, 0.012
SAMPLERS = ("ddim", "dpmsolver++")
DEFAULT_SAMPLER = "dpmsolver++"
DEFAULT_STEPS = 25
_ALIASES = {"dpm-solver++": "dpmsolver++", "dpmpp": "dpmsolver++"}


def alphas_cumprod(timesteps: int = TIMESTEPS) -> Tensor:
    """abar_t of the scaled-linear schedule: Tensor[timesteps] float32."""
    betas = torch.linspace(BETA_START**0.5, BETA_END**0.5, timesteps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float()


def q_sample(z0: Tensor, t: Tensor, noise: Tensor, abar: Tensor) -> Tensor:
    """z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) noise; z0, noise Tensor[B, ...], t Tensor[B]."""
    a = abar.to(z0.device)[t].view(-1, *([1] * (z0.dim() - 1)))
    return a.sqrt() * z0 + (1 - a).sqrt() * noise


def diffusion_loss(
    denoiser: Callable, z0: Tensor, cond: dict[str, Tensor], drop: Tensor, generator, abar: Tensor
) -> Tensor:
    """Eq. 4: mean ||eps - eps_theta(z_t, t, E_v)||^2 over uniformly drawn t (conditions of rows
    `drop` replaced by the null embeddings). z0: Tensor[B, C', F', T']."""
    b = z0.shape[0]
    t = torch.randint(0, len(abar), (b,), generator=generator).to(z0.device)
    noise = torch.randn(z0.shape, generator=generator).to(z0.device)
    eps = denoiser(q_sample(z0, t, noise, abar), t, cond, drop.to(z0.device))
    return F.mse_loss(eps, noise)


def canonical_sampler(name: str) -> str:
    name = _ALIASES.get(name, name)
    if name not in SAMPLERS:
        raise InputError(f"unknown sampler {name!r} for this model; choose one of {list(SAMPLERS)}")
    return name


def guided_eps(
    denoiser: Callable,
    classifier: Callable | None,
    z: Tensor,
    t: Tensor,
    cond: dict[str, Tensor],
    *,
    cfg_scale: float,
    cg_scale: float,
    abar: Tensor,
) -> Tensor:
    """Eq. 8 for one step: z Tensor[B, C', F', T'], t Tensor[B] long -> eps^ Tensor[B, ...]."""
    b = z.shape[0]
    if cfg_scale == 0:
        eps = denoiser(z, t, cond, None)
    else:
        both = {k: torch.cat([v, v]) for k, v in cond.items()}
        drop = torch.cat([torch.zeros(b, dtype=torch.bool), torch.ones(b, dtype=torch.bool)])
        eps_c, eps_u = denoiser(torch.cat([z, z]), torch.cat([t, t]), both, drop).chunk(2)
        eps = (1 + cfg_scale) * eps_c - cfg_scale * eps_u
    if cg_scale != 0 and classifier is not None:
        with torch.enable_grad():
            z_in = z.detach().requires_grad_(True)
            log_p = F.logsigmoid(classifier(z_in, t, cond)).sum()
            (grad,) = torch.autograd.grad(log_p, z_in)
        a = abar.to(z.device)[t].view(-1, *([1] * (z.dim() - 1)))
        eps = eps - cg_scale * (1 - a).sqrt() * grad
    return eps


@torch.no_grad()
def sample_latents(
    denoiser: Callable,
    cond: dict[str, Tensor],
    shape: tuple[int, ...],
    *,
    classifier: Callable | None = None,
    sampler: str = DEFAULT_SAMPLER,
    steps: int = DEFAULT_STEPS,
    cfg_scale: float = 0.0,
    cg_scale: float = 0.0,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    eta: float = 0.0,
) -> Tensor:
    """Draw latents (scaled units) with a diffusers scheduler: shape (B, C', F', T') -> Tensor.

    The initial noise comes from `generator` on the CPU, so a seed gives the same result on
    every device. sampler: "ddim" (eta as DDIM's) or "dpmsolver++" (2nd-order multistep).
    """
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    name = canonical_sampler(sampler)
    if not 1 <= steps <= TIMESTEPS:
        raise InputError(f"steps must be between 1 and {TIMESTEPS}, not {steps}")
    common = dict(
        num_train_timesteps=TIMESTEPS,
        beta_start=BETA_START,
        beta_end=BETA_END,
        beta_schedule="scaled_linear",
        prediction_type="epsilon",
        timestep_spacing="trailing",
    )
    if name == "ddim":
        sched = DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=False)
        kwargs = {"eta": eta, "generator": generator}
    else:
        sched = DPMSolverMultistepScheduler(
            **common, algorithm_type="dpmsolver++", solver_order=2, lower_order_final=True
        )
        kwargs = {"generator": generator}
    sched.set_timesteps(steps, device=device)
    abar = alphas_cumprod()
    cond = {k: v.to(device) for k, v in cond.items()}
    z = torch.randn(shape, generator=generator).to(device)
    b = shape[0]
    for step in sched.timesteps:
        t = torch.full((b,), int(step), device=device, dtype=torch.long)
        eps = guided_eps(
            denoiser, classifier, z, t, cond, cfg_scale=cfg_scale, cg_scale=cg_scale, abar=abar
        )
        z = sched.step(eps, step, z, **kwargs).prev_sample
    return z
