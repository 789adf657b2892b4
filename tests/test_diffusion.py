"""Noise schedule, objectives and samplers (ancestral with temperature, DDIM, DPM-Solver++, CFG)."""

from __future__ import annotations

import math

import pytest
import torch

from physfoley.config import model_config
from physfoley.diffusion.objectives import EpsilonL1, FlowMatching, make_objective
from physfoley.diffusion.samplers import DEFAULT_SAMPLER, default_steps, sample, sample_loop
from physfoley.diffusion.schedule import make_schedule
from physfoley.errors import InputError
from physfoley.models.factory import build_model

SCHEDULE = make_schedule("cosine", 1000)
SHAPE = (2, 1, 16, 8)


def _target() -> torch.Tensor:
    return torch.linspace(-0.9, 0.9, math.prod(SHAPE)).view(SHAPE)


class Oracle:
    """The exact epsilon (or velocity) for a known clean sample x0; counts its calls."""

    def __init__(self, x0: torch.Tensor, flow: bool = False):
        self.x0, self.flow, self.calls, self.batches = x0, flow, 0, []

    def __call__(self, x, t, cond, drop):
        self.calls += 1
        self.batches.append(x.shape[0])
        x0 = self.x0.repeat(x.shape[0] // self.x0.shape[0], 1, 1, 1)
        if self.flow:
            s = (t.float() / 1000).view(-1, 1, 1, 1)
            return (x - x0) / s
        abar = SCHEDULE.alphas_cumprod[t].float().view(-1, 1, 1, 1)
        return (x - abar.sqrt() * x0) / (1 - abar).sqrt()


def test_cosine_schedule():
    abar = SCHEDULE.alphas_cumprod
    assert SCHEDULE.num_timesteps == 1000 and (abar.diff() < 0).all()
    # Nichol & Dhariwal: abar(t) = cos^2((t/T + s)/(1 + s) pi/2) / cos^2(s/(1+s) pi/2), s = 0.008
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert abar[499].item() == pytest.approx(f(500) / f(0), rel=1e-3)
    with pytest.raises(InputError):
        make_schedule("sigmoid")


@pytest.mark.parametrize(
    "sampler,steps", [("ancestral", 1000), ("ancestral", 50), ("ddim", 10), ("dpmsolver++", 10)]
)
def test_samplers_recover_the_oracle_sample_in_the_stated_steps(sampler, steps):
    x0 = _target()
    oracle = Oracle(x0)
    out = sample_loop(
        oracle,
        SHAPE,
        {},
        schedule=SCHEDULE,
        sampler=sampler,
        steps=steps,
        generator=torch.Generator().manual_seed(0),
    )
    assert out.shape == SHAPE and oracle.calls == steps
    assert torch.allclose(out, x0, atol=1e-3)


def test_flow_euler_recovers_the_oracle_sample():
    x0 = _target()
    oracle = Oracle(x0, flow=True)
    out = sample_loop(oracle, SHAPE, {}, schedule=SCHEDULE, sampler="flow_euler", steps=7)
    assert oracle.calls == 7 and torch.allclose(out, x0, atol=1e-4)


class Noisy:
    """A fixed imperfect denoiser (so ancestral noise matters)."""

    def __call__(self, x, t, cond, drop):
        return 0.5 * x + cond["mu"].view(-1, 1, 1, 1) * (
            0 if drop is None else (~drop).float().view(-1, 1, 1, 1)
        )


def test_ancestral_temperature_and_seed_determinism():
    cond = {"mu": torch.tensor([0.1, -0.2])}

    def run(seed, eta):
        return sample_loop(
            Noisy(),
            SHAPE,
            cond,
            schedule=SCHEDULE,
            sampler="ancestral",
            steps=20,
            eta=eta,
            generator=torch.Generator().manual_seed(seed),
        )

    a, b, c = run(0, 1.0), run(0, 1.0), run(1, 1.0)
    assert torch.equal(a, b) and not torch.equal(a, c)
    cold = run(0, 0.0)
    assert torch.equal(cold, run(0, 0.0)) and not torch.equal(cold, a)  # eta scales the noise
    assert cold.abs().max() <= 1


def test_classifier_free_guidance_combines_branches():
    calls = []

    def model_fn(x, t, cond, drop):
        calls.append(drop)
        out = torch.zeros_like(x)
        if drop is None:
            return out + 1.0
        return out + torch.where(drop, -1.0, 1.0).view(-1, 1, 1, 1)

    from physfoley.diffusion.samplers import guided

    x = torch.zeros(SHAPE)
    fn = guided(model_fn, {"mu": torch.zeros(2, 3)}, 3.0)
    assert torch.allclose(fn(x, torch.tensor([5, 5])), torch.full(SHAPE, -1.0 + 3.0 * 2.0))
    assert calls[-1].tolist() == [False, False, True, True]
    assert torch.equal(guided(model_fn, {}, 1.0)(x, torch.tensor([5, 5])), torch.ones(SHAPE))


def test_bad_sampler_arguments():
    with pytest.raises(InputError, match="unknown sampler"):
        sample_loop(Noisy(), SHAPE, {}, schedule=SCHEDULE, sampler="euler-a")
    with pytest.raises(InputError, match="steps"):
        sample_loop(Noisy(), SHAPE, {}, schedule=SCHEDULE, sampler="ddim", steps=0)
    assert default_steps("ancestral") == 100 and default_steps(DEFAULT_SAMPLER) == 100
    with pytest.raises(InputError, match="unknown sampler"):
        default_steps("heun")


def test_eps_l1_objective_and_condition_dropout():
    torch.manual_seed(0)
    x0 = torch.rand(512, 1, 4, 4) * 2 - 1
    seen = {}

    def zero_model(x, t, cond, drop):
        seen["drop"], seen["t"] = drop, t
        return torch.zeros_like(x)

    loss = EpsilonL1(SCHEDULE, cond_drop_prob=0.25).loss(zero_model, x0, {})
    assert loss.item() == pytest.approx(math.sqrt(2 / math.pi), rel=0.02)  # E|N(0,1)|
    assert 0.18 < seen["drop"].float().mean() < 0.32
    assert seen["t"].min() >= 0 and seen["t"].max() <= 999 and seen["t"].dtype == torch.long
    fm = FlowMatching(SCHEDULE, 0.0).loss(lambda x, t, c, d: torch.zeros_like(x), x0, {})
    assert torch.isfinite(fm)
    assert isinstance(make_objective("flow_matching", SCHEDULE), FlowMatching)
    with pytest.raises(InputError):
        make_objective("v_prediction", SCHEDULE)


def test_model_level_sample_shapes_and_seed():
    cfg = model_config(
        "small",
        {
            "denoiser": {"dit_dim": 32, "dit_depth": 1, "dit_heads": 2},
            "visual": {"widths": [8, 8, 8, 8], "stem_width": 8},
        },
    )
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    for p in model.denoiser.parameters():
        torch.nn.init.normal_(p, std=0.02)
    cond = {"mu": torch.randn(3, 256), "nu": torch.randn(3, 8)}
    for sampler in ("dpmsolver++", "ddim"):
        a = sample(
            model,
            cond,
            sampler=sampler,
            steps=4,
            guidance=2.0,
            generator=torch.Generator().manual_seed(3),
        )
        b = sample(
            model,
            cond,
            sampler=sampler,
            steps=4,
            guidance=2.0,
            generator=torch.Generator().manual_seed(3),
        )
        assert a.shape == (3, 1, 257, 44) and torch.equal(a, b) and a.abs().max() <= 1


@pytest.mark.parametrize("sampler", ["ancestral", "ddim", "dpmsolver++"])
def test_x0_clamp_range_follows_the_data_scale(sampler):
    x0 = 2.5 * _target()  # data in [-2.25, 2.25]: a spectrogram in [-1, 1] divided by 0.4
    out = sample_loop(
        Oracle(x0),
        SHAPE,
        {},
        schedule=SCHEDULE,
        sampler=sampler,
        steps=20,
        clip=2.5,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.allclose(out, x0, atol=1e-3)
    clamped = sample_loop(
        Oracle(x0),
        SHAPE,
        {},
        schedule=SCHEDULE,
        sampler=sampler,
        steps=20,
        clip=1.0,
        generator=torch.Generator().manual_seed(0),
    )
    assert clamped.abs().max() <= 1.0 and not torch.allclose(clamped, x0, atol=0.1)
