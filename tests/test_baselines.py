"""Section-4.3 baselines, Fig. 5 ablations and the reproduce_tables script (quick mode)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_eval_classifier import MATERIALS, write_prepared

from physfoley.config import get_preset
from physfoley.errors import InputError
from physfoley.evaluation import baselines as B
from physfoley.models import baselines as MB
from physfoley.training import baselines as TB

AUDIO = get_preset("small")
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "reproduce_tables.py"


def _inputs(n: int, seed: int = 0) -> TB.ClipInputs:
    """Synthetic ClipInputs: spectrogram level set by the first visual feature."""
    rng = np.random.default_rng(seed)
    f, t = AUDIO.spec_shape
    feats = rng.normal(size=(n, 8, 16)).astype(np.float32)
    level = np.tanh(feats[:, :, 0].mean(1))[:, None, None]
    spec = np.clip(-0.5 + 0.4 * level + 0.01 * rng.normal(size=(n, f, t)), -1, 1).astype(np.float32)
    k, m = AUDIO.num_freqs, 100
    raw = {
        "freq_hz": np.tile(
            np.arange(k, dtype=np.float32) * AUDIO.sample_rate / AUDIO.n_fft, (n, 1)
        ),
        "power_db": rng.uniform(-80, 0, size=(n, k)).astype(np.float32),
        "decay_db_per_s": rng.uniform(50, 500, size=(n, k)).astype(np.float32),
        "band_weight": rng.uniform(0, 1, size=(n, m)).astype(np.float32),
        "band_decay_db_per_s": rng.uniform(100, 1000, size=(n, m)).astype(np.float32),
    }
    from physfoley.models.physics_encoder import normalize_physics

    norm = normalize_physics({k_: torch.from_numpy(v) for k_, v in raw.items()}, AUDIO)
    return TB.ClipInputs(
        frame_feats=feats, nu=feats.mean(1), spec=spec,
        labels=rng.integers(0, 10, size=n), mfcc=rng.normal(size=(n, 20 * t)).astype(np.float32),
        spec_pool=B.pooled_spectrogram(spec), physics={k_: v.numpy() for k_, v in norm.items()},
        raw_physics=raw,
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.mark.parametrize("method", MB.METHODS)
def test_every_method_trains_and_generates(method):
    train, test = _inputs(24), _inputs(6, seed=1)
    s = TB.TrainSettings(steps=2, batch_size=8, sample_steps=3)
    tm = TB.train_method(method, train, AUDIO, s)
    retrieved = train.take(B.retrieve(train, test))
    out = tm.generate(test, retrieved, seed=0)
    assert out.shape == (6, *AUDIO.spec_shape)
    assert torch.isfinite(out).all() and out.abs().max() <= 1.0
    if method in MB.CONDITIONS:  # sampling is seeded: same seed same sample, another seed differs
        again = tm.generate(test, retrieved, seed=0)
        other = tm.generate(test, retrieved, seed=1)
        assert torch.equal(out, again)
        assert not torch.equal(out, other)


def test_conditions_use_the_retrieved_latent():
    train = _inputs(16)
    for cond, key in (
        ("video+label", "label"),
        ("video+mfcc", "mfcc"),
        ("video+spec", "spec_pool"),
    ):
        net = MB.ConditionalDiffusion(cond, AUDIO, 16, mfcc_dim=train.mfcc.shape[1])
        b = train.tensors(np.arange(4))
        c1 = net.conditions(b)
        assert set(c1) == {"nu", "z"}
        b2 = dict(b)
        b2[key] = train.tensors(np.arange(4, 8))[key]
        assert not torch.allclose(c1["z"], net.conditions(b2)["z"])
    assert set(MB.ConditionalDiffusion("video", AUDIO, 16).conditions(b)) == {"nu"}
    with pytest.raises(InputError):
        MB.ConditionalDiffusion("video+smell", AUDIO, 16)


def test_retrieval_is_nearest_visual_latent():
    train = _inputs(20)
    assert np.array_equal(B.retrieve(train, train), np.arange(20))
    shuffled = train.take(np.arange(20)[::-1])
    assert np.array_equal(B.retrieve(train, shuffled), np.arange(20)[::-1])


def test_convnet_learns_the_video_to_level_mapping():
    """The ConvNet regression must beat predicting the mean spectrogram on held-out clips."""
    train, test = _inputs(96), _inputs(24, seed=3)
    tm = TB.train_method(
        "convnet", train, AUDIO, TB.TrainSettings(steps=100, batch_size=16, lr=2e-3)
    )
    pred = tm.generate(test, test)
    mse = float(((pred - torch.from_numpy(test.spec)) ** 2).mean())
    baseline = float(((train.spec.mean(0) - test.spec) ** 2).mean())
    assert mse < 0.5 * baseline


def test_transformer_is_causal():
    net = MB.TransformerBaseline(16, *AUDIO.spec_shape).eval()
    x = _inputs(2)
    feats, spec = torch.from_numpy(x.frame_feats), torch.from_numpy(x.spec)
    changed = spec.clone()
    changed[:, :, 30:] = 0.5
    a, b = net(feats, spec), net(feats, changed)
    assert torch.allclose(a[:, :, :31], b[:, :, :31], atol=1e-5)  # frame t sees frames < t
    assert not torch.allclose(a[:, :, 31:], b[:, :, 31:])


def test_physics_resynthesis_modal_and_residual():
    x = _inputs(3)
    modal = B.physics_resynthesis(x.raw_physics, AUDIO, residual=False)
    both = B.physics_resynthesis(x.raw_physics, AUDIO, residual=True)
    assert modal.shape == both.shape == (3, *AUDIO.spec_shape)
    assert not torch.allclose(modal, both)


def _fixture_data(tmp_path: Path) -> Path:
    data = write_prepared(tmp_path / "data", videos_per_material=4, clips_per_video=3)
    n = int(np.load(data / "waves.npy").shape[0])
    rng = np.random.default_rng(0)
    np.save(data / "band_weight.npy", rng.uniform(0, 0.2, size=(n, 100)).astype(np.float32))
    np.save(data / "band_decay_db_per_s.npy", np.full((n, 100), 300.0, np.float32))
    power = np.full((n, AUDIO.num_freqs), -80.0, np.float32)
    power[:, 40] = 0.0  # one mode, so modal synthesis is not silence
    np.save(data / "power_db.npy", power)
    np.save(data / "decay_db_per_s.npy", np.full((n, AUDIO.num_freqs), 200.0, np.float32))
    freq = np.arange(AUDIO.num_freqs, dtype=np.float32) * AUDIO.sample_rate / AUDIO.n_fft
    np.save(data / "freq_hz.npy", np.tile(freq, (n, 1)))
    return data


def test_residual_band_ablation_runs_on_a_dataset(tmp_path):
    from physfoley.data.datasets import PreparedData

    data = PreparedData.open(_fixture_data(tmp_path))
    out = TB.residual_band_ablation(data, AUDIO, (0, 4), steps=1, batch_size=4, eval_clips=4)
    assert set(out) == {0, 4}
    assert all(np.isfinite(v) and v > 0 for v in out.values())


def _script_main():
    """`main` of benchmarks/reproduce_tables.py, imported from its file (not a package)."""
    spec = importlib.util.spec_from_file_location("reproduce_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_reproduce_tables_quick(tmp_path, capsys):
    """The documented script end to end (tiny steps): tables, plots, resumable runs."""
    from safetensors.torch import save_file

    from physfoley.config import model_config
    from physfoley.evaluation.classifier import (
        ClassifierConfig,
        EvalClassifier,
        MaterialResNet,
        save_eval_classifier,
    )
    from physfoley.models.factory import build_visual_encoder

    data = _fixture_data(tmp_path)
    cfg = model_config("small")
    vis = tmp_path / "visual"
    vis.mkdir()
    save_file(build_visual_encoder(cfg).state_dict(), str(vis / "visual_encoder.safetensors"))
    (vis / "visual.json").write_text(json.dumps({"model_config": cfg.to_dict()}))
    ccfg = ClassifierConfig(widths=(4, 8), embed_dim=16)
    save_eval_classifier(
        tmp_path / "clf", EvalClassifier(MaterialResNet(ccfg), ccfg, AUDIO, MATERIALS, {})
    )
    out = tmp_path / "out"
    main = _script_main()
    argv = [str(data),
           "--visual", str(vis), "--classifier", str(tmp_path / "clf"), "--out", str(out),
           "--quick", "--img-dir", str(tmp_path / "img")]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads((out / "tables.json").read_text())
    assert set(doc["table1"]) == set(MB.METHODS)
    for key in ("video", "video+physics"):  # headline rows over three seeds
        assert doc["table1"][key]["seeds"] == [0, 1, 2]
        assert len(doc["table1"][key]["metrics"]["fid"]["values"]) == 3
    assert set(doc["table3"]) == {"nn-visual", "nn-sound", "video+physics"}
    assert set(doc["fig5a_mrstft_by_bands"]) == {"0", "4"}
    assert len(doc["fig5b"]) == 4
    md = (out / "tables.md").read_text()
    assert "| Video + Physics Diffusion (ours) |" in md and "seeds 0, 1, 2" in md
    assert (tmp_path / "img" / "eval_fig5a.png").stat().st_size > 1000
    assert (tmp_path / "img" / "eval_fig5b.png").stat().st_size > 1000
    # Second start reuses every finished run (nothing retrained, same numbers).
    before = (out / "runs" / "video_physics_s0.json").read_text()
    capsys.readouterr()
    # ... and writes the tables into a results page between its markers, keeping the rest.
    page = tmp_path / "RESULTS.md"
    page.write_text(
        "# top\n\n<!-- reproduce_tables:begin -->\nold\n<!-- reproduce_tables:end -->\ntail\n"
    )
    assert main([*argv, "--results-md", str(page)]) == 0
    assert "seed 0: FID" not in capsys.readouterr().err
    assert (out / "runs" / "video_physics_s0.json").read_text() == before
    text = page.read_text()
    assert text.startswith("# top\n") and text.endswith("<!-- reproduce_tables:end -->\ntail\n")
    assert "old" not in text and "### Table 1 (Su et al. layout)" in text
    assert "| Video + Physics Diffusion (ours) |" in text and "eval_fig5b.png" in text
    page.write_text("no markers\n")
    with pytest.raises(InputError, match="must contain one line"):
        main([*argv, "--results-md", str(page)])
    assert page.read_text() == "no markers\n"


def test_same_material_retrieval_stays_within_the_material():
    train, test = _inputs(30), _inputs(8, seed=2)
    rows = B.retrieve_same_material(train, test)
    if rows is None:  # a test material without training clips
        assert set(test.labels) - set(train.labels)
    else:
        assert np.array_equal(train.labels[rows], test.labels)
    train.labels[:] = 0
    test.labels[:] = 0
    assert np.array_equal(B.retrieve_same_material(train, test), B.retrieve(train, test))
    test.labels[0] = 5
    assert B.retrieve_same_material(train, test) is None
