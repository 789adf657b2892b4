"""`physfoley detect`: JSON schema, plot, and one-line exit-2 errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from physfoley.cli import main

KEYS = {
    "time_s",
    "frame",
    "confidence",
    "x",
    "y",
    "speed_before_px_s",
    "speed_after_px_s",
    "speed_before_m_s",
    "speed_after_m_s",
    "mass_kg",
    "kinetic_energy_change_j",
}


def _write_video(path: Path, frames: np.ndarray, rate=Fraction(30, 1)) -> Path:
    import av

    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=rate)
        st.height, st.width = frames.shape[1:3]
        st.pix_fmt = "yuv420p"
        for f in frames:
            for pkt in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


@pytest.fixture(scope="module")
def bar_video(tmp_path_factory) -> tuple[Path, list[int]]:
    sys.path.insert(0, str(Path(__file__).parent))
    from test_motion import bouncing_bar

    video, contacts, _ = bouncing_bar(seed=1, hits=4)
    path = tmp_path_factory.mktemp("detect") / "bar.mp4"
    return _write_video(path, video.frames), contacts


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_schema(bar_video, capsys, tmp_path):
    path, contacts = bar_video
    plot = tmp_path / "speed.png"
    code, out, err = _run(
        [
            "detect",
            str(path),
            "--json",
            "--plot",
            str(plot),
            "--meters-per-pixel",
            "0.002",
            "--mass-kg",
            "0.05",
        ],
        capsys,
    )
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"fps", "num_frames", "impacts"}
    assert doc["fps"] == pytest.approx(30.0)
    assert doc["num_frames"] == len(contacts) * 30 + 8
    assert len(doc["impacts"]) >= 1
    for ev in doc["impacts"]:
        assert set(ev) == KEYS
        assert ev["speed_before_m_s"] == pytest.approx(ev["speed_before_px_s"] * 0.002)
        assert ev["mass_kg"] == pytest.approx(0.05)
        assert isinstance(ev["kinetic_energy_change_j"], float)
    assert plot.stat().st_size > 1000 and plot.read_bytes()[:4] == b"\x89PNG"
    # the plot is never overwritten without --force
    code, _, err = _run(["detect", str(path), "--plot", str(plot)], capsys)
    assert code == 2 and "force" in err


def test_json_nulls_without_scale(bar_video, capsys):
    path, _ = bar_video
    code, out, _ = _run(["detect", str(path), "--json"], capsys)
    assert code == 0
    for ev in json.loads(out)["impacts"]:
        assert ev["speed_before_m_s"] is None and ev["mass_kg"] is None
        assert ev["kinetic_energy_change_j"] is None


def _one_line_exit2(argv, capsys, match):
    code, out, err = _run(argv, capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], err


def test_missing_file(capsys, tmp_path):
    _one_line_exit2(["detect", str(tmp_path / "nope.mp4")], capsys, "does not exist")


def test_corrupt_file(capsys, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    _one_line_exit2(["detect", str(bad)], capsys, "bad.mp4")


def test_audio_only(capsys, tmp_path):
    import soundfile as sf

    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(4410, np.float32), 44100)
    _one_line_exit2(["detect", str(wav)], capsys, "no video stream")


def test_too_short(capsys, tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (10, 64, 64, 3), dtype=np.uint8)
    path = _write_video(tmp_path / "short.mp4", frames)
    _one_line_exit2(["detect", str(path)], capsys, "22")


def test_bad_material_and_scale(bar_video, capsys):
    path, _ = bar_video
    _one_line_exit2(["detect", str(path), "--material", "wood"], capsys, "meters-per-pixel")
    _one_line_exit2(
        ["detect", str(path), "--material", "cheese", "--meters-per-pixel", "0.01"],
        capsys,
        "cheese",
    )
    _one_line_exit2(["detect", str(path), "--meters-per-pixel", "-1"], capsys, "> 0")


def test_material_mass_estimate(bar_video, capsys):
    path, _ = bar_video
    code, out, _ = _run(
        ["detect", str(path), "--json", "--material", "metal", "--meters-per-pixel", "0.01"], capsys
    )
    assert code == 0
    evs = json.loads(out)["impacts"]
    assert evs and all(e["mass_kg"] > 0 for e in evs)


def test_entry_point_json_only_on_stdout(bar_video):
    path, _ = bar_video
    res = subprocess.run(
        [sys.executable, "-m", "physfoley", "detect", str(path), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    json.loads(res.stdout)


def test_zero_frames(capsys, tmp_path):
    path = _write_video(tmp_path / "empty.mp4", np.zeros((0, 64, 64, 3), np.uint8))
    code, out, err = _run(["detect", str(path)], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err


def test_method_tip_json(tmp_path, capsys):
    """--method tip on a SynthHits video: same JSON schema, contacts near the true frames."""
    from physfoley.data.synthhits import generate_video

    rec = generate_video(tmp_path, "v5", 5, seconds=4.0, mp4_audio=False)
    path = tmp_path / "v5_denoised.mp4"
    code, out, _ = _run(
        ["detect", str(path), "--json", "--method", "tip", "--meters-per-pixel", "0.0015"], capsys
    )
    assert code == 0
    doc = json.loads(out)
    truth = [h["contact_frame"] for h in rec["hits"] if h["action"] == "hit"]
    frames = [ev["frame"] for ev in doc["impacts"]]
    assert truth and all(min(abs(f - c) for f in frames) <= 1 for c in truth)
    assert all(ev["speed_before_m_s"] is not None for ev in doc["impacts"])
    with pytest.raises(SystemExit) as exc:  # argparse rejects an unknown method
        main(["detect", str(path), "--method", "nope"])
    assert exc.value.code == 2
