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


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from test_pipeline import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


def test_json_document_audio_and_muxed_video(capsys, tmp_path, video, tiny_model_dir):
    import av
    import soundfile as sf

    out, vout = tmp_path / "out.wav", tmp_path / "out.mp4"
    argv = ["synthesize", str(video), "-o", str(out), "--video-out", str(vout), "--times", "0.25,1.5",
            "--model", str(tiny_model_dir), "--seed", "3", "--json"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # exactly one JSON document on stdout
    assert doc["audio"] == str(out) and doc["video"] == str(vout)
    assert doc["duration_s"] == pytest.approx(2.0, abs=0.05)
    assert [i["time_s"] for i in doc["impacts"]] == [0.25, 1.5]
    assert all(
        i["neighbour"].startswith("train_") and i["neighbour_material"] for i in doc["impacts"]
    )
    wave, sr = sf.read(out)
    assert sr == 22050 and len(wave) == round(doc["duration_s"] * sr)
    with av.open(str(vout)) as c:
        assert len(c.streams.video) == 1 and c.streams.audio[0].codec_context.name == "aac"
    # the same command again refuses to overwrite; --force replaces both
    assert main(argv) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0


def test_times_outside_the_video_and_corrupt_video_exit_2_without_output(
    capsys, tmp_path, video, tiny_model_dir
):
    model = ["--model", str(tiny_model_dir)]
    out = str(tmp_path / "o.wav")
    _fails_cleanly(
        capsys,
        tmp_path,
        ["synthesize", str(video), "-o", out, "--times", "0.5,7.0", *model],
        "outside the video",
    )
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 500)
    _fails_cleanly(
        capsys, tmp_path, ["synthesize", str(bad), "-o", out, "--times", "0.5", *model], "bad.mp4"
    )
    _fails_cleanly(
        capsys,
        tmp_path,
        ["synthesize", str(video), "-o", out, "--sampler", "nope", *model],
        "sampler",
    )


def test_real_greatest_hits_clip_gets_a_new_soundtrack(
    capsys, tmp_path, tiny_model_dir, gh_demo_dir
):
    import av
    import soundfile as sf

    from physfoley.video.io import read_video

    src = gh_demo_dir / "physics_driven_diffusion_model_sample_10.mp4"
    out, vout = tmp_path / "o.flac", tmp_path / "o.mp4"
    argv = ["synthesize", str(src), "-o", str(out), "--video-out", str(vout), "--seed", "0",
            "--model", str(tiny_model_dir), "--json", "--times", "0.5,1.0"]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    duration = read_video(src).duration_s
    wave, sr = sf.read(out)
    assert abs(len(wave) - duration * sr) <= 1 and doc["duration_s"] == pytest.approx(duration)
    with av.open(str(src)) as a, av.open(str(vout)) as b:
        assert [bytes(p) for p in a.demux(a.streams.video[0]) if p.size] == [
            bytes(p) for p in b.demux(b.streams.video[0]) if p.size
        ]
        assert len(b.streams.audio) == 1 and b.streams.audio[0].channels == 1  # replaced, mono


def test_demo_writes_video_soundtrack_plot_and_audio_edits(capsys, tmp_path, tiny_model_dir):
    import av
    import soundfile as sf

    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--model", str(tiny_model_dir), "--seconds", "3", "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    video = doc["video"]
    assert {p.name for p in out.iterdir()} >= {"out.wav", "out.mp4", "spectrogram.png", "audio"}
    assert (out / "audio" / "resynth.wav").is_file() and (out / "audio" / "analysis.png").is_file()
    wave, sr = sf.read(out / "out.wav")
    assert len(wave) == round(video["duration_s"] * sr) and video["annotated_hits"]
    assert all(i["neighbour"].startswith("train_") for i in video["impacts"])
    with av.open(str(out / "out.mp4")) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
    assert (out / "spectrogram.png").read_bytes()[:4] == b"\x89PNG"
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert main(argv) == 2  # no --force: nothing rewritten
    assert "--force" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_demo_command_defaults_are_the_library_scene():
    """The parser's scene defaults (kept off torch for start-up) are `physfoley.demo`'s."""
    from physfoley import demo
    from physfoley.commands import demo as demo_command

    assert demo_command.DEMO_SCENE_SEED == demo.DEMO_SCENE_SEED
    assert demo_command.DEMO_SECONDS == demo.DEMO_SECONDS


def test_loudness_flags_and_per_impact_physics_in_json(capsys, tmp_path, video, tiny_model_dir):
    out = tmp_path / "out.wav"
    base = ["synthesize", str(video), "-o", str(out), "--times", "0.25,1.5",
            "--model", str(tiny_model_dir), "--seed", "3", "--json"]  # fmt: skip
    assert main([*base, "--speed-scale", "2", "--mass-scale", "0.5", "--gains", "1,0.5"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for imp in doc["impacts"]:
        for key in ("speed_before_m_s", "speed_after_m_s", "mass_kg", "impulse_n_s",
                    "kinetic_energy_change_j", "gain", "duration_s"):  # fmt: skip
            assert isinstance(imp[key], float), key
        assert imp["duration_s"] > 0.25  # the tail rings on
    assert main([*base, "--no-tails", "--loudness", "model", "--force"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert all(imp["duration_s"] == pytest.approx(0.25, abs=0.001) for imp in doc["impacts"])
    out.unlink()
    for extra, match in ((["--gains", "1,x"], "--gains"), (["--gains", "1"], "one per impact"),
                         (["--max-tail-s", "0"], "--max-tail-s")):  # fmt: skip
        _fails_cleanly(capsys, tmp_path, [*base, *extra], match)
    with pytest.raises(SystemExit) as exited:  # refused by the argument type, before any work
        main([*base, "--speed-scale", "-1"])
    assert exited.value.code == 2 and "--speed-scale" in capsys.readouterr().err
