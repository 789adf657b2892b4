"""The four soundtrack stages: each trains 2 steps through the CLI and resumes exactly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from _soundtrack_data import TINY_NETS, make_segments
from safetensors.torch import load_file

from physfoley.cli import main
from physfoley.evaluation.soundtrack_eval import AlignScorer
from physfoley.soundtrack_dir import FAMILY, read_config

STAGE_SETTINGS = {
    "vae": {"batch_size": 2, "scale_segments": 4},
    "cavp": {
        "batch_size": 2,
        "segments_per_video": 2,
        "crop_latent_frames": 16,
        "eval_segments": 4,
    },
    "align": {"batch_size": 4, "eval_segments": 8},
    "ldm": {"batch_size": 4},
}


@pytest.fixture(scope="module")
def segments(tmp_path_factory):
    return make_segments(tmp_path_factory.mktemp("soundtrack"))


def _config(tmp: Path, stage: str) -> Path:
    doc = {"stage": stage, "model": TINY_NETS[stage], "max_steps": 2, "ckpt_every": 1,
           "keep_checkpoints": 3, "warmup_steps": 1, **STAGE_SETTINGS[stage]}  # fmt: skip
    path = tmp / f"{stage}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _train(stage: str, cfg: Path, data: Path, out: Path, *extra: str) -> dict:
    args = ["train", stage, "--config", str(cfg), "--data", str(data), "--out", str(out)]
    assert main([*args, "--no-progress", "--device", "cpu", *extra]) == 0
    return json.loads((out / "model" / "config.json").read_text())


def test_every_stage_trains_and_resumes_exactly(segments, tmp_path, capsys):
    for stage in ("vae", "cavp", "align", "ldm"):
        cfg = _config(tmp_path, stage)
        _train(stage, cfg, segments, tmp_path / "a" / stage)
        straight = load_file(str(tmp_path / "a" / stage / "model" / f"{stage}.safetensors"))
        run_b = tmp_path / "b" / stage
        _train(stage, cfg, segments, run_b)  # align and ldm read b/vae and b/cavp beside them
        shutil.rmtree(run_b / "checkpoints" / "step-0000002")  # killed after the step-1 checkpoint
        shutil.rmtree(run_b / "model")
        _train(stage, cfg, segments, run_b, "--resume")
        resumed = load_file(str(run_b / "model" / f"{stage}.safetensors"))
        assert straight.keys() == resumed.keys()
        for key in straight:
            assert torch.equal(straight[key], resumed[key]), f"{stage}: {key} differs after resume"
    doc = read_config(tmp_path / "a" / "ldm" / "model")
    assert doc["family"] == FAMILY and set(doc["parts"]) == {"vae", "cavp", "ldm", "align"}
    assert doc["parts"]["vae"]["scale_factor"] > 0 and doc["sampling"]["steps"] == 25
    summary = doc["training"]
    assert {"semantic_r1", "temporal_r1", "frame_r1"} <= set(summary["cavp"])
    assert "acc_clean_shifted" in summary["align"] and "test_l1" in summary["vae"]
    assert (tmp_path / "a" / "ldm" / "tb").is_dir()
    # the evaluation alignment classifier: clean pairs only, carries the vae and cavp it reads
    clean = _config(tmp_path, "align")
    clean.write_text(clean.read_text() + "clean_only: true\nseed: 1\n")
    eval_doc = _train("align", clean, segments, tmp_path / "a" / "align_eval")
    assert eval_doc["evaluation"] is True and set(eval_doc["parts"]) == {"vae", "cavp", "align"}
    assert AlignScorer(tmp_path / "a" / "align_eval" / "model").scale > 0
    capsys.readouterr()


def test_stage_errors_are_one_line(segments, tmp_path, capsys):
    cfg = _config(tmp_path, "align")
    code = main(["train", "align", "--config", str(cfg), "--data", str(segments),
                 "--out", str(tmp_path / "x" / "align"), "--no-progress"])  # fmt: skip
    assert code == 2 and "does not exist" in capsys.readouterr().err  # no vae stage beside it
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage: vae\nno_such_key: 1\n")
    code = main(["train", "vae", "--config", str(bad), "--data", str(segments)])
    assert code == 2 and "unknown config key" in capsys.readouterr().err
    code = main(
        ["train", "vae", "--config", str(_config(tmp_path, "vae")), "--data", str(tmp_path)]
    )
    assert code == 2 and "segments" in capsys.readouterr().err
