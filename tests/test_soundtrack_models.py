"""Soundtrack-family networks: shapes for both presets, CAVP objectives, double guidance, split & merge."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physfoley.diffusion.guidance import (
    alphas_cumprod,
    diffusion_loss,
    guided_eps,
    sample_latents,
)
from physfoley.models.cavp import cavp_losses
from physfoley.models.soundtrack_factory import build_network, network_config
from physfoley.soundtrack_config import get_soundtrack_preset
from physfoley.training.ldm import split_merge


def _nets(preset: str, **overrides):
    sound = get_soundtrack_preset(preset)
    cavp_cfg = network_config("cavp", preset, overrides.get("cavp"))
    nets = {"cavp": build_network("cavp", cavp_cfg, sound)}
    for part in ("vae", "ldm", "align"):
        cfg = network_config(part, preset, overrides.get(part), context_dim=cavp_cfg.embed_dim)
        nets[part] = build_network(part, cfg, sound)
    return sound, nets


@torch.no_grad()
def test_vae_encodes_a_length_that_is_not_a_multiple_of_its_stride():
    """A whole video's mel (any length) is padded at its end, by repeating its last frame."""
    torch.manual_seed(0)
    sound, nets = _nets("small")
    r = nets["vae"].cfg.stride
    mel = torch.rand(1, sound.n_mels, 10 * r + 1) * 2 - 1
    z = nets["vae"].encode(mel).mean
    assert z.shape[-1] == 11 and torch.isfinite(z).all()
    padded = torch.cat([mel, mel[..., -1:].expand(-1, -1, r - 1)], dim=-1)
    torch.testing.assert_close(nets["vae"].encode(padded).mean, z)


@torch.no_grad()
def test_small_networks_shapes():
    torch.manual_seed(0)
    sound, nets = _nets("small")
    mel = torch.rand(2, sound.n_mels, sound.segment_mel_frames) * 2 - 1
    rec, posterior = nets["vae"](mel)
    assert rec.shape == mel.shape and posterior.mean.shape == (2, *sound.latent_shape)
    assert posterior.kl().shape == (2,)
    frames = torch.randint(0, 256, (2, sound.visual_frames, 64, 64, 3), dtype=torch.uint8)
    e_v, e_a = nets["cavp"](frames, mel)
    assert e_v.shape == e_a.shape == (2, sound.visual_frames, 128)
    assert torch.allclose(e_v.norm(dim=-1), torch.ones(2, sound.visual_frames))
    z, t = torch.randn(2, *sound.latent_shape), torch.tensor([0, 999])
    assert nets["ldm"](z, t, {"video": e_v}).shape == z.shape
    assert nets["ldm"](z, t, {"video": e_v}, torch.tensor([True, False])).shape == z.shape
    assert nets["align"](z, t, {"video": e_v}).shape == (2,)
    long = nets["cavp"].video(torch.randint(0, 256, (1, 150, 64, 64, 3), dtype=torch.uint8))
    assert long.shape == (1, 150, 128)  # a whole timeline in one pass


def test_paper_configuration_builds_and_takes_a_training_step():
    torch.manual_seed(0)
    sound, nets = _nets("paper")
    assert sound.latent_shape == (4, 16, 64)
    with torch.no_grad():
        rec, posterior = nets["vae"](torch.rand(1, 128, 32) * 2 - 1)  # a short crop
        assert rec.shape == (1, 128, 32) and posterior.mean.shape == (1, 4, 16, 4)
        e_v, e_a = nets["cavp"](
            torch.randint(0, 256, (1, 2, 224, 224, 3), dtype=torch.uint8), torch.rand(1, 128, 32)
        )
        assert e_v.shape == e_a.shape == (1, 2, 512)
    ldm = nets["ldm"]
    opt = torch.optim.AdamW(ldm.parameters(), lr=1e-4)
    z0 = torch.randn(2, *sound.latent_shape)
    cond = {"video": torch.randn(2, sound.visual_frames, 512)}
    before = [p.detach().clone() for p in ldm.parameters()]
    loss = diffusion_loss(ldm, z0, cond, torch.tensor([False, True]), None, alphas_cumprod())
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, ldm.parameters(), strict=True))
    assert nets["align"](z0, torch.tensor([5, 500]), cond).shape == (2,)


