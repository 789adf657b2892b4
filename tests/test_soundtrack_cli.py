"""`physfoley synthesize --model DIR|diff-foley` dispatching on the model directory's family."""

from __future__ import annotations

import json

import pytest
from _soundtrack_data import make_synthhits, tiny_model_dir

from physfoley.audio.io import load_audio
from physfoley.cli import main
from physfoley.errors import ModelError
from physfoley.families import SHIPPED_MODELS, load_pipeline, resolve_model
from physfoley.model_dir import model_dir_family, read_model_config
from physfoley.soundtrack_pipeline import SoundtrackPipeline
from physfoley.video.io import read_video


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("m") / "model")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    raw = make_synthhits(tmp_path_factory.mktemp("v"), videos=1, seconds=2.0)
    return next(raw.glob("*_denoised.mp4"))


def test_synthesize_with_a_diff_foley_dir_writes_a_soundtrack_as_long_as_the_video(
    model, video, tmp_path, capsys
):
    out, muxed = tmp_path / "out.wav", tmp_path / "out.mp4"
    args = ["synthesize", str(video), "-o", str(out), "--video-out", str(muxed),
            "--model", str(model), "--steps", "2", "--sampler", "ddim", "--seed", "3",
            "--guidance", "2.5", "--cg-scale", "1", "--json"]  # fmt: skip
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["family"] == "diff-foley" and doc["audio"] == str(out)
    assert doc["steps"] == 2 and doc["sampler"] == "ddim" and doc["seed"] == 3
    assert doc["cfg_scale"] == 1.5 and doc["cg_scale"] == 1.0  # --guidance S is 1 + omega
    assert all(set(o) == {"time_s", "confidence"} for o in doc["onsets"])
    wave, sr = load_audio(out)
    assert sr == 16000 and len(wave) == round(read_video(video).duration_s * 16000)
    assert muxed.is_file()
    assert main(args) == 2 and "exists" in capsys.readouterr().err  # no --force: untouched
    assert main([*args, "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["onsets"] == doc["onsets"]  # same seed


def test_options_that_do_not_apply_are_refused_with_one_line(model, video, tmp_path, capsys):
    out = tmp_path / "x.wav"
    base = ["synthesize", str(video), "-o", str(out)]
    assert main([*base, "--model", str(model), "--times", "0.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--times does not apply to a diff-foley" in err and "\n" not in err
    assert not out.exists()
    assert main([*base, "--cg-scale", "1"]) == 2  # the shipped per-impact model
    assert "--cg-scale needs a diff-foley model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # refused by the argument type, before any work
        main([*base, "--model", str(model), "--guidance", "-1"])
    assert exited.value.code == 2
    assert "--guidance" in capsys.readouterr().err and not out.exists()


def test_families_wrong_corrupt_and_missing_models(model, video, tmp_path, capsys, monkeypatch):
    assert model_dir_family(model) == "diff-foley"
    assert isinstance(load_pipeline(model), SoundtrackPipeline)
    with pytest.raises(ModelError, match="diff-foley.*not a per-impact one"):
        read_model_config(model)
    assert model_dir_family(resolve_model(None)) == "per-impact"
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="corrupt"):
        load_pipeline(corrupt)
    (corrupt / "config.json").write_text(json.dumps({"family": "mmaudio"}))
    with pytest.raises(ModelError, match="holds a 'mmaudio' model"):
        load_pipeline(corrupt)
    (corrupt / "config.json").write_text(json.dumps({"family": "diff-foley", "format_version": 1}))
    with pytest.raises(ModelError, match="corrupt"):
        load_pipeline(corrupt)
    monkeypatch.chdir(tmp_path)
    if not SHIPPED_MODELS["diff-foley"].is_dir():
        with pytest.raises(ModelError, match="shipped diff-foley model is not installed"):
            resolve_model("diff-foley")
        code = main(["synthesize", str(video), "-o", "y.wav", "--model", "diff-foley"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and "not installed" in err and "\n" not in err
    else:  # once shipped, the name loads the whole-soundtrack family
        assert model_dir_family(resolve_model("diff-foley")) == "diff-foley"
    (tmp_path / "diff-foley").mkdir()  # a local directory of that name wins over the shipped one
    assert resolve_model("diff-foley").resolve() == (tmp_path / "diff-foley").resolve()
    with pytest.raises(ModelError, match="no config.json"):
        load_pipeline("diff-foley")
