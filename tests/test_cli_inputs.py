"""Bad input at the command line: exit 2, one line on stderr, nothing left behind (issue 14).

Each case runs `physfoley.cli.main` as a user would and checks the exit status, that stderr is
exactly one line saying what is wrong, and that no output file or folder was made.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from _prepared_fake import make_prepared

from physfoley.cli import build_parser, main
from physfoley.commands import args as argtypes
from physfoley.commands.eval_common import emit
from physfoley.data.prepare import add_arrays
from physfoley.diffusion.samplers import SAMPLERS, canonical_sampler
from physfoley.jsondoc import dumps

REPO = Path(__file__).resolve().parents[1]
VISUAL_CFG = REPO / "configs" / "visual_small.yaml"
DIFFUSION_CFG = REPO / "configs" / "diffusion_small.yaml"


def refused(argv: list[str], capsys, expect: str, *absent: Path) -> str:
    """Run the CLI; assert exit 2, one stderr line containing `expect`, and no `absent` path."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:  # argparse refuses before a command runs
        code = stop.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert expect in lines[0], lines[0]
    for path in absent:
        assert not path.exists(), f"{path} was left behind"
    return lines[0]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    return make_prepared(tmp_path_factory.mktemp("prep") / "data", n=24)


def _unwritable_dirs(tmp_path: Path) -> list[Path]:
    """Output folders that cannot be made: under a regular file, under /sys or /proc (root
    cannot write there either), and under a read-only folder when not running as root."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    dirs = [blocker / "out"]
    dirs += [Path(d) / "physfoley-test-out" for d in ("/sys", "/proc") if Path(d).is_dir()]
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        dirs.append(locked / "out")
    return dirs


def test_unwritable_out_is_one_line_for_synth_prepare_train_eval(tmp_path, prepared, capsys):
    (tmp_path / "g.npz").write_bytes(b"")
    for out in _unwritable_dirs(tmp_path):
        refused(["data", "synth", "--out", out, "--videos", 1], capsys, "output folder", out)
        refused(["data", "prepare", tmp_path, "--out", out], capsys, "output folder", out)
        train = ["train", "visual", "--config", VISUAL_CFG, "--data", prepared, "--out", out]
        refused(train, capsys, "output folder", out)
        evaluate = ["eval", "--generated", tmp_path / "g.npz", "--data", prepared, "--out", out]
        refused(evaluate, capsys, "output folder", out)


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "synth", "--out", "{tmp}/synth"],
        ["data", "prepare", "{tmp}", "--out", "{tmp}/prep"],
        ["eval", "--generated", "{tmp}/g.npz", "--data", "{tmp}", "--out", "{tmp}/eval"],
        ["eval", "train-classifier", "--data", "{tmp}", "--out", "{tmp}/clf"],
        ["synthesize", "{tmp}/v.mp4", "-o", "{tmp}/a.wav"],
    ],
    ids=["data-synth", "data-prepare", "eval", "eval-train-classifier", "synthesize"],
)
@pytest.mark.parametrize("seed", ["-1", "4294967296", "1.5"])
def test_seeds_outside_0_to_2_32_are_refused_everywhere(argv, seed, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--seed", seed]
    line = refused(argv, capsys, "a seed is a whole number from 0 to 4294967295")
    assert "--seed" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_every_seed_option_uses_the_shared_type():
    def walk(parser: argparse.ArgumentParser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from walk(sub)
            elif "--seed" in action.option_strings:
                yield parser.prog, action.type

    found = dict(walk(build_parser()))
    assert len(found) >= 6, found
    assert all(t is argtypes.seed for t in found.values()), found
    assert argtypes.seed("0") == 0 and argtypes.seed(str(2**32 - 1)) == 2**32 - 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a CPU-only torch")
def test_device_cuda_on_a_cpu_only_torch(tmp_path, prepared, capsys):
    out = tmp_path / "out"
    for argv in (
        ["synthesize", tmp_path / "v.mp4", "-o", out, "--device", "cuda"],
        ["eval", "--generated", "g.npz", "--data", prepared, "--out", out, "--device", "cuda"],
        ["train", "visual", "--config", VISUAL_CFG, "--data", prepared, "--out", out,
         "--device", "cuda:0"],
        ["eval", "train-classifier", "--data", prepared, "--out", out, "--device", "cuda"],
    ):  # fmt: skip
        refused(argv, capsys, "sees no CUDA device; use --device cpu", out)
    refused(["synthesize", "v.mp4", "-o", out, "--device", "gpu"], capsys, "unknown device", out)


@pytest.mark.parametrize("content", ["zero-bytes", "no-arrays", "no-rows"])
def test_eval_generated_empty_npz(content, tmp_path, prepared, capsys):
    path = tmp_path / "g.npz"
    if content == "zero-bytes":
        path.write_bytes(b"")
    elif content == "no-arrays":
        np.savez(path)
    else:
        np.savez(path, rows=np.zeros(0, np.int64), specs=np.zeros((0, 64, 44), np.float32))
    out = tmp_path / "report"
    expect = {"zero-bytes": "not a readable .npz", "no-arrays": "needs arrays", "no-rows": "0 clip"}
    refused(["eval", "--generated", path, "--data", prepared, "--out", out], capsys,
            expect[content], out)  # fmt: skip


def test_prepare_of_broken_files_says_why_in_one_line_and_leaves_nothing(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("a", "b"):
        (raw / f"{name}_denoised.mp4").write_bytes(b"not a video at all")
        (raw / f"{name}_times.txt").write_text("1.0 wood hit static\n")
    out = tmp_path / "prepared"
    line = refused(["data", "prepare", raw, "--out", out, "--no-progress"], capsys,
                   "none of the 2 videos", out)  # fmt: skip
    assert "a:" in line and "(and 1 more)" in line and "check the labels" not in line


def test_train_on_an_empty_train_split_makes_no_run_folder(tmp_path, capsys):
    data = make_prepared(tmp_path / "data", n=8)
    index = data / "index.csv"
    index.write_text(index.read_text().replace(",train", ",test"))
    out = tmp_path / "runs" / "visual"
    refused(["train", "visual", "--config", VISUAL_CFG, "--data", data, "--out", out], capsys,
            "no clip in its train split", out, out.parent)  # fmt: skip


def test_diffusion_before_visual_makes_no_run_folder(tmp_path, capsys):
    data = make_prepared(tmp_path / "data", n=40)  # 30 train clips: more than one batch
    bands = np.full((40, 4), 0.5, np.float32)
    add_arrays(data, {"band_weight": bands, "band_decay_db_per_s": 100 * bands})
    out = tmp_path / "runs" / "diffusion"
    refused(["train", "diffusion", "--config", DIFFUSION_CFG, "--data", data, "--out", out],
            capsys, "train visual", out, out.parent)  # fmt: skip


def test_train_on_raw_videos_names_the_folder_in_the_prepare_command(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    out = tmp_path / "run"
    line = refused(["train", "visual", "--config", VISUAL_CFG, "--data", raw, "--out", out],
                   capsys, f"--out {raw}", out)  # fmt: skip
    assert "{root}" not in line


def test_threshold_and_guidance_out_of_range(tmp_path, capsys):
    out = tmp_path / "a.wav"
    line = refused(["detect", "v.mp4", "--threshold", "-1"], capsys, "--threshold")
    assert "must be a number > 0" in line
    line = refused(["synthesize", "v.mp4", "-o", out, "--guidance", "-5"], capsys, "--guidance")
    assert "must be a number >= 0" in line and not out.exists()
    refused(["synthesize", "v.mp4", "-o", out, "--guidance", "nan"], capsys, ">= 0", out)


def test_every_sampler_name_in_help_is_accepted():
    sub = build_parser()._subparsers._group_actions[0].choices
    for command in ("synthesize", "eval"):
        (action,) = [a for a in sub[command]._actions if "--sampler" in a.option_strings]
        names = re.findall(r"[a-z_]+\+*", action.help.split("(default")[0].split(":", 1)[1])
        names = [n for n in names if n != "or"]
        assert set(SAMPLERS) <= set(names), action.help
        for name in names:
            assert canonical_sampler(name) in SAMPLERS
    assert canonical_sampler("dpm++") == "dpmsolver++"


def test_json_has_null_not_nan(capsys):
    doc = {"fid": float("nan"), "kid": np.float32("inf"), "runs": np.array([1.0, np.nan])}
    text = dumps(doc)
    strict = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert strict == {"fid": None, "kid": None, "runs": [1.0, None]}
    emit(argparse.Namespace(json=True), doc, "human line")
    printed = capsys.readouterr()
    assert json.loads(printed.out, parse_constant=lambda c: pytest.fail(c)) == strict
    assert printed.err == "human line\n"


def test_eval_without_model_or_generated_is_one_line(tmp_path, prepared, capsys):
    refused(["eval", "--data", prepared], capsys, "give exactly one of --model DIR or --generated")


def test_eval_train_classifier_help_shows_a_single_percent(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "train-classifier", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "10 % of" in text and "%%" not in text


def test_analyze_refuses_audio_shorter_than_one_window(tmp_path, capsys):
    wav = tmp_path / "three.wav"
    sf.write(wav, np.array([0.1, -0.2, 0.3]), 44100)
    out = tmp_path / "p.npz"
    line = refused(["analyze", wav, "--out", out], capsys, "too short to analyse", out)
    assert "at least 2048 samples (46 ms at 44100 Hz)" in line


def test_analyze_lists_no_mode_below_the_audible_floor(tmp_path, capsys):
    sr = 44100
    t = np.arange(sr // 2) / sr
    rumble = 0.8 * np.sin(2 * np.pi * 12.0 * t)  # strongest peak, below hearing
    ring = 0.3 * np.exp(-8 * t) * np.sin(2 * np.pi * 440.0 * t)
    wav = tmp_path / "knock.wav"
    sf.write(wav, (rumble + ring).astype(np.float32)[:11025], sr)
    assert main(["analyze", str(wav), "--json", "--top", "3"]) == 0
    modes = json.loads(capsys.readouterr().out)["modes"]
    assert all(m["freq_hz"] >= 20.0 for m in modes) and abs(modes[0]["freq_hz"] - 440) < 5
    assert main(["analyze", str(wav), "--json", "--top", "3", "--min-freq-hz", "0"]) == 0
    modes = json.loads(capsys.readouterr().out)["modes"]
    assert modes[0]["freq_hz"] < 20.0
    refused(["analyze", wav, "--min-freq-hz", "-1"], capsys, "--min-freq-hz must be >= 0")


def test_readme_python_snippet_analyses_the_strike(hammer_dir):
    import physfoley
    from physfoley.audio.io import load_audio
    from physfoley.audio.onsets import cut_clip

    readme = (REPO / "README.md").read_text()
    snippet = "\n\n".join(readme.split("```python\n", 1)[1].split("\n\n")[:2])
    assert 'at="onset"' in snippet
    scope: dict = {}
    exec(snippet.replace('"steel.wav"', repr(str(hammer_dir / "steel.wav"))), scope)
    wave, sr = load_audio(hammer_dir / "steel.wav", 44100)
    clip, start = cut_clip(wave, sr, 11025)
    assert start > sr  # the strike is seconds in; wave[:11025] is the silence before it
    expected = physfoley.analyze(clip, sr, preset="paper")
    np.testing.assert_array_equal(scope["params"].freq_hz, expected.freq_hz)
    assert np.isfinite(scope["brighter"]).all() and np.abs(scope["brighter"]).max() > 0
