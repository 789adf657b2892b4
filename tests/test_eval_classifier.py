"""Evaluation classifier, report tables and the `physfoley eval` command on a tiny prepared dataset."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from physfoley.cli import main
from physfoley.config import get_preset
from physfoley.errors import InputError, ModelError
from physfoley.evaluation import report as R
from physfoley.evaluation.classifier import (
    ClassifierConfig,
    EvalClassifier,
    MaterialResNet,
    load_eval_classifier,
    save_eval_classifier,
    waves_to_spectrograms,
)
from physfoley.evaluation.classifier_training import augment_spectrograms, train_eval_classifier
from physfoley.evaluation.runner import score_generated, summarize_runs
from physfoley.materials import MATERIALS as GH_MATERIALS

MATERIALS = list(GH_MATERIALS)
# Four materials, each a distinct set of modes (Hz) and decay time: learnable from the spectrogram.
MODES = {
    0: ([2500, 5200, 7900], 0.08),
    1: ([300, 650], 0.02),
    3: ([900, 1800, 3700], 0.2),
    8: ([], 0.01),
}


def _clip(material: int, rng: np.random.Generator, cfg) -> np.ndarray:
    t = np.arange(cfg.num_samples) / cfg.sample_rate
    freqs, tau = MODES[material]
    wave = 0.05 * rng.normal(size=t.size) * np.exp(-t / 0.01)  # contact noise
    for f in freqs:
        f = f * rng.uniform(0.95, 1.05)
        wave += (
            rng.uniform(0.5, 1.0)
            * np.sin(2 * np.pi * f * t)
            * np.exp(-t / (tau * rng.uniform(0.8, 1.2)))
        )
    if not freqs:  # paper: a noisy crackle
        wave += rng.normal(size=t.size) * np.exp(-t / tau)
    return (wave * rng.uniform(0.2, 1.0)).astype(np.float32)


def write_prepared(
    root: Path, *, videos_per_material: int = 5, clips_per_video: int = 4, seed: int = 0
) -> Path:
    """A minimal prepared folder (PreparedData format) of synthetic modal clips, `small` preset."""
    cfg = get_preset("small")
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    rows, waves = [], []
    for material in MODES:
        for v in range(videos_per_material):
            split = "test" if v == 0 else "train"
            for c in range(clips_per_video):
                rows.append(
                    {
                        "clip_id": len(rows),
                        "video": f"{MATERIALS[material]}_{v}",
                        "time_s": 0.5 * (c + 1),
                        "onset_frame": 15 * (c + 1),
                        "material": MATERIALS[material],
                        "material_id": material,
                        "action": "hit",
                        "reaction": "static",
                        "split": split,
                    }
                )
                waves.append(_clip(material, rng, cfg))
    n = len(rows)
    k = cfg.num_freqs
    np.save(root / "waves.npy", np.stack(waves))
    np.save(root / "frames.npy", rng.integers(0, 255, size=(n, 22, 8, 8, 3), dtype=np.uint8))
    for name in ("freq_hz", "power_db", "decay_db_per_s"):
        np.save(root / f"{name}.npy", np.zeros((n, k), np.float32))
    with open(root / "index.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    meta = {
        "format": "physfoley-prepared",
        "version": 1,
        "preset": cfg.to_dict(),
        "materials": MATERIALS,
        "num_clips": n,
        "frames_per_window": 22,
        "image_size": 8,
    }
    (root / "meta.json").write_text(json.dumps(meta))
    return root


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    return write_prepared(tmp_path_factory.mktemp("prep") / "data")


@pytest.fixture(scope="module")
def trained(prepared):
    """(EvalClassifier, test specs, test labels) trained quickly on the synthetic clips."""
    from physfoley.data.datasets import PreparedData

    torch.set_num_threads(1)
    data = PreparedData.open(prepared)
    cfg = get_preset("small")
    labels = data.column("material_id")
    tr, te = data.indices("train"), data.indices("test")
    specs_tr = waves_to_spectrograms(data.arrays["waves"][tr], cfg)
    specs_te = waves_to_spectrograms(data.arrays["waves"][te], cfg)
    ccfg = ClassifierConfig(widths=(8, 16, 32), epochs=20, batch_size=16, lr=3e-3)
    model, history = train_eval_classifier(specs_tr, torch.as_tensor(labels[tr]), ccfg)
    clf = EvalClassifier(model, ccfg, cfg, MATERIALS, {"history": history})
    return clf, specs_te, labels[te]


@pytest.mark.parametrize("preset", ["small", "paper"])
def test_resnet_shapes(preset):
    f, t = get_preset(preset).spec_shape
    model = MaterialResNet(ClassifierConfig(widths=(8, 16), embed_dim=24))
    x = torch.randn(3, f, t)
    assert model(x).shape == (3, 10)
    assert model.embed(x).shape == (3, 24)
    with pytest.raises(InputError):
        model.embed(torch.randn(3, 1, f, t))


def test_classifier_learns_materials(trained):
    clf, specs, labels = trained
    out = clf.features(specs)
    assert out["probs"].shape == (len(labels), 10)
    assert np.allclose(out["probs"].sum(1), 1.0)
    acc = float((out["probs"].argmax(1) == labels).mean())
    assert acc >= 0.9  # four well-separated materials; chance is 0.25
    # Shuffled labels must score far lower: the accuracy measures something.
    assert float((out["probs"].argmax(1) == np.roll(labels, 4)).mean()) < 0.5


def test_training_is_seeded(prepared):
    x = torch.randn(12, 257, 44)
    y = torch.arange(12) % 3
    cfg = ClassifierConfig(widths=(4, 8), epochs=1, batch_size=6)
    a, _ = train_eval_classifier(x, y, cfg)
    b, _ = train_eval_classifier(x, y, cfg)
    assert torch.equal(a(x), b(x))
    with pytest.raises(InputError):
        train_eval_classifier(x, y + 10, cfg)


def test_save_load_roundtrip_and_errors(trained, tmp_path):
    clf, specs, _ = trained
    out = save_eval_classifier(tmp_path / "clf", clf)
    loaded = load_eval_classifier(out)
    assert loaded.config == clf.config and loaded.materials == MATERIALS
    assert loaded.audio == clf.audio
    np.testing.assert_allclose(
        loaded.features(specs)["embedding"], clf.features(specs)["embedding"], atol=1e-6
    )
    with pytest.raises(InputError, match="exists"):
        save_eval_classifier(out, clf)
    save_eval_classifier(out, clf, force=True)
    with pytest.raises(ModelError, match="does not exist"):
        load_eval_classifier(tmp_path / "nope")
    (out / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="safetensors"):
        load_eval_classifier(out)
    (out / "config.json").write_text('{"format": "something-else"}')
    with pytest.raises(ModelError, match="not an evaluation classifier"):
        load_eval_classifier(out)


def test_score_generated_real_vs_degraded(trained):
    clf, specs, labels = trained
    same = score_generated(clf, specs, labels, specs, kid_subsets=10, kid_subset_size=8)
    assert same["fid"] == pytest.approx(0.0, abs=1e-6)
    assert same["kl"] == pytest.approx(0.0, abs=1e-9)
    assert same["spec_mse"] == 0.0
    assert same["recognition_ratio"] == pytest.approx(1.0)
    # Generated = the ground truth of another material: every metric must get worse.
    other = torch.roll(specs, shifts=len(labels) // 4, dims=0)
    wrong = score_generated(clf, specs, labels, other, kid_subsets=10, kid_subset_size=8)
    assert wrong["kl"] > 1.0 and wrong["recognition_acc"] < 0.5 and wrong["spec_mse"] > 0.01
    noise = torch.rand_like(specs) * 2 - 1
    bad = score_generated(clf, specs, labels, noise, kid_subsets=10, kid_subset_size=8)
    assert bad["fid"] > 1.0 and bad["kid_mean"] > 0


def test_report_tables_show_seeds_and_spread():
    runs = [
        {
            "fid": 10.0,
            "kid_mean": 0.01,
            "kid_std": 0.002,
            "kl": 1.0,
            "recognition_acc": 0.7,
            "spec_mse": 0.1,
        },
        {
            "fid": 12.0,
            "kid_mean": 0.02,
            "kid_std": 0.004,
            "kl": 1.2,
            "recognition_acc": 0.8,
            "spec_mse": 0.2,
        },
    ]
    rep = R.build_report(
        summarize_runs(runs), name="Ours", n_clips=50, seeds=[0, 1], settings={"split": "test"}
    )
    t1 = R.table1_markdown([rep])
    assert (
        "| Ours | 11.00 ± 1.41 | 0.0150 ± 0.0071, 0.0030 ± 0.0014 | 1.100 ± 0.141 | 75.00 ± 7.07 |"
        in t1
    )
    assert "n = 50 test clips, seeds 0, 1" in t1
    t3 = R.table3_markdown([rep])
    assert "| Ours | 1.100 ± 0.141 | 0.1500 ± 0.0707 |" in t3
    one = R.build_report(summarize_runs(runs[:1]), name="A", n_clips=5, seeds=[3], settings={})
    assert "| A | 10.00 | 0.0100, 0.0020 | 1.000 | 70.00 |" in R.table1_markdown([one])


def test_cli_train_classifier_then_eval_generated(prepared, tmp_path, capsys):
    clf_dir = tmp_path / "clf"
    rc = main(["eval", "train-classifier", "--data", str(prepared), "--out", str(clf_dir), "--epochs", "20",
               "--batch-size", "16", "--widths", "8,16,32", "--json"])  # fmt: skip
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["test_clips"] == 16 and doc["test_accuracy"] >= 0.75
    assert load_eval_classifier(clf_dir).info["test_accuracy"] == doc["test_accuracy"]
    floor = doc["reference_distances"]["train_vs_test"]
    assert (
        floor["n"] == [doc["train_clips"] + doc["val_clips"], 16]
        and floor["fid"] >= 0
        and np.isfinite(floor["kid_mean"])
    )
    # refuses to overwrite
    assert main(["eval", "train-classifier", "--data", str(prepared), "--out", str(clf_dir)]) == 2
    capsys.readouterr()

    from physfoley.data.datasets import PreparedData

    data = PreparedData.open(prepared)
    rows = data.indices("test")
    waves = np.asarray(data.arrays["waves"][rows])
    gen = tmp_path / "gen.npz"
    # two "seeds": the real clips themselves, and the real clips of other materials
    np.savez(gen, rows=rows, waves=np.stack([waves, np.roll(waves, 4, axis=0)]))
    out = tmp_path / "report"
    rc = main(["eval", "--generated", str(gen), "--data", str(prepared), "--classifier", str(clf_dir),
               "--out", str(out), "--kid-subsets", "5", "--json"])  # fmt: skip
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    m = rep["metrics"]
    # A permutation of the real set is the same distribution (FID 0 both times), but each
    # clip's posterior now differs from its own ground truth's: KL up, recognition down.
    assert m["fid"]["values"] == pytest.approx([0.0, 0.0], abs=1e-6)
    assert m["kl"]["values"][0] == pytest.approx(0.0, abs=1e-9) and m["kl"]["values"][1] > 1.0
    assert m["recognition_acc"]["values"][1] < 0.5 * m["recognition_acc"]["values"][0]
    assert rep["n_clips"] == 16 and rep["seeds"] == [0, 1]
    # the ratio's interval resamples videos and brackets the ratio of the pooled seeds
    low, high = rep["settings"]["recognition_ratio_ci95"]
    assert low - 1e-9 <= m["recognition_ratio"]["mean"] <= high + 1e-9
    assert "95 % interval over videos" in (out / "report.md").read_text()
    assert (out / "report.md").read_text().count("| gen |") == 2
    assert main(["eval", "--generated", str(gen), "--data", str(prepared), "--classifier", str(clf_dir),
                 "--out", str(out)]) == 2  # fmt: skip


def test_cli_eval_bad_input(prepared, tmp_path, capsys):
    assert main(["eval", "--data", str(prepared)]) == 2  # neither --model nor --generated
    assert main(["eval", "--model", "x", "--generated", "y", "--data", str(prepared)]) == 2
    bad = tmp_path / "bad.npz"
    np.savez(bad, rows=np.array([0, 1]), specs=np.zeros((2, 257, 44), np.float32))
    rc = main(
        [
            "eval",
            "--generated",
            str(bad),
            "--data",
            str(prepared),
            "--classifier",
            str(tmp_path / "none"),
        ]
    )
    assert rc == 2
    assert "evaluation classifier" in capsys.readouterr().err


def test_cli_eval_onsets_on_real_soundtracks(gh_demo_dir, tmp_path, capsys):
    times = json.loads((gh_demo_dir / "impact_times.json").read_text())
    for name, info in list(times.items())[:4]:
        lines = "".join(
            f"{t + 0.3 * (i == 1)} wood hit static\n" for i, t in enumerate(info["impact_times_s"])
        )
        (tmp_path / name.replace(".mp4", "_times.txt")).write_text(lines)
        (tmp_path / "tracks").mkdir(exist_ok=True)
        (tmp_path / "tracks" / name).symlink_to(gh_demo_dir / name)
    assert (
        main(["eval", "onsets", str(tmp_path / "tracks"), "--times-dir", str(tmp_path), "--json"])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    # one of three annotated times per track is 0.3 s late: 2/3 matched
    assert doc["num_soundtracks"] == 4 and doc["onset_acc"] == pytest.approx(2 / 3)
    (tmp_path / "tracks" / "extra.wav").write_bytes(b"")
    assert main(["eval", "onsets", str(tmp_path / "tracks"), "--times-dir", str(tmp_path)]) == 2


def test_cli_eval_model_end_to_end(tmp_path, capsys):
    """`physfoley eval --model`: an (untrained) small model dir + bank generates, scores, reports."""
    from physfoley.model_dir import save_model_dir
    from physfoley.models.factory import build_model
    from physfoley.training.diffusion import build_physics_bank

    torch.set_num_threads(1)
    root = write_prepared(tmp_path / "data", videos_per_material=2, clips_per_video=2)
    n = np.load(root / "waves.npy", mmap_mode="r").shape[0]
    rng = np.random.default_rng(0)
    np.save(root / "band_weight.npy", rng.uniform(0, 1, (n, 100)).astype(np.float32))
    np.save(root / "band_decay_db_per_s.npy", rng.uniform(10, 100, (n, 100)).astype(np.float32))
    torch.manual_seed(0)
    model = build_model("small")
    bank = build_physics_bank(model, root)
    save_model_dir(tmp_path / "model", model, before_commit=lambda d: bank.save(d))
    assert (
        main(["eval", "train-classifier", "--data", str(root), "--epochs", "1", "--widths", "4,8"])
        == 0
    )
    args = ["eval", "--model", str(tmp_path / "model"), "--data", str(root), "--sampler", "ddim",
            "--steps", "2", "--samples-per-clip", "2", "--kid-subsets", "3", "--json",
            "--save-generated"]  # fmt: skip
    capsys.readouterr()
    assert main(args) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["n_clips"] == 8 and rep["seeds"] == [0, 1]
    assert rep["settings"]["sampler"] == "ddim" and "--steps 2" in rep["settings"]["command"]
    mse = rep["metrics"]["spec_mse"]["values"]
    assert all(v > 0.01 for v in mse) and mse[0] != mse[1]  # untrained: far off, seeds differ
    assert (tmp_path / "model" / "eval-test" / "report.md").is_file()
    # the saved samples re-score to the same numbers through --generated
    saved = tmp_path / "model" / "eval-test" / "generated.npz"
    with np.load(saved) as z:
        assert z["specs"].shape == (2, 8, 257, 44) and z["specs"].dtype == np.float16
    assert (
        main(
            ["eval", "--generated", str(saved), "--data", str(root), "--kid-subsets", "3", "--json"]
        )
        == 0
    )
    again = json.loads(capsys.readouterr().out)["metrics"]["spec_mse"]["values"]
    assert again == pytest.approx(mse, abs=1e-3)  # float16 storage
    assert main(args) == 2  # report exists, no --force

    # Table 3 baselines through the same model's visual encoder, then scored by --generated.
    for kind in ("nn-visual", "nn-sound"):
        npz = tmp_path / f"{kind}.npz"
        cmd = ["eval", "baseline", kind, "--model", str(tmp_path / "model"), "--data", str(root),
               "--out", str(npz), "--epochs", "2", "--json"]  # fmt: skip
        assert main(cmd) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["n_clips"] == 8 and 0.0 <= doc["same_material"] <= 1.0
        with np.load(npz) as z:
            assert z["specs"].shape == (1, 8, 257, 44)
            train = set(
                np.flatnonzero(
                    np.loadtxt(root / "index.csv", dtype=str, delimiter=",", skiprows=1)[:, -1]
                    == "train"
                )
            )
            assert set(z["neighbours"].tolist()) <= train  # retrieved from the training split only
        assert (
            main(
                [
                    "eval",
                    "--generated",
                    str(npz),
                    "--data",
                    str(root),
                    "--kid-subsets",
                    "3",
                    "--json",
                ]
            )
            == 0
        )
        rep = json.loads(capsys.readouterr().out)
        assert rep["name"] == kind and rep["metrics"]["spec_mse"]["mean"] > 0
        assert main(cmd) == 2  # exists


def test_cli_eval_apcc(tmp_path, capsys):
    """Recorded bursts scale with the energy lost; 'generated' ones with the reverse order."""
    from physfoley.audio.io import write_audio

    sr = 22050
    rng = np.random.default_rng(0)
    t = np.arange(int(0.2 * sr)) / sr
    (tmp_path / "phys").mkdir()
    (tmp_path / "gen").mkdir()
    for v in range(2):
        times = [0.5, 1.2, 1.9, 2.6, 3.3, 4.0]
        energy = np.sort(rng.uniform(0.05, 1.0, size=len(times)))  # reversed = anti-correlated
        hits = [
            {
                "time_s": ti,
                "material": ["wood", "metal"][k % 2],
                "action": "hit",
                "kinetic_energy_change_j": float(e),
            }
            for k, (ti, e) in enumerate(zip(times, energy, strict=True))
        ]
        hits.append(
            {"time_s": 4.5, "material": "wood", "action": "scratch", "kinetic_energy_change_j": 9.0}
        )
        (tmp_path / "phys" / f"v{v}_physics.json").write_text(json.dumps({"hits": hits}))
        for folder, amps in (("phys", np.sqrt(energy)), ("gen", np.sqrt(energy[::-1]))):
            wave = 1e-4 * rng.normal(size=5 * sr)
            for ti, a in zip(times, amps, strict=True):
                i = int(ti * sr)
                wave[i : i + t.size] += 0.5 * a * rng.normal(size=t.size) * np.exp(-t / 0.02)
            name = f"v{v}_denoised.wav" if folder == "phys" else f"v{v}.wav"
            write_audio(tmp_path / folder / name, wave.astype(np.float32), sr)
    assert (
        main(
            [
                "eval",
                "apcc",
                str(tmp_path / "gen"),
                "--physics-dir",
                str(tmp_path / "phys"),
                "--json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["num_hits"] == 12  # the scratch is not an impact
    assert doc["apcc_reference"] > 0.7 and doc["apcc_generated"] < -0.7
    assert doc["command"].startswith("physfoley eval apcc ") and "--split" not in doc["command"]
    assert doc["apcc_delta"] == pytest.approx(doc["apcc_reference"] - doc["apcc_generated"])
    # the recorded soundtracks scored against themselves: APCC-Delta 0
    assert (
        main(
            [
                "eval",
                "apcc",
                str(tmp_path / "phys"),
                "--physics-dir",
                str(tmp_path / "phys"),
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["apcc_delta"] == pytest.approx(0.0)


def test_augmentation_masks_and_shifts():
    spec = torch.rand(4, 257, 44) * 0.5  # no silence anywhere
    cfg = ClassifierConfig(
        time_shift_frames=0, freq_shift_bins=0, mask_frames=4, mask_bins=16, noise_std=0.0
    )
    out = augment_spectrograms(spec.clone(), cfg, torch.Generator().manual_seed(0))
    masked = out == -1.0
    assert masked.any() and (masked.sum(dim=(1, 2)) <= 4 * 257 + 16 * 44).all()
    assert torch.equal(out[~masked], spec[~masked])  # only masked cells change
    cfg = ClassifierConfig(
        time_shift_frames=0, freq_shift_bins=3, mask_frames=0, mask_bins=0, noise_std=0.0
    )
    out = augment_spectrograms(spec.clone(), cfg, torch.Generator().manual_seed(1))
    shifted = [
        k
        for k in range(-3, 4)
        if k
        and torch.equal(out[:, max(k, 0) : 257 + min(k, 0)], spec[:, max(-k, 0) : 257 - max(k, 0)])
    ]
    assert len(shifted) == 1  # this generator draws a shift (of -3 bins)
