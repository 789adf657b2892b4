"""PAVAS: Phy-Adapter, Delta-modulation, flow-matching training phases, what-if synthesis."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from _soundtrack_data import TINY_NETS, make_segments, make_synthhits, tiny_model_dir
from safetensors.torch import load_file

from physfoley.cli import main
from physfoley.data.segments import SegmentData
from physfoley.families import load_pipeline
from physfoley.models.phy_adapter import PavasDiT, PhyAdapter, film, fourier_features
from physfoley.models.soundtrack_factory import build_network, network_config
from physfoley.pavas_pipeline import PavasPipeline
from physfoley.soundtrack_config import get_soundtrack_preset
from physfoley.soundtrack_dir import load_state, write_model_dir
from physfoley.video.encode import write_video

SOUND = get_soundtrack_preset("small")
TINY_PAVAS = {**TINY_NETS["ldm"], "phys_dim": 16, "feat_dim": 8, "fourier": 3}


def _cfg(**extra):
    return network_config("pavas", "small", {**TINY_PAVAS, **extra}, context_dim=16)


def _physics(b=2, k=2, t=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "video": torch.randn(b, t, 16, generator=g),
        "obj_feat": torch.randn(b, k, t, 8, generator=g),
        "obj_present": torch.rand(b, k, t, generator=g) > 0.2,
        "obj_valid": torch.ones(b, k, dtype=torch.bool),
        "mass": torch.rand(b, k, generator=g) + 0.1,
        "velocity": torch.randn(b, k, t, 2, generator=g),
    }


def test_film_fourier_and_adapter_shapes():
    h, g, b = torch.randn(3, 5), torch.randn(3, 5), torch.randn(3, 5)
    assert torch.allclose(film(h, g, b), (1 + 0.5 * torch.tanh(g)) * h + 0.5 * torch.tanh(b))
    x = torch.tensor([0.25])
    f = fourier_features(x, 3)
    assert f.shape == (1, 7) and torch.isclose(f[0, 0], x[0])
    assert torch.isclose(f[0, 1], torch.sin(2 * torch.pi * 0.125 * x[0]))  # w_0 = 2^-3
    adapter = PhyAdapter(_cfg())
    p = _physics()
    c_mass, c_vel = adapter(
        p["obj_feat"], p["obj_present"], p["obj_valid"], p["mass"], p["velocity"]
    )
    assert c_mass.shape == (2, 16) and c_vel.shape == (2, 64, 16)
    heavier = adapter(
        p["obj_feat"], p["obj_present"], p["obj_valid"], p["mass"] * 10, p["velocity"]
    )
    assert not torch.allclose(heavier[0], c_mass) and torch.equal(heavier[1], c_vel)


def test_null_tokens_replace_dropped_and_objectless_rows():
    adapter = PhyAdapter(_cfg())
    p = _physics()
    args = (p["obj_feat"], p["obj_present"], p["obj_valid"], p["mass"], p["velocity"])
    c_mass, c_vel = adapter(*args, null=torch.tensor([True, False]))
    assert torch.equal(c_mass[0], adapter.null_mass) and torch.equal(c_vel[0, 5], adapter.null_vel)
    assert not torch.equal(c_mass[1], adapter.null_mass)
    none = torch.zeros(2, 2, dtype=torch.bool)
    c_mass, _ = adapter(p["obj_feat"], p["obj_present"], none, p["mass"], p["velocity"])
    assert torch.equal(c_mass, adapter.null_mass.expand(2, -1))


@pytest.mark.parametrize("modulation", ["delta", "sum"])
def test_fresh_delta_modulation_is_exactly_the_backbone(modulation):
    torch.manual_seed(0)
    ldm = build_network(
        "ldm", network_config("ldm", "small", TINY_NETS["ldm"], context_dim=16), SOUND
    )
    net = build_network("pavas", _cfg(modulation=modulation), SOUND)
    net.load_backbone(ldm.state_dict())
    z, t = torch.randn(2, *SOUND.latent_shape), torch.tensor([3.0, 700.0])
    cond = _physics()
    drop = torch.tensor([False, True])
    assert torch.equal(net(z, t, cond, drop), ldm(z, t, cond, drop))
    assert torch.equal(net(z, t, {"video": cond["video"]}), ldm(z, t, {"video": cond["video"]}))


@pytest.mark.parametrize("modulation", ["delta", "sum"])
def test_a_phase_one_backbone_loads_into_either_modulation(modulation):
    """Phase 1 trains a PavasDiT (delta modulation, physics never fed): its transformer loads
    into the adapter phase of either ablation, and it computes what the backbone computed."""
    torch.manual_seed(0)
    phase1 = build_network("pavas", _cfg(), SOUND)
    net = build_network("pavas", _cfg(modulation=modulation), SOUND)
    net.load_backbone(phase1.state_dict())
    z, t = torch.randn(2, *SOUND.latent_shape), torch.tensor([3.0, 700.0])
    cond = _physics()
    assert torch.equal(net(z, t, cond), phase1(z, t, {"video": cond["video"]}))
    with pytest.raises(ValueError, match="lacks"):  # a key outside the physics path is an error
        net.load_backbone({**phase1.state_dict(), "trunk.extra.weight": torch.zeros(1)})


def test_the_paper_configuration_builds():
    cfg = network_config("pavas", "paper", context_dim=512)
    net = build_network("pavas", cfg, get_soundtrack_preset("paper"))
    assert isinstance(net, PavasDiT) and cfg.dim == 512 and cfg.feat_dim == 512
    assert sum(p.numel() for p in net.parameters()) > 50e6


def tiny_pavas_dir(path: Path, base: Path) -> Path:
    """A pavas model directory of tiny networks whose physics path is switched on (random g)."""
    torch.manual_seed(1)
    cfg = _cfg(mass_stats=(0.3, 0.2), vel_stats=(0.0, 2.0))
    net = build_network("pavas", cfg, SOUND)
    layers = [net.proj_out] + [b.g_mass[-1] for b in net.trunk.blocks]
    for layer in layers + [b.g_vel[-1] for b in net.trunk.blocks]:  # zero-initialised ones
        torch.nn.init.normal_(layer.weight, std=0.5)
    doc = json.loads((base / "config.json").read_text())
    parts = {p: (load_state(base, p), doc["parts"][p]) for p in ("vae", "cavp")}
    parts["pavas"] = (net.state_dict(), dataclasses.asdict(cfg))
    sampling = {"sampler": "euler", "steps": 3, "cfg_scale": 1.0, "cg_scale": 0.0}
    return write_model_dir(path, soundtrack=SOUND, parts=parts, family="pavas",
                           extra={"sampling": sampling})  # fmt: skip


@pytest.fixture(scope="module")
def pavas_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pavas")
    return tiny_pavas_dir(tmp / "pavas", tiny_model_dir(tmp / "df", classifier=False))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    raw = make_synthhits(tmp_path_factory.mktemp("v"), videos=1, seconds=2.0)
    return next(raw.glob("*_denoised.mp4"))


def test_synthesize_mass_scale_changes_the_soundtrack(pavas_dir, video, tmp_path, capsys):
    pipe = load_pipeline(pavas_dir)
    assert isinstance(pipe, PavasPipeline)
    objects = pipe.estimate(video)
    assert objects, "the PPE finds the SynthHits striker"
    base = pipe.synthesize(video, objects=objects, griffin_lim_iters=2)
    heavy = pipe.synthesize(video, objects=objects, mass_scale=4.0, griffin_lim_iters=2)
    one = pipe.synthesize(
        video, objects=objects, edits={0: {"mass_scale": 4.0}}, griffin_lim_iters=2
    )
    assert base.settings["objects"] == len(objects) and not np.allclose(base.mel, heavy.mel)
    assert np.array_equal(heavy.mel, one.mel) == (len(objects) == 1)
    outs = []
    for scale in ("1", "3"):
        out = tmp_path / f"m{scale}.wav"
        args = ["synthesize", str(video), "-o", str(out), "--model", str(pavas_dir)]
        assert main([*args, "--mass-scale", scale, "--json"]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0]["family"] == "pavas" and outs[1]["mass_scale"] == 3.0
    assert outs[0]["objects"] >= 1 and outs[1]["physics"]["objects_used"] >= 1
    assert (tmp_path / "m1.wav").read_bytes() != (tmp_path / "m3.wav").read_bytes()
    assert main(["synthesize", str(video), "-o", str(tmp_path / "x.wav"), "--model",
                 str(pavas_dir), "--times", "0.5"]) == 2  # fmt: skip
    assert "--times does not apply" in capsys.readouterr().err
    args = ["synthesize", str(video), "-o", str(tmp_path / "x.wav"), "--model", str(pavas_dir)]
    assert main([*args, "--sampler", "ddim"]) == 2
    assert "samples with euler" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


def test_no_object_falls_back_to_null_physics(pavas_dir, tmp_path, capsys):
    still = np.full((40, 64, 64, 3), 90, np.uint8)
    video = write_video(tmp_path / "still.mp4", still, 20.0)
    out = tmp_path / "still.wav"
    assert main(["synthesize", str(video), "-o", str(out), "--model", str(pavas_dir)]) == 0
    err = capsys.readouterr().err
    assert "no moving object" in err and "null physics" in err and out.is_file()
    pipe = PavasPipeline.from_pretrained(pavas_dir)
    a = pipe.synthesize(video, griffin_lim_iters=2)
    b = pipe.synthesize(video, mass_scale=5.0, griffin_lim_iters=2)
    assert a.settings["objects"] == 0 and np.array_equal(a.mel, b.mel)


PHASES = {"backbone": {}, "adapter": {"lr": 1e-4}}


def _train(cfg: Path, data: Path, out: Path, *extra: str) -> None:
    args = ["train", "pavas", "--config", str(cfg), "--data", str(data), "--out", str(out)]
    assert main([*args, "--no-progress", "--device", "cpu", *extra]) == 0


def test_both_phases_train_and_resume_exactly(tmp_path, capsys):
    data = make_segments(tmp_path / "d")
    base = tiny_model_dir(tmp_path / "df", classifier=False)  # frozen vae, cavp; diff-foley ldm
    model = {"dim": 32, "depth": 1, "heads": 2, "phys_dim": 16, "fourier": 3}
    for phase, extra in PHASES.items():
        doc = {"stage": "pavas", "phase": phase, "model": model, "max_steps": 2, "ckpt_every": 1,
               "keep_checkpoints": 3, "warmup_steps": 1, "batch_size": 4, "vae_dir": str(base),
               "cavp_dir": str(base), "backbone_dir": str(base), **extra}  # fmt: skip
        cfg = tmp_path / f"{phase}.yaml"
        cfg.write_text(yaml.safe_dump(doc))
        _train(cfg, data, tmp_path / "a" / phase)
        straight = load_file(str(tmp_path / "a" / phase / "model" / "pavas.safetensors"))
        run_b = tmp_path / "b" / phase
        _train(cfg, data, run_b)
        shutil.rmtree(run_b / "checkpoints" / "step-0000002")
        shutil.rmtree(run_b / "model")
        _train(cfg, data, run_b, "--resume")
        resumed = load_file(str(run_b / "model" / "pavas.safetensors"))
        for key in straight:
            assert torch.equal(straight[key], resumed[key]), f"{phase}: {key} differs after resume"
        written = json.loads((tmp_path / "a" / phase / "model" / "config.json").read_text())
        assert written["family"] == "pavas" and set(written["parts"]) == {"vae", "cavp", "pavas"}
        if phase == "adapter":  # the adapter trained; statistics stored with the model
            assert written["parts"]["pavas"]["mass_stats"][1] > 0
            assert any("g_mass.2.weight" in k and straight[k].abs().sum() > 0 for k in straight)
    # physics from the estimator on the training videos, as the pipeline gives it at inference
    doc.update(physics="ppe", videos=str(tmp_path / "d" / "raw"), max_steps=1)
    cfg.write_text(yaml.safe_dump(doc))
    _train(cfg, data, tmp_path / "ppe")
    stats = json.loads((tmp_path / "ppe" / "model" / "config.json").read_text())
    assert stats["parts"]["pavas"]["mass_stats"] != written["parts"]["pavas"]["mass_stats"]
    assert stats["parts"]["pavas"]["prior_mass_kg"] is None
    # mass: truth: the estimator's objects carry the striker's recorded mass; its median is kept
    doc.update(mass="truth", physics_scale=3.0)
    cfg.write_text(yaml.safe_dump(doc))
    _train(cfg, data, tmp_path / "ppe_tm")
    written = json.loads((tmp_path / "ppe_tm" / "model" / "config.json").read_text())
    assert written["sampling"]["physics_scale"] == 3.0  # the model's default guidance
    part = written["parts"]
    masses = [json.loads(p.read_text())["hits"][0]["striker_mass_kg"]
              for p in sorted((tmp_path / "d" / "raw").glob("*_physics.json"))]  # fmt: skip
    train = [m for m, v in zip(masses, SegmentData.open(data).videos, strict=True)
             if v["split"] == "train"]  # fmt: skip
    assert part["pavas"]["prior_mass_kg"] == pytest.approx(float(np.median(train)), rel=1e-5)
    low, high = np.log1p(min(train)), np.log1p(max(train))
    assert low - 1e-6 <= part["pavas"]["mass_stats"][0] <= high + 1e-6
    doc["physics"] = "truth"
    cfg.write_text(yaml.safe_dump(doc))
    args = ["train", "pavas", "--config", str(cfg), "--data", str(data), "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "tm2"), "--device", "cpu"]) == 2
    assert "with physics ppe" in capsys.readouterr().err
    doc.update(physics="ppe", mass="estimate", videos=str(tmp_path))
    cfg.write_text(yaml.safe_dump(doc))
    assert main([*args, "--out", str(tmp_path / "ppe2"), "--device", "cpu"]) == 2
    assert "physics ppe reads the videos" in capsys.readouterr().err


def test_a_model_trained_on_known_masses_gives_estimated_objects_its_prior(
    pavas_dir, video, tmp_path
):
    doc = json.loads((pavas_dir / "config.json").read_text())
    doc["parts"]["pavas"]["prior_mass_kg"] = 0.07
    prior_dir = tmp_path / "prior"
    shutil.copytree(pavas_dir, prior_dir)
    (prior_dir / "config.json").write_text(json.dumps(doc))
    pipe = load_pipeline(prior_dir)
    objects = pipe.estimate(video)
    assert objects and all(o.mass_source == "estimated" for o in objects)
    base = pipe.synthesize(video, objects=objects, griffin_lim_iters=2)
    assert base.settings["physics"]["mass_kg"] == [0.07] * min(len(objects), 2)
    heavy = pipe.synthesize(video, objects=objects, mass_scale=2.0, griffin_lim_iters=2)
    assert heavy.settings["physics"]["mass_kg"] == [0.14] * min(len(objects), 2)
    given = [dataclasses.replace(o, mass_kg=0.5, mass_source="given") for o in objects]
    told = pipe.synthesize(video, objects=given, griffin_lim_iters=2)
    assert told.settings["physics"]["mass_kg"] == [0.5] * min(len(objects), 2)
    old = load_pipeline(pavas_dir)  # a model without a prior keeps the estimate
    assert old.nets["pavas"].cfg.prior_mass_kg is None


def test_level_change_of_a_doubled_soundtrack_is_6_db(video, tmp_path, capsys):
    from physfoley.audio.io import load_audio, write_audio

    raw = video.parent
    name = video.name.removesuffix("_denoised.mp4")
    wave, rate = load_audio(raw / f"{name}_denoised.wav")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_audio(tmp_path / "a" / f"{name}.wav", wave * 0.4, rate)
    write_audio(tmp_path / "b" / f"{name}.wav", wave * 0.8, rate)
    args = ["eval", "level-change", str(tmp_path / "a"), str(tmp_path / "b")]
    assert main([*args, "--physics-dir", str(raw), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["num_hits"] > 0 and abs(doc["median_db"] - 6.02) < 0.1
    assert (
        main(
            ["eval", "level-change", str(tmp_path / "a"), str(tmp_path), "--physics-dir", str(raw)]
        )
        == 2
    )
    assert "share no soundtrack" in capsys.readouterr().err


def _reference_sampler(net, cond, shape, steps, cfg_scale, generator):
    """The Euler sampler with classifier-free guidance as written before physics guidance."""
    x = torch.randn(shape, generator=generator)
    b = shape[0]
    both = {k: torch.cat([v, v]) for k, v in cond.items()}
    drop = torch.cat([torch.zeros(b, dtype=torch.bool), torch.ones(b, dtype=torch.bool)])
    for i in range(steps):
        t = torch.full((b,), i / steps)
        v_c, v_u = net(torch.cat([x, x]), torch.cat([t, t]) * 1000.0, both, drop).chunk(2)
        x = x + ((1 + cfg_scale) * v_c - cfg_scale * v_u) / steps
    return x


def test_physics_guidance_amplifies_only_what_the_physics_changes():
    from physfoley.diffusion.flow import sample_flow

    torch.manual_seed(3)
    net = build_network("pavas", _cfg(), SOUND).eval()
    torch.nn.init.normal_(net.proj_out.weight, std=0.5)  # zero-initialised output and
    for block in net.trunk.blocks:  # physics path: switch them on
        torch.nn.init.normal_(block.g_mass[-1].weight, std=0.5)
        torch.nn.init.normal_(block.g_vel[-1].weight, std=0.5)
    cond = _physics()
    shape = (2, *SOUND.latent_shape)

    def run(c, **kw):
        with torch.no_grad():
            return sample_flow(net, c, shape, steps=3, cfg_scale=2.0,
                               generator=torch.Generator().manual_seed(0), device="cpu", **kw)  # fmt: skip

    with torch.no_grad():
        ref = _reference_sampler(net, cond, shape, 3, 2.0, torch.Generator().manual_seed(0))
    assert torch.allclose(run(cond), ref, atol=1e-6)  # lambda = 0: CFG exactly as before
    base, guided = run(cond), run(cond, physics_scale=2.0)
    assert not torch.allclose(base, guided, atol=1e-4)
    heavy = {**cond, "mass": cond["mass"] * 4}
    # the edit's effect grows with the physics guidance
    small = (run(heavy) - base).abs().mean()
    large = (run(heavy, physics_scale=2.0) - guided).abs().mean()
    assert large > 1.5 * small
    video_only = {"video": cond["video"]}  # no physics in cond: the scale does nothing
    assert torch.equal(run(video_only), run(video_only, physics_scale=3.0))


def test_shift_level_moves_the_log_mel_and_keeps_its_floor():
    from physfoley.audio.mel import log_mel, shift_level

    rng = np.random.default_rng(0)
    wave = (rng.standard_normal(16000) * np.exp(-np.linspace(0, 12, 16000))).astype(np.float32)
    wave[:4000] = 0.0  # digital silence: the floor
    spec = log_mel(wave * 0.05, SOUND)[0].numpy()
    louder = log_mel(wave * 0.1, SOUND)[0].numpy()
    moved = shift_level(spec, 20 * np.log10(2.0), SOUND)
    above = spec > -0.95
    assert np.allclose(moved[above], louder[above], atol=1e-4)
    assert np.all(moved[spec <= -1.0] == -1.0)
    assert shift_level(np.array([0.99]), 6.0, SOUND)[0] == 1.0


def test_what_if_augmentation_trains_on_recorded_levels_only(tmp_path, capsys):
    from physfoley.data.segments import SegmentOptions, prepare_segments

    peak = make_segments(tmp_path / "d", videos=2, seconds=4.5)
    recorded = tmp_path / "rec"
    prepare_segments(tmp_path / "d" / "raw", recorded,
                     SegmentOptions(preset="small", test_fraction=0.5, level="recorded"))  # fmt: skip
    base = tiny_model_dir(tmp_path / "df", classifier=False)
    doc = {"stage": "pavas", "phase": "adapter", "lr": 1e-4, "max_steps": 1, "warmup_steps": 1,
           "batch_size": 4, "vae_dir": str(base), "cavp_dir": str(base), "backbone_dir": str(base),
           "model": {"dim": 32, "depth": 1, "heads": 2, "phys_dim": 16, "fourier": 3},
           "level_augment": 1.0}  # fmt: skip
    cfg = tmp_path / "a.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    _train(cfg, recorded, tmp_path / "aug")
    caches = sorted(p.name for p in (tmp_path / "aug" / "cache").glob("train*.npz"))
    assert caches == ["train.npz", "train_+6.02dB.npz", "train_-6.02dB.npz"]
    with (
        np.load(tmp_path / "aug" / "cache" / "train.npz") as a,
        np.load(tmp_path / "aug" / "cache" / "train_+6.02dB.npz") as b,
    ):
        assert a["mean0"].shape == b["mean0"].shape and not np.allclose(a["mean0"], b["mean0"])
    written = json.loads((tmp_path / "aug" / "model" / "config.json").read_text())
    assert written["training"]["pavas_adapter"]["segments_level"] == "recorded"
    args = ["train", "pavas", "--config", str(cfg), "--data", str(peak), "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "bad"), "--device", "cpu"]) == 2
    assert "--level recorded" in capsys.readouterr().err


def test_physics_scale_flag_reaches_pavas_models_only(pavas_dir, video, tmp_path, capsys):
    args = ["synthesize", str(video), "-o", str(tmp_path / "p.wav"), "--model", str(pavas_dir)]
    assert main([*args, "--physics-scale", "1.5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["physics_scale"] == 1.5
    per_impact = ["synthesize", str(video), "-o", str(tmp_path / "q.wav")]
    assert main([*per_impact, "--physics-scale", "1"]) == 2
    assert "--physics-scale needs a pavas model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--physics-scale", "-1", "--force"])
    assert exit_.value.code == 2 and "--physics-scale" in capsys.readouterr().err
    assert not (tmp_path / "q.wav").exists()
