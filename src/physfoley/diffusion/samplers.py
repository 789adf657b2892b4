"""Samplers: the paper's ancestral chain with temperature (eq. 11), diffusers' DDIM and
DPM-Solver++ chosen by name and step count, an Euler sampler for flow matching, and
classifier-free guidance for all of them.

`model_fn(x_t, t, cond, drop)` is the denoiser (`ImpactDiffusionModel.forward`); `drop` marks
rows whose conditions are replaced by the learned null embeddings (the unconditional branch).
Every sampler clamps the predicted clean spectrogram x0 to [-1, 1], as the reference code does.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from physfoley.diffusion.schedule import NoiseSchedule, make_schedule
from physfoley.errors import InputError

SAMPLERS = ("ancestral", "ddim", "dpmsolver++", "flow_euler")
#: Sampler and step count used when none is given. The strided ancestral chain (eq. 11) at 100
#: steps is as close to the real spectrograms as the full 1000-step chain with the shipped model,
#: while the deterministic ODE samplers (DDIM, DPM-Solver++) give too noisy spectrograms with it
#: (docs/results/model.md).
DEFAULT_SAMPLER = "ancestral"
DEFAULT_STEPS = 100
_ALIASES = {
    "ddpm": "ancestral",
    "dpm-solver++": "dpmsolver++",
    "dpm++": "dpmsolver++",
    "dpmpp": "dpmsolver++",
}


def guided(model_fn: Callable, cond: dict[str, Tensor], guidance_scale: float) -> Callable:
    """Wrap `model_fn` with classifier-free guidance: eps_u + s (eps_c - eps_u).

    Returns fn(x Tensor[B, ...], t Tensor[B]) -> Tensor[B, ...]. With s == 1 only the
    conditional branch runs.
    """

    def fn(x: Tensor, t: Tensor) -> Tensor:
        if guidance_scale == 1.0:
            return model_fn(x, t, cond, None)
        b = x.shape[0]
        both = {k: torch.cat([v, v]) for k, v in cond.items()}
        drop = torch.cat([torch.zeros(b, dtype=torch.bool), torch.ones(b, dtype=torch.bool)])
        out = model_fn(torch.cat([x, x]), torch.cat([t, t]), both, drop.to(x.device))
        cond_out, uncond_out = out.chunk(2)
        return uncond_out + guidance_scale * (cond_out - uncond_out)

    return fn


def _ancestral(
    fn, x: Tensor, schedule: NoiseSchedule, steps: int, eta: float, generator, clip: float = 1.0
) -> Tensor:
    """Ancestral DDPM chain (eq. 11) over `steps` evenly spaced timesteps (all T by default).

    x_{t'} = mean(x_t, x0_hat) + eta * sigma * z, with x0_hat clamped to [-1, 1] and, for a
    strided chain, the betas recomputed from the alphas of the kept timesteps.
    """
    abar = schedule.alphas_cumprod
    ts = torch.linspace(schedule.num_timesteps - 1, 0, steps).round().long().tolist()
    b = x.shape[0]
    for i, t in enumerate(ts):
        a_t = abar[t].item()
        a_prev = abar[ts[i + 1]].item() if i + 1 < len(ts) else 1.0
        beta = 1 - a_t / a_prev
        eps = fn(x, torch.full((b,), t, device=x.device, dtype=torch.long))
        x0 = ((x - (1 - a_t) ** 0.5 * eps) / a_t**0.5).clamp(-clip, clip)
        mean = (a_prev**0.5 * beta / (1 - a_t)) * x0 + (
            (1 - beta) ** 0.5 * (1 - a_prev) / (1 - a_t)
        ) * x
        if i + 1 < len(ts):
            var = beta * (1 - a_prev) / (1 - a_t)
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
            x = mean + eta * var**0.5 * z
        else:
            x = mean
    return x


def _clamped(fn, schedule: NoiseSchedule, clip: float):
    """Wrap an epsilon model so that its implied x0 = (x - sqrt(1 - abar) eps) / sqrt(abar) is
    clamped to [-clip, clip] (the reference's x0 clamp, for any scheduler)."""
    abar = schedule.alphas_cumprod

    def wrapped(x: Tensor, t: Tensor) -> Tensor:
        eps = fn(x, t)
        a = abar.to(x.device)[t].float().view(-1, *([1] * (x.dim() - 1)))
        x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-clip, clip)
        return (x - a.sqrt() * x0) / (1 - a).sqrt()

    return wrapped


def _diffusers(
    fn,
    x: Tensor,
    schedule: NoiseSchedule,
    name: str,
    steps: int,
    eta: float,
    generator,
    clip: float = 1.0,
) -> Tensor:
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    fn = _clamped(fn, schedule, clip)
    common = dict(
        num_train_timesteps=schedule.num_timesteps,
        beta_schedule=schedule.diffusers_name,
        prediction_type="epsilon",
        timestep_spacing="trailing",
    )
    if name == "ddim":
        sched = DDIMScheduler(**common, clip_sample=False)
        kwargs = {"eta": eta, "generator": generator}
    else:
        sched = DPMSolverMultistepScheduler(
            **common, algorithm_type="dpmsolver++", solver_order=2, lower_order_final=True
        )
        kwargs = {"generator": generator}
    sched.set_timesteps(steps, device=x.device)
    b = x.shape[0]
    for t in sched.timesteps:
        eps = fn(x, torch.full((b,), int(t), device=x.device, dtype=torch.long))
        x = sched.step(eps, t, x, **kwargs).prev_sample
    return x


def _flow_euler(fn, x: Tensor, schedule: NoiseSchedule, steps: int) -> Tensor:
    """Euler integration of the flow-matching ODE from s = 1 (noise) to s = 0 (data)."""
    s = torch.linspace(1.0, 0.0, steps + 1, device=x.device)
    b = x.shape[0]
    for i in range(steps):
        v = fn(x, torch.full((b,), float(s[i]) * schedule.num_timesteps, device=x.device))
        x = x + (s[i + 1] - s[i]) * v
    return x


def canonical_sampler(name: str) -> str:
    """Resolve aliases ("ddpm", "dpm-solver++") and check the name."""
    name = _ALIASES.get(name, name)
    if name not in SAMPLERS:
        raise InputError(f"unknown sampler {name!r}; choose one of {list(SAMPLERS)}")
    return name


def default_steps(sampler: str, timesteps: int = 1000) -> int:
    """Default step count of the high-level `sample` (DEFAULT_STEPS for every sampler; pass
    `steps=1000` for the paper's full ancestral chain)."""
    canonical_sampler(sampler)
    return min(DEFAULT_STEPS, timesteps)


def resolve_sampler(
    diffusion, sampler: str | None = None, steps: int | None = None
) -> tuple[str, int]:
    """The sampler name and step count a model samples with when asked for `sampler`, `steps`.

    diffusion : the model's `DiffusionConfig` (`cfg.diffusion`). Unset arguments take its
    defaults; a flow-matching model always uses the Euler sampler; a sampler other than the
    config's gets `default_steps`. Returns (canonical sampler name, steps).
    """
    d = diffusion
    name = (
        "flow_euler" if d.objective == "flow_matching" else canonical_sampler(sampler or d.sampler)
    )
    if steps is None:
        steps = (
            d.steps if name == canonical_sampler(d.sampler) else default_steps(name, d.timesteps)
        )
    return name, int(steps)


@torch.no_grad()
def sample(
    model,
    cond: dict[str, Tensor],
    *,
    sampler: str | None = None,
    steps: int | None = None,
    eta: float | None = None,
    guidance: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sample spectrograms from an `ImpactDiffusionModel`, one per condition row.

    cond: {"mu": Tensor[B, Dmu], "nu": Tensor[B, Dnu]} -> Tensor[B, 1, F, T] in [-1, 1].
    Unset arguments take the model config's defaults (`cfg.diffusion`); a flow-matching model
    always uses the Euler sampler. Noise is drawn on the CPU from `generator` (so a seed gives
    the same result on every device) and moved to the model's device.
    """
    d = model.cfg.diffusion
    name, steps = resolve_sampler(d, sampler, steps)
    device = next(model.parameters()).device
    b = next(iter(cond.values())).shape[0]
    scale = float(d.data_scale)
    x = sample_loop(
        model,
        (b, *model.spec_shape),
        cond,
        schedule=make_schedule(d.schedule, d.timesteps),
        sampler=name,
        steps=steps,
        eta=(d.eta if name == "ancestral" else None) if eta is None else eta,
        guidance_scale=d.guidance_scale if guidance is None else guidance,
        generator=generator,
        device=device,
        clip=1.0 / scale,
    )
    return (x * scale).clamp(-1, 1)


@torch.no_grad()
def sample_loop(
    model_fn: Callable,
    shape: tuple[int, ...],
    cond: dict[str, Tensor],
    *,
    schedule: NoiseSchedule,
    sampler: str = "ancestral",
    steps: int | None = None,
    eta: float | None = None,
    guidance_scale: float = 1.0,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    clip: float = 1.0,
) -> Tensor:
    """Draw samples: shape (B, 1, F, T) -> Tensor[B, 1, F, T] in [-clip, clip].

    x0 predictions are clamped to [-clip, clip] (the data range in the denoiser's units).

    sampler: "ancestral" (eq. 11; `eta` is the temperature, default 1, `steps` default T),
    "ddim" (`eta` is DDIM's eta, default 0), "dpmsolver++" (2nd order multistep), or
    "flow_euler" (for flow-matching models). `steps` defaults to T for ancestral, 25 otherwise.
    The same `generator` seed gives the same result.
    """
    name = canonical_sampler(sampler)
    if steps is None:
        steps = schedule.num_timesteps if name == "ancestral" else 25
    if not 1 <= steps <= schedule.num_timesteps:
        raise InputError(f"steps must be between 1 and {schedule.num_timesteps}, not {steps}")
    cond = {k: v.to(device) for k, v in cond.items()}
    fn = guided(model_fn, cond, guidance_scale)
    x = torch.randn(shape, generator=generator).to(device)
    if name == "ancestral":
        x = _ancestral(fn, x, schedule, steps, 1.0 if eta is None else eta, generator, clip)
    elif name == "flow_euler":
        x = _flow_euler(fn, x, schedule, steps)
    else:
        x = _diffusers(fn, x, schedule, name, steps, 0.0 if eta is None else eta, generator, clip)
    return x.clamp(-clip, clip)
