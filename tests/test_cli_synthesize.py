"""`physfoley synthesize`: bad input exits 2 with one line and writes nothing; --json document."""

from __future__ import annotations

import json

import pytest
from test_mux import make_video

from physfoley.cli import main


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("vid") / "in.mp4", seconds=2.0, fps=25, size=64)


def _fails_cleanly(capsys, tmp_path, argv, match):
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no partial output


def test_bad_model_dir_video_times_and_paths_exit_2(capsys, tmp_path, video):
    out = str(tmp_path / "out.wav")
    _fails_cleanly(
        capsys,
        tmp_path,
        ["synthesize", str(video), "-o", out, "--model", str(tmp_path / "nope")],
        "does not exist",
    )
    empty_model = tmp_path / "empty_model"
    empty_model.mkdir()
    _fails_cleanly(
        capsys,
        tmp_path,
        ["synthesize", str(video), "-o", out, "--model", str(empty_model)],
        "empty_model",
    )
    _fails_cleanly(
        capsys,
        tmp_path,
        ["synthesize", str(tmp_path / "missing.mp4"), "-o", out],
        "missing.mp4 does not exist",
    )
    _fails_cleanly(
        capsys, tmp_path, ["synthesize", str(video), "-o", out, "--times", "0.5,abc"], "--times"
    )
    _fails_cleanly(
        capsys, tmp_path, ["synthesize", str(video), "-o", str(tmp_path / "out.mp3")], "extension"
    )
    _fails_cleanly(
        capsys,
        tmp_path,
        ["synthesize", str(video), "-o", out, "--video-out", str(tmp_path / "v.avi")],
        "extension",
    )
    _fails_cleanly(
        capsys, tmp_path, ["synthesize", str(video), "-o", out, "--steps", "0"], "--steps"
    )
    (tmp_path / "exists.wav").write_bytes(b"x")
    _fails_cleanly(
        capsys, tmp_path, ["synthesize", str(video), "-o", str(tmp_path / "exists.wav")], "--force"
    )
