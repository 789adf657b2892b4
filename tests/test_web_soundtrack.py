"""The web app with a diff-foley (whole-soundtrack) model directory: a real server on a free
localhost port, called through gradio_client's /synthesize with a tiny model built here."""

from __future__ import annotations

import json
import socket

import pytest
from _soundtrack_data import make_synthhits, tiny_model_dir

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from physfoley.web.app import PER_IMPACT_ONLY, WebApp, WebSettings  # noqa: E402
from physfoley.web.session import ONSET_COLUMNS, SoundtrackJob  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    raw = make_synthhits(tmp_path_factory.mktemp("v"), videos=1, seconds=2.0)
    return next(raw.glob("*_denoised.mp4"))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(app, client) of an app started with `--model DIR` of a tiny diff-foley model."""
    model = tiny_model_dir(tmp_path_factory.mktemp("m") / "tinydf")
    app = WebApp(WebSettings(model=str(model)))
    port = free_port()
    app.launch(port=port, prevent_thread_lock=True, quiet=True)
    client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
    yield app, client
    app.blocks.close()
    app.close()


def test_the_model_list_offers_the_directory_with_its_family(served):
    app, _ = served
    assert app.shelf.names[0] == "small" and app.shelf.default == "tinydf"
    assert app.shelf.describe("") == "tinydf (diff-foley)"
    assert app.shelf.describe("small") == "small (per-impact)"


def test_synthesize_endpoint_gives_the_whole_soundtrack_and_its_json(served, video):
    from physfoley.audio.io import load_audio
    from physfoley.video.io import read_video

    _, client = served
    clip = gradio_client.handle_file(str(video))
    audio, muxed, doc = client.predict(clip, "", 3, api_name="/synthesize")
    # the JSON of `synthesize --json` for a diff-foley model: settings, windows and onsets
    assert doc["family"] == "diff-foley" and doc["seed"] == 3
    assert doc["sampler"] == "ddim" and doc["steps"] == 3 and doc["sample_rate"] == 16000
    assert {"audio", "video", "window_starts_s", "onsets"} <= set(doc)
    assert all(set(o) == {"time_s", "confidence"} for o in doc["onsets"])
    wave, sr = load_audio(audio, allow_silent=True)
    frames = read_video(muxed)
    assert sr == 16000 and len(wave) == round(read_video(video).duration_s * 16000)
    assert frames.has_audio
    # the same model by name, same seed: the same soundtrack
    again = client.predict(clip, "tinydf", 3, api_name="/synthesize")[2]
    assert again["onsets"] == doc["onsets"]


def test_the_page_shows_onsets_and_disables_the_per_impact_controls(served, video):
    app, _ = served
    job = app.synthesize(str(video), "", 0, None, progress=lambda *a, **k: None)[-1]
    assert isinstance(job, SoundtrackJob)
    views = app.video_views(job)
    status, note, table = views[:3]
    assert "Whole soundtrack" in status and "tinydf (diff-foley)" in status
    assert note == PER_IMPACT_ONLY.format(model="tinydf (diff-foley)")
    assert "per-impact models only" in note
    assert table["headers"] == ONSET_COLUMNS and len(table["data"]) == len(job.times())
    impact, times, retime, _, material, *sliders = views[5:]
    assert all(u["interactive"] is False for u in (impact, times, retime, material, *sliders))
    assert json.loads(job.files["json"].read_text()) == job.document
    for call in (
        lambda: app.retime(job, "0.5"),
        lambda: app.edit_impact(job, 0, 1, 1, 0, 1, 1, ""),
    ):
        with pytest.raises(gr.Error, match="per-impact models only"):
            call()
    folder = job.folder
    job.close()
    assert not folder.exists()


def test_a_directory_without_a_model_is_refused_at_start(tmp_path):
    from physfoley.errors import ModelError
    from physfoley.web.backend import ModelShelf

    with pytest.raises(ModelError, match="no config.json"):
        ModelShelf.from_option(str(tmp_path))