def test_cavp_objectives_reward_aligned_pairs():
    gen = torch.Generator().manual_seed(0)
    e = torch.nn.functional.normalize(torch.randn(6, 8, 16, generator=gen), dim=-1)
    scale = torch.tensor(20.0)
    aligned = cavp_losses(e, e, scale, segments_per_video=3)
    shuffled = cavp_losses(e, e[torch.tensor([1, 2, 0, 4, 5, 3])], scale, segments_per_video=3)
    within = cavp_losses(e, e.flip(1), scale, segments_per_video=3)
    assert aligned["semantic"] < shuffled["semantic"] and aligned["temporal"] < shuffled["temporal"]
    assert aligned["frame"] < within["frame"]  # per-step contrast sees a reversed timeline
    with pytest.raises(ValueError, match="multiple"):
        cavp_losses(e[:5], e[:5], scale, segments_per_video=3)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    over = {
        "ldm": {"dim": 32, "depth": 1, "heads": 2},
        "align": {"dim": 32, "depth": 1, "heads": 2},
    }
    sound, nets = _nets("small", **over)
    for net in nets.values():  # zero-initialised outputs would hide every difference
        for p in net.parameters():
            torch.nn.init.normal_(p, std=0.05)
    return sound, nets


@pytest.mark.parametrize("sampler", ["ddim", "dpmsolver++"])
def test_guidance_changes_the_sample_and_zero_scales_are_plain_sampling(tiny, sampler):
    sound, nets = tiny
    cond = {
        "video": torch.randn(
            2, sound.visual_frames, 128, generator=torch.Generator().manual_seed(1)
        )
    }
    shape = (2, *sound.latent_shape)

    def run(**kw):
        gen = torch.Generator().manual_seed(3)
        return sample_latents(
            nets["ldm"], cond, shape, sampler=sampler, steps=5, generator=gen, **kw
        )

    plain = run()
    zero = run(classifier=nets["align"], cfg_scale=0.0, cg_scale=0.0)
    assert torch.equal(plain, zero)
    assert plain.shape == shape and torch.isfinite(plain).all()
    cfg_only = run(cfg_scale=4.5)
    double = run(classifier=nets["align"], cfg_scale=4.5, cg_scale=50.0)
    assert not torch.allclose(plain, cfg_only) and not torch.allclose(cfg_only, double)


def test_double_guidance_is_eq_8(tiny):
    sound, nets = tiny
    z = torch.randn(2, *sound.latent_shape)
    t = torch.tensor([100, 700])
    cond = {"video": torch.randn(2, sound.visual_frames, 128)}
    abar = alphas_cumprod()
    with torch.no_grad():
        eps_c = nets["ldm"](z, t, cond, None)
        eps_u = nets["ldm"](z, t, cond, torch.ones(2, dtype=torch.bool))
    zg = z.clone().requires_grad_(True)
    logp = torch.nn.functional.logsigmoid(nets["align"](zg, t, cond)).sum()
    (grad,) = torch.autograd.grad(logp, zg)
    a = abar[t].view(-1, 1, 1, 1)
    want = 5.5 * eps_c - 4.5 * eps_u - 50.0 * (1 - a).sqrt() * grad
    got = guided_eps(
        nets["ldm"], nets["align"], z, t, cond, cfg_scale=4.5, cg_scale=50.0, abar=abar
    )
    assert torch.allclose(got, want, atol=1e-5)


def test_split_and_merge_keeps_shapes_and_pairs():
    sound = get_soundtrack_preset("small")
    rng = np.random.default_rng(0)
    z1, z2 = rng.standard_normal((2, *sound.latent_shape))
    e1, e2 = rng.standard_normal((2, sound.visual_frames, 8))
    z, e = split_merge((z1, e1), (z2, e2), 20)
    assert z.shape == z1.shape and e.shape == e1.shape
    assert np.array_equal(z[..., :20], z1[..., :20]) and np.array_equal(e[:20], e1[:20])
    assert np.array_equal(z[..., 20:], z2[..., :44]) and np.array_equal(e[20:], e2[:44])
    paper = get_soundtrack_preset("paper")  # 2 latent frames per visual frame
    z1p, z2p = rng.standard_normal((2, *paper.latent_shape))
    e1p, e2p = rng.standard_normal((2, paper.visual_frames, 8))
    z, e = split_merge((z1p, e1p), (z2p, e2p), 5)
    assert z.shape == z1p.shape and e.shape == e1p.shape
    assert np.array_equal(z[..., :10], z1p[..., :10]) and np.array_equal(z[..., 10:], z2p[..., :54])
