"""Real-world videos: every container and codec round-trips, black bars and rotation change
nothing that is found, and what cannot be written is refused with one line.

The clips are re-encodings of one SynthHits video (its hits are known), made in tmp_path by
tests/video_variants.py; `synthesize` runs the shipped model with `--times` to stay fast.
"""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from video_variants import make_variant, truncate

from physfoley.cli import main


@pytest.fixture(scope="module")
def synthhits(tmp_path_factory):
    """(an 8 s SynthHits video, its hit times in seconds)."""
    out = tmp_path_factory.mktemp("sh")
    assert main(["data", "synth", "--out", str(out), "--videos", "1", "--seconds", "8",
                 "--seed", "3"]) == 0  # fmt: skip
    hits = json.loads(next(out.glob("*_physics.json")).read_text())["hits"]
    times = np.array([h["time_s"] for h in hits if h["action"] == "hit"])
    return next(out.glob("*_denoised.mp4")), times


def _picture(path):
    """(frames the first video stream decodes to, its length in s, [audio lengths in s])."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        times = []
        try:  # a cut file ends in an error after its last whole frame
            times.extend(float(f.pts * f.time_base) for f in c.decode(vs))
        except av.error.FFmpegError:
            pass
        rate = float(vs.average_rate or 0) or (len(times) - 1) / (times[-1] - times[0])
        audio = []
        for i in range(len(c.streams.audio)):
            c.seek(0)
            a = c.streams.audio[i]
            samples = 0
            try:
                for f in c.decode(a):
                    samples += f.samples
            except av.error.FFmpegError:
                pass
            audio.append(samples / a.rate)
    return len(times), times[-1] - times[0] + 1.0 / rate, audio


MATRIX = {  # name: (file, make_variant options)
    "mp4": ("in.mp4", {}),
    "mov": ("in.mov", {}),
    "mkv-bframes": ("in.mkv", {"bframes": True}),
    "webm-vp9": ("in.webm", {"codec": "libvpx-vp9"}),
    "hevc": ("hevc.mp4", {"codec": "libx265"}),
    "vfr": ("vfr.mp4", {"vfr": True}),
    "rotated": ("rot.mp4", {"rotate": 90}),
    "letterboxed": ("lbox.mp4", {"pad": (40, 0)}),
    "60fps": ("fast.mp4", {"fps": 60}),
}


NATURAL_OUT = {"mov": ".mov", "mkv-bframes": ".mkv", "webm-vp9": ".webm"}  # else .mp4
CASES = [
    pytest.param(name, out, marks=() if NATURAL_OUT.get(name, ".mp4") == out else pytest.mark.slow)
    for name in MATRIX
    for out in (".mp4", ".mov", ".mkv", ".webm")
]


@pytest.mark.parametrize(("name", "out_suffix"), CASES)
def test_video_out_keeps_every_frame_and_a_soundtrack_as_long(
    synthhits, tmp_path, capsys, name, out_suffix
):
    filename, options = MATRIX[name]
    src = tmp_path / filename
    make_variant(synthhits[0], src, max_frames=45, **options)
    frames, seconds, _ = _picture(src)
    out = tmp_path / f"out{out_suffix}"
    argv = ["synthesize", str(src), "-o", str(tmp_path / "o.wav"), "--video-out", str(out),
            "--times", "0.5", "--seed", "0", "--original-audio", "keep"]  # fmt: skip
    vp9 = options.get("codec") == "libvpx-vp9"
    if (out_suffix == ".webm" and not vp9) or (out_suffix == ".mov" and vp9):
        # H.264 / HEVC cannot go into WebM, VP9 not into MOV: refused before any work
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and out_suffix in err[0] and "mkv" in err[0]
        assert sorted(p.name for p in tmp_path.iterdir()) == [filename]
        return
    assert main(argv) == 0, capsys.readouterr().err
    got_frames, _, audio = _picture(out)
    assert got_frames == frames  # the picture is the input's packets, so also its `seconds`
    # the new soundtrack first, the original kept second; each within one audio frame
    one_audio_frame = 1024 / 22050 if out_suffix != ".webm" else 960 / 48000
    assert len(audio) == 2
    assert abs(audio[0] - seconds) <= one_audio_frame + 1e-3, (audio, seconds)


def test_cut_file_says_so_and_keeps_picture_and_sound_together(synthhits, tmp_path, capsys):
    full = tmp_path / "full.mp4"
    make_variant(synthhits[0], full, faststart=True)
    cut = tmp_path / "cut.mp4"
    truncate(full, cut, 0.5)
    out = tmp_path / "out.mp4"
    assert main(["synthesize", str(cut), "-o", str(tmp_path / "o.wav"), "--video-out",
                 str(out), "--times", "0.5", "--seed", "0"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    announced = _picture(full)[0]
    assert "cut short" in err and f"of the {announced} frames" in err
    frames, seconds, audio = _picture(out)
    assert (
        0 < frames < announced
        and frames == _picture(cut)[0]
        and abs(audio[0] - seconds) <= 1024 / 22050 + 1e-3
    )


def _f1(found, truth, tol=0.1):
    found = list(found)
    hit = 0
    for t in truth:
        near = [f for f in found if abs(f - t) <= tol]
        if near:
            found.remove(min(near, key=lambda f: abs(f - t)))
            hit += 1
    total = hit + len(found)
    p = hit / total if total else 1.0
    r = hit / len(truth)
    return 2 * p * r / (p + r) if p + r else 0.0


def _detect(path, method, capsys):
    assert main(["detect", str(path), "--json", "--method", method]) == 0
    return [e["time_s"] for e in json.loads(capsys.readouterr().out)["impacts"]]


COPIES = {
    "pillarbox": {"pad": (0, 112)},
    "rotated": {"rotate": 90},
    "portrait-with-bars": {"pad": (112, 0), "rotate": 90},
    "letterbox": {"pad": (112, 0)},
}


FAST_COPIES = {("portrait-with-bars", "flow"), ("letterbox", "tip")}


@pytest.mark.parametrize(
    ("copy", "method"),
    [
        pytest.param(
            c,
            m,
            marks=[
                *(() if (c, m) in FAST_COPIES else [pytest.mark.slow]),
            ],
        )
        for c in COPIES
        for m in ("flow", "tip")
    ],
)
def test_bars_and_rotation_change_nothing_found(synthhits, tmp_path, capsys, copy, method):
    video, truth = synthhits
    plain, padded = tmp_path / "plain.mp4", tmp_path / "copy.mp4"
    # lossless, so that only the bars / rotation differ, not the encoder's noise (which alone
    # moves the F1 of these detectors by about 0.1 from one lossy re-encoding to the next)
    make_variant(video, plain, lossless=True)
    make_variant(video, padded, lossless=True, **COPIES[copy])
    f1_plain = _f1(_detect(plain, method, capsys), truth)
    f1_copy = _f1(_detect(padded, method, capsys), truth)
    assert abs(f1_copy - f1_plain) <= 0.05, (f1_plain, f1_copy)


def test_positions_are_in_pixels_of_the_padded_picture(synthhits, tmp_path, capsys):
    video, _ = synthhits
    plain, padded = tmp_path / "plain.mp4", tmp_path / "pbox.mp4"
    make_variant(video, plain, lossless=True)
    make_variant(video, padded, pad=(0, 112), lossless=True)
    assert main(["detect", str(plain), "--json", "--method", "tip"]) == 0
    a = json.loads(capsys.readouterr().out)["impacts"]
    assert main(["detect", str(padded), "--json", "--method", "tip"]) == 0
    b = json.loads(capsys.readouterr().out)["impacts"]
    assert len(a) == len(b) > 0
    assert np.allclose([e["x"] + 112 for e in a], [e["x"] for e in b], atol=3)


def test_bad_outputs_exit_2_one_line_nothing_left(synthhits, tmp_path, capsys):
    src = tmp_path / "in.webm"
    make_variant(synthhits[0], src, codec="libvpx-vp9", max_frames=30, audio=False)
    cases = [
        (["--video-out", str(tmp_path / "o.mov")], "cannot hold the vp9"),  # not into .mov
        (["--video-out", str(tmp_path / "o.avi")], ".webm"),  # the list of what can
        (["--video-out", str(tmp_path / "o.mkv"), "--original-audio", "keep"], "no audio"),
        (["--original-audio", "mix"], "needs --video-out"),
        (["--video-out", str(tmp_path / "o.mkv"), "--original-gain-db", "inf"], "finite"),
    ]
    for extra, match in cases:
        argv = ["synthesize", str(src), "-o", str(tmp_path / "o.wav"), "--times", "0.3", *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0], err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.webm"]
