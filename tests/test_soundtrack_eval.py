"""`physfoley eval soundtrack`: Align Acc, onsets, IS/KL/FID of whole soundtracks, either family."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _soundtrack_data import make_synthhits, tiny_model_dir

from physfoley.cli import main
from physfoley.config import get_preset
from physfoley.errors import InputError
from physfoley.evaluation.classifier import (
    ClassifierConfig,
    EvalClassifier,
    MaterialResNet,
    save_eval_classifier,
)
from physfoley.evaluation.soundtrack_eval import AlignScorer, eval_videos, onset_row
from physfoley.materials import MATERIALS


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ev")
    raw = make_synthhits(root / "raw", videos=2, seconds=2.0)
    model = tiny_model_dir(root / "model")
    align = tiny_model_dir(root / "align_eval", evaluation=True)
    net = MaterialResNet(ClassifierConfig(widths=(4, 8), embed_dim=8))
    clf = EvalClassifier(net, net.cfg, get_preset("small"), list(MATERIALS))
    return raw, model, align, save_eval_classifier(root / "clf", clf)


def test_onset_row_counts_precision_recall_and_f1():
    wave = np.zeros(32000, np.float32)
    for t in (0.5, 1.2):
        a = int(t * 16000)
        wave[a : a + 800] = np.sin(np.arange(800) * 0.3) * np.exp(-np.arange(800) / 200)
    row = onset_row(wave, np.array([0.5, 1.2]))
    assert row["onset_acc"] == 1.0 and row["onset_f1"] == pytest.approx(
        row["onset_precision"] * 2 / (row["onset_precision"] + 1)
    )
    miss = onset_row(wave, np.array([0.5, 1.2, 1.7]))
    assert miss["onset_acc"] == pytest.approx(2 / 3) and miss["onset_f1"] < row["onset_f1"]


def test_eval_soundtrack_reports_every_metric_per_seed(setup, tmp_path, capsys):
    raw, model, align, clf = setup
    out = tmp_path / "report.json"
    args = ["eval", "soundtrack", "--model", str(model), "--data", str(raw), "--seeds", "0,1",
            "--align-classifier", str(align), "--classifier", str(clf), "--steps", "2",
            "--guidance", "1", "--cg-scale", "0", "--out", str(out), "--json"]  # fmt: skip
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads(out.read_text())
    assert doc["family"] == "diff-foley" and doc["n_videos"] == 2 and doc["seeds"] == [0, 1]
    assert len(doc["per_seed"]) == 2 and doc["options"] == {
        "steps": 2,
        "cfg_scale": 0.0,
        "cg_scale": 0.0,
    }
    for key in ("onset_acc", "onset_ap", "onset_f1", "align_acc", "is", "kl", "fid"):
        assert np.isfinite(doc["mean"][key]) and key in doc["std"]
    assert 0 <= doc["mean"]["align_acc"] <= 1 and doc["per_seed"][0]["align_windows"] == 2
    assert doc["mean"]["is"] >= 1.0 and doc["per_seed"][0]["clips"] == doc["n_hits"]
    assert {"real_onset_f1", "real_align_acc"} <= set(doc["reference"])
    assert doc["command"].startswith("physfoley eval soundtrack --model")
    assert main(args) == 2 and "exists" in capsys.readouterr().err  # --out kept without --force


def test_bad_input_is_refused_with_one_line(setup, tmp_path, capsys):
    raw, model, align, _ = setup
    base = ["eval", "soundtrack", "--model", str(model), "--data", str(raw)]
    assert main([*base, "--seeds", "a"]) == 2
    assert "--seeds" in capsys.readouterr().err
    assert main([*base, "--align-classifier", str(model)]) == 2  # the model is not one
    assert "not an evaluation alignment classifier" in capsys.readouterr().err
    assert main(["eval", "soundtrack", "--data", str(raw), "--model", str(model),
                 "--max-videos", "0"]) == 2  # fmt: skip
    capsys.readouterr()
    assert main([*base[:3], "small", "--data", str(raw), "--cg-scale", "1"]) == 2
    assert "--cg-scale needs a diff-foley model" in capsys.readouterr().err
    with pytest.raises(InputError, match="no NAME_denoised.mp4"):
        list(eval_videos(tmp_path))
    assert AlignScorer(align).cfg.name == "small"


def test_apcc_follows_the_hits_energy_and_says_when_it_does_not(tmp_path):
    """APCC of whole soundtracks: hits as loud as their energy says give the recording's APCC
    (delta 0); the same hits with their loudness order reversed give a negative APCC."""
    from physfoley.evaluation.soundtrack_eval import RATE, ApccInputs, EvalVideo

    rng = np.random.default_rng(0)
    times = np.arange(0.3, 5.8, 0.5)
    energy = rng.uniform(0.01, 1.0, times.size)
    hits = [
        {"time_s": float(t), "action": "hit", "material": "wood" if i % 2 else "metal",
         "kinetic_energy_change_j": float(e)}
        for i, (t, e) in enumerate(zip(times, energy, strict=True))
    ]  # fmt: skip
    (tmp_path / "v_physics.json").write_text(json.dumps({"hits": hits}))

    def track(amplitudes):
        wave = np.zeros(6 * RATE, np.float32)
        n = np.arange(1600)
        for t, a in zip(times, amplitudes, strict=True):
            k = int(t * RATE)
            wave[k : k + 1600] += a * np.sin(n * 0.4) * np.exp(-n / 300)
        return wave

    real = track(np.sqrt(energy))
    video = EvalVideo("v", None, None, None, 6.0, times, real, tmp_path / "v_physics.json")
    inputs = ApccInputs([video])
    assert len(inputs.energy) == times.size and inputs.reference > 0.8
    assert inputs.score({0: real}) == pytest.approx(inputs.reference)
    assert inputs.score({0: track(np.sqrt(energy.max() + energy.min() - energy))}) < -0.5
    assert np.isnan(inputs.score({0: np.zeros_like(real)}))  # silence: no correlation at all
    assert ApccInputs([EvalVideo("w", None, None, None, 6.0, times, real)]).reference is None
