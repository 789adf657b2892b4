"""The web app as a script sees it: a real server on a free localhost port, called through
gradio_client's named endpoints /synthesize and /analyze with real clips and recordings."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from physfoley.web.app import WebApp, WebSettings  # noqa: E402

#: Small enough that a test can exceed it cheaply, large enough for every shared clip.
UPLOAD_LIMIT_MB = 2.0
CLIP = "physics_driven_diffusion_model_sample_10.mp4"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served():
    """(app, base URL, client) of an app started on a free port for this module."""
    app = WebApp(WebSettings(max_upload_mb=UPLOAD_LIMIT_MB))
    port = free_port()
    app.launch(port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    client = gradio_client.Client(url, verbose=False)
    yield app, url, client
    app.blocks.close()
    root = app.workspace.root
    app.close()
    assert not root.exists(), "the app left its temporary folder behind"


def test_api_lists_the_two_named_endpoints(served):
    _, _, client = served
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(named) == {"/synthesize", "/analyze"}
    assert len(named["/synthesize"]["parameters"]) == 3
    assert len(named["/synthesize"]["returns"]) == 3


def test_synthesize_endpoint_on_a_greatest_hits_clip(served, gh_demo_dir: Path):
    from physfoley.audio.io import load_audio
    from physfoley.video.io import read_video

    _, _, client = served
    video = gh_demo_dir / CLIP
    audio, muxed, doc = client.predict(
        gradio_client.handle_file(str(video)), "", 0, api_name="/synthesize"
    )
    # the JSON of `synthesize --json`: same keys, impacts where the picture has them
    assert set(doc) == {
        "audio", "video", "duration_s", "sample_rate", "sampler", "steps", "normalized", "impacts",
    }  # fmt: skip
    assert doc["sample_rate"] == 22050 and doc["sampler"] == "ancestral"
    annotated = json.loads((gh_demo_dir / "impact_times.json").read_text())[CLIP]
    assert len(doc["impacts"]) == len(annotated["impact_times_s"])
    assert all(
        {"time_s", "neighbour", "neighbour_material", "gain"} <= set(imp) for imp in doc["impacts"]
    )
    wave, sr = load_audio(audio, allow_silent=True)
    assert sr == 22050 and abs(wave.size / sr - doc["duration_s"]) < 1e-3
    assert np.abs(wave).max() > 0.05  # the impacts are heard
    frames = read_video(muxed)
    assert frames.has_audio and frames.num_frames == annotated["frames"]


def test_synthesize_is_reproducible_and_names_its_model(served, gh_demo_dir: Path):
    _, _, client = served
    clip = gradio_client.handle_file(
        str(gh_demo_dir / "physics_driven_diffusion_model_sample_12.mp4")
    )
    first = client.predict(clip, "small", 3, api_name="/synthesize")[2]
    again = client.predict(clip, "", 3, api_name="/synthesize")[2]
    assert first["impacts"] == again["impacts"]
    with pytest.raises(gradio_client.exceptions.AppError, match="nope"):
        client.predict(clip, "nope", 3, api_name="/synthesize")


def test_analyze_endpoint_on_a_hammer_recording(served, hammer_dir: Path):
    _, _, client = served
    doc = client.predict(
        gradio_client.handle_file(str(hammer_dir / "steel.wav")), api_name="/analyze"
    )
    # the JSON of `analyze --json`: every mode of the paper preset, strongest first
    assert doc["preset"] == "paper" and doc["sample_rate"] == 44100
    assert doc["num_modes"] == 1025 and len(doc["modes"]) > 100
    powers = [m["power_db"] for m in doc["modes"]]
    assert powers == sorted(powers, reverse=True)
    assert 0 < doc["onset_s"] < 7.2


def test_wrong_type_is_refused_with_a_message(served, tmp_path: Path):
    _, _, client = served
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    with pytest.raises(gradio_client.exceptions.AppError, match="notes.txt is refused"):
        client.predict(gradio_client.handle_file(str(notes)), "", 0, api_name="/synthesize")
    with pytest.raises(gradio_client.exceptions.AppError, match="not a recording type"):
        client.predict(gradio_client.handle_file(str(notes)), api_name="/analyze")


def test_oversized_upload_is_refused(served, tmp_path: Path):
    import httpx

    _, url, client = served
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * int((UPLOAD_LIMIT_MB + 1) * 2**20))
    # the client reads the limit from the app and refuses before sending ...
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict(gradio_client.handle_file(str(big)), "", 0, api_name="/synthesize")
    # ... and the server refuses it too when sent anyway
    with big.open("rb") as fh:
        reply = httpx.post(f"{url}gradio_api/upload", files={"files": fh}, timeout=30)
    assert reply.status_code == 413


def test_corrupt_video_is_one_message_and_the_app_serves_on(served, tmp_path, hammer_dir):
    _, _, client = served
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(np.random.default_rng(0).bytes(20_000))
    with pytest.raises(gradio_client.exceptions.AppError) as err:
        client.predict(gradio_client.handle_file(str(broken)), "", 0, api_name="/synthesize")
    message = str(err.value)
    assert (
        message.startswith("broken.mp4 is not a readable video")
        and "Traceback" not in message
        and "\n" not in message.strip()
    )
    doc = client.predict(
        gradio_client.handle_file(str(hammer_dir / "wood.wav")), api_name="/analyze"
    )
    assert doc["num_modes"] == 1025


def test_no_file_outside_the_app_can_be_read(served):
    _, url, _ = served
    for path in ("/etc/passwd", str(Path(__file__).resolve())):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}gradio_api/file={path}", timeout=10)
        assert err.value.code in (403, 404)


def test_demo_scene_is_served_from_the_apps_folder(served):
    app, _, _ = served
    video = Path(app.demo_video())
    assert video.is_file() and app.workspace.root in video.parents
    assert Path(app.demo_video()) == video  # rendered once


def test_one_impact_edited_leaves_the_others_alone(served, gh_demo_dir: Path):
    from physfoley.audio.loudness import head_peak
    from physfoley.web.backend import ImpactEdit
    from physfoley.web.session import VideoJob

    app, _, _ = served
    folder = app.workspace.folder("video")
    job = VideoJob(folder, gh_demo_dir / CLIP, app.shelf.load(""), seed=0)
    job.run()
    before = [imp.clip.copy() for imp in job.result.impacts]
    job.edit(1, ImpactEdit(freq_scale=1.3, decay_scale=0.7, speed_scale=2.0))
    after = [imp.clip for imp in job.result.impacts]
    assert after[1].shape != before[1].shape or not np.allclose(after[1], before[1])
    num = job.pipe.audio.num_samples
    assert after[1].size > num  # the edited impact keeps a tail, as the others have
    # and the physics loudness: its head is where the law puts twice the speed (+7.3 dB)
    peak = [head_peak(c, job.result.sample_rate)[0] for c in (before[1], after[1])]
    assert 20 * np.log10(peak[1] / peak[0]) == pytest.approx(7.345, abs=0.5) or peak[1] > 0.85
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[2], before[2])
    assert "f x1.30, d x0.70, +7.3 dB" in job.rows()[1]
    first = job.document["impacts"][0]
    for k in ("time_s", "neighbour", "neighbour_material", "impulse_n_s", "gain"):
        assert first[k] == getattr(job.result.impacts[0], k)
    assert first["speed_source"] in ("measured", "assumed")
    job.edit(1, ImpactEdit(material="metal"))
    metal = job.result.impacts[1]
    assert metal.neighbour_material == "metal" and metal.clip.size > num
    assert metal.impulse_n_s == job.generated[1].impulse_n_s  # the same hit, the same level
    assert head_peak(metal.clip, job.result.sample_rate)[0] == pytest.approx(peak[0], rel=0.05)
    # move, add and delete impact times: the soundtrack is made again at exactly those times
    job.retime([0.5, 1.0, 1.9, 1.2])
    assert job.times() == [0.5, 1.0, 1.2, 1.9] and all(e == ImpactEdit() for e in job.edits)
    assert [row[-1] for row in job.rows()] == ["hand"] * 4
    job.close()
    assert not folder.exists()


def test_web_command_checks_its_options(capsys):
    from physfoley.cli import main

    assert main(["web", "--port", "0"]) == 2
    assert "--port must be between" in capsys.readouterr().err
    assert main(["web", "--max-upload-mb", "0"]) == 2
    with pytest.raises(SystemExit):
        main(["web", "--help"])
    assert "--share" in capsys.readouterr().out


def test_an_upload_that_has_not_landed_is_one_message(served, tmp_path):
    import gradio as gr

    app = served[0]
    with pytest.raises(gr.Error, match="clip.mp4 has not arrived yet"):
        app.check_upload(str(tmp_path / "clip.mp4"), (".mp4",), "video")
    (tmp_path / "clip.mp4").write_bytes(b"\0" * 10)
    assert app.check_upload(str(tmp_path / "clip.mp4"), (".mp4",), "video").is_file()
