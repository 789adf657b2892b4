"""`physfoley physics`: JSON schema, human summary, masks file, no motion, bad input (exit 2)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from physfoley.cli import main
from physfoley.video.encode import write_video

sys.path.insert(0, str(Path(__file__).parent))
from test_objects import FPS, block_video  # noqa: E402

OBJECT_KEYS = {
    "id",
    "label",
    "material",
    "mass_kg",
    "mass_source",
    "frames_present",
    "present",
    "velocity_m_s",
    "speed_m_s",
    "mask_area_px",
    "centroid_px",
}
DOC_KEYS = {
    "video",
    "fps",
    "num_frames",
    "width",
    "height",
    "meters_per_pixel",
    "scale_source",
    "mask_size",
    "times_s",
    "objects",
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("physics")
    moving = write_video(folder / "block.mp4", block_video().frames, FPS)
    still = write_video(folder / "still.mp4", block_video(moving=False).frames, FPS)
    return {"moving": moving, "still": still, "folder": folder}


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_schema(videos, capsys):
    code, out, err = _run(
        [
            "physics",
            str(videos["moving"]),
            "--json",
            "--meters-per-pixel",
            "0.002",
            "--mass",
            "0.3",
        ],
        capsys,
    )
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == DOC_KEYS
    t = doc["num_frames"]
    assert t == 50 and len(doc["times_s"]) == t and doc["mask_size"] == [120, 160]
    assert doc["meters_per_pixel"] == 0.002 and doc["scale_source"] == "given"
    (obj,) = doc["objects"]
    assert set(obj) == OBJECT_KEYS
    assert obj["mass_kg"] == 0.3 and obj["mass_source"] == "given"
    for key in ("present", "speed_m_s", "mask_area_px"):
        assert len(obj[key]) == t
    assert len(obj["velocity_m_s"]) == t and all(len(v) == 2 for v in obj["velocity_m_s"])
    speeds = np.array([s for s in obj["speed_m_s"] if s is not None])
    assert len(speeds) >= 45
    assert abs(np.median(speeds) / (np.hypot(2.0, 1.0) * FPS * 0.002) - 1) < 0.05


def test_human_summary_and_default_scale(videos, capsys):
    code, out, err = _run(["physics", str(videos["moving"]), "--material", "wood"], capsys)
    assert code == 0 and out == ""
    assert "1 moving objects" in err and "default scene scale" in err and "object 0: mass" in err


def test_masks_file(videos, capsys, tmp_path):
    path = tmp_path / "masks.npz"
    code, _, err = _run(["physics", str(videos["moving"]), "--masks-out", str(path)], capsys)
    assert code == 0, err
    with np.load(path) as npz:
        assert npz["masks"].shape == (1, 50, 120, 160) and npz["masks"].dtype == np.uint8
        assert npz["velocity_m_s"].shape == (1, 50, 2) and npz["times_s"].shape == (50,)
    code, _, err = _run(["physics", str(videos["moving"]), "--masks-out", str(path)], capsys)
    assert code == 2 and "--force" in err


def test_nothing_moves_is_a_warning(videos, capsys):
    code, out, err = _run(["physics", str(videos["still"]), "--json"], capsys)
    assert code == 0
    assert json.loads(out)["objects"] == []
    assert "warning" in err and "nothing moves" in err


@pytest.mark.parametrize(
    "extra",
    [
        ["--meters-per-pixel", "-1"],
        ["--mass", "0"],
        ["--material", "gold"],
        ["--max-objects", "0"],
    ],
)
def test_bad_options_exit_2_one_line(videos, capsys, extra):
    code, out, err = _run(["physics", str(videos["moving"]), *extra], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "error" in err


def test_bad_files_exit_2_one_line(videos, capsys):
    not_video = videos["folder"] / "notes.txt"
    not_video.write_text("not a video\n")
    for path in (videos["folder"] / "missing.mp4", not_video):
        code, out, err = _run(["physics", str(path), "--json"], capsys)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1
