"""Training loops: data order, lr schedule, exact resume after a kill, CLI, DDP (slow)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from _prepared_fake import make_prepared
from safetensors.torch import load_file

from physfoley.cli import main
from physfoley.errors import InputError
from physfoley.training import common as C

TINY_MODEL = {
    "residual": {"dim": 32, "depth": 1, "heads": 2},
    "visual": {"widths": [8, 8, 8, 8], "stem_width": 8, "input_size": 32, "num_segments": 4},
    "denoiser": {"dit_dim": 32, "dit_depth": 1, "dit_heads": 2},
    "physics": {
        "mode_hidden": [16],
        "mode_out": 8,
        "band_hidden": [8],
        "band_out": 8,
        "latent_dim": 16,
    },
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    return make_prepared(tmp_path_factory.mktemp("prep") / "data", n=24)


def _cfg(tmp: Path, stage: str, **extra) -> Path:
    doc = {"stage": stage, "preset": "small", "model": TINY_MODEL, "batch_size": 4, "max_steps": 4,
           "ckpt_every": 2, "warmup_steps": 1, "keep_checkpoints": 3, **extra}  # fmt: skip
    path = tmp / f"{stage}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_batch_rows_is_a_pure_function_and_splits_ranks():
    rows = np.arange(100, 150)
    a = C.batch_rows(rows, 8, 7, seed=3)
    assert np.array_equal(a, C.batch_rows(rows, 8, 7, seed=3)) and len(a) == 8
    epoch = np.concatenate([C.batch_rows(rows, 8, s, seed=3) for s in range(6)])
    assert len(np.unique(epoch)) == 48 and set(epoch) <= set(rows)  # one epoch, no repeats
    r0 = C.batch_rows(rows, 4, 2, 0, C.DistEnv(rank=0, world_size=2))
    r1 = C.batch_rows(rows, 4, 2, 0, C.DistEnv(rank=1, world_size=2))
    assert not set(r0) & set(r1)
    with pytest.raises(InputError, match="fewer than one batch"):
        C.batch_rows(rows[:3], 4, 0, 0)


def test_lr_warmup_then_cosine():
    cfg = C.TrainConfig(lr=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    assert C.lr_at(0, cfg) == pytest.approx(0.1) and C.lr_at(9, cfg) == pytest.approx(1.0)
    assert C.lr_at(60, cfg) == pytest.approx(0.55) and C.lr_at(110, cfg) == pytest.approx(0.1)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _kill_after_first_checkpoint(run: Path) -> None:
    """What a kill after step 2 leaves: the step-2 checkpoint, nothing later, no final files."""
    ckpts = sorted((run / "checkpoints").glob("step-*"))
    for ckpt in ckpts[1:]:
        shutil.rmtree(ckpt)
    for name in ("residual_encoder.safetensors", "visual_encoder.safetensors", "model"):
        path = run / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _train(stage, cfg, data, out, resume=False):
    args = [
        "train",
        stage,
        "--config",
        str(cfg),
        "--data",
        str(data),
        "--out",
        str(out),
        "--no-progress",
        "--device",
        "cpu",
    ]
    if resume:
        args.append("--resume")
    assert main(args) == 0


def test_exact_resume_for_every_stage(tmp_path, prepared):
    """Train 4 steps straight; train again, 'kill' after the step-2 checkpoint, resume: same weights."""
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    for stage, final in (
        ("residual", "residual_encoder.safetensors"),
        ("visual", "visual_encoder.safetensors"),
        ("diffusion", "model/model.safetensors"),
    ):
        cfg = _cfg(tmp_path, stage, **({"build_bank": False} if stage == "diffusion" else {}))
        _train(stage, cfg, data, tmp_path / "a" / stage)
        straight = _weights(tmp_path / "a" / stage / final)
        run_b = tmp_path / "b" / stage
        # (the diffusion stage of run b reads the visual stage beside it, trained just above)
        _train(stage, cfg, data, run_b)
        _kill_after_first_checkpoint(run_b)
        assert [p.name for p in (run_b / "checkpoints").glob("step-*")] == ["step-0000002"]
        _train(stage, cfg, data, run_b, resume=True)
        resumed = _weights(run_b / final)
        assert straight.keys() == resumed.keys()
        for key in straight:
            assert torch.equal(straight[key], resumed[key]), f"{stage}: {key} differs after resume"
    assert np.load(data / "band_weight.npy").shape == (24, 100)
    from physfoley.training.residual import apply_residual_run

    other = make_prepared(tmp_path / "other", n=8, seed=1)
    apply_residual_run(tmp_path / "a" / "residual", other)
    weight = np.load(other / "band_weight.npy")
    assert weight.shape == (8, 100) and ((weight > 0) & (weight < 1)).all()
    assert (np.load(other / "band_decay_db_per_s.npy") > 0).all()
    with pytest.raises(InputError, match="no finished residual stage"):
        apply_residual_run(tmp_path / "a" / "visual", other)


def test_diffusion_stage_checks_the_visual_encoder_but_not_inference_only_fields(
    tmp_path, prepared
):
    """A retrieval-key option (visual.retrieval_tta) may differ from the visual run's config;
    an architecture field may not."""
    from physfoley.training.visual import load_visual_run

    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    _train("residual", _cfg(tmp_path, "residual", max_steps=1), data, tmp_path / "run" / "residual")
    _train("visual", _cfg(tmp_path, "visual"), data, tmp_path / "run" / "visual")
    model = {**TINY_MODEL, "visual": {**TINY_MODEL["visual"], "retrieval_tta": "flip"}}
    cfg = _cfg(tmp_path, "diffusion", model=model, build_bank=False, max_steps=2)
    _train("diffusion", cfg, data, tmp_path / "run" / "diffusion")
    from physfoley.model_dir import read_model_config

    saved, _ = read_model_config(tmp_path / "run" / "diffusion" / "model")
    assert saved.visual.retrieval_tta == "flip"
    from physfoley.config import model_config

    wider = model_config(
        "small", {**TINY_MODEL, "visual": {**TINY_MODEL["visual"], "stem_width": 16}}
    )
    with pytest.raises(InputError, match="was trained with"):
        load_visual_run(tmp_path / "run" / "visual", wider)


def test_cli_errors(tmp_path, prepared, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage: visual\nbatch_sise: 4\n")
    assert (
        main(
            [
                "train",
                "visual",
                "--config",
                str(bad),
                "--data",
                str(prepared),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "unknown config key 'batch_sise'" in capsys.readouterr().err
    cfg = _cfg(tmp_path, "visual")
    assert (
        main(
            [
                "train",
                "residual",
                "--config",
                str(cfg),
                "--data",
                str(prepared),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "train",
                "visual",
                "--config",
                str(cfg),
                "--data",
                str(tmp_path / "none"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    assert (
        main(
            [
                "train",
                "visual",
                "--config",
                str(cfg),
                "--data",
                str(prepared),
                "--out",
                str(tmp_path / "busy"),
            ]
        )
        == 2
    )
    assert "--resume" in capsys.readouterr().err
    diff = _cfg(tmp_path, "diffusion")
    assert (
        main(
            [
                "train",
                "diffusion",
                "--config",
                str(diff),
                "--data",
                str(prepared),
                "--out",
                str(tmp_path / "d"),
            ]
        )
        == 2
    )
    assert "train residual" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path, prepared):
    cfg = _cfg(tmp_path, "visual", max_steps=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533", "-m", "physfoley", "train", "visual",
           "--config", str(cfg), "--data", str(prepared), "--out", str(tmp_path / "ddp"), "--no-progress", "--device", "cpu"]  # fmt: skip
    subprocess.run(cmd, check=True, env=env, timeout=600)
    ckpt = tmp_path / "ddp" / "checkpoints" / "step-0000002"
    assert (ckpt / "rng-rank0.safetensors").is_file() and (ckpt / "rng-rank1.safetensors").is_file()
    assert (tmp_path / "ddp" / "visual_encoder.safetensors").is_file()
