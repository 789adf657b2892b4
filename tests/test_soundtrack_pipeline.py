"""`SoundtrackPipeline`: windows, crossfade, exact length, model directories of the wrong family."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _soundtrack_data import make_synthhits, tiny_model_dir

from physfoley.errors import InputError, ModelError
from physfoley.soundtrack_pipeline import SoundtrackPipeline, crossfade, window_starts


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return SoundtrackPipeline.from_pretrained(
        tiny_model_dir(tmp_path_factory.mktemp("m") / "model")
    )


def test_windows_cover_the_timeline_with_overlap():
    assert window_starts(40, 64, 8) == [0]
    starts = window_starts(94, 64, 8)
    assert starts == [0, 30]
    for total in (65, 126, 300, 938):
        s = window_starts(total, 64, 8)
        assert s[0] == 0 and s[-1] + 64 == total
        assert all(b - a <= 64 - 8 for a, b in zip(s, s[1:], strict=False))


def test_crossfade_weights_sum_to_one():
    windows = np.full((3, 2, 16), 0.5, np.float32)
    out = crossfade(windows, [0, 3, 6], 4, 40)
    assert out.shape == (2, 40) and np.allclose(out, 0.5)
    ramps = crossfade(
        np.stack([np.zeros((1, 16)), np.ones((1, 16))]).astype(np.float32), [0, 2], 4, 24
    )
    assert np.all(np.diff(ramps[0, 8:16]) > 0) and ramps[0, 0] == 0 and ramps[0, -1] == 1


def test_two_window_video_crossfades_to_the_exact_length(pipe):
    frames = np.random.default_rng(0).integers(0, 256, (180, 64, 64, 3), dtype=np.uint8)
    times = np.arange(180) / 29.97
    result = pipe.synthesize_frames(frames, times, 6.006, cg_scale=5.0, griffin_lim_iters=2)
    assert len(result.window_starts_s) == 2
    assert result.wave.shape == (round(6.006 * 16000),) and result.sample_rate == 16000
    assert np.isfinite(result.wave).all() and result.settings["sampler"] == "ddim"
    again = pipe.synthesize_frames(frames, times, 6.006, cg_scale=5.0, griffin_lim_iters=2)
    assert np.array_equal(result.wave, again.wave)
    short = pipe.synthesize_frames(frames[:30], times[:30], 1.0, griffin_lim_iters=2)
    assert short.wave.shape == (16000,) and len(short.window_starts_s) == 1
    big = np.repeat(np.repeat(frames[:30], 2, axis=1), 2, axis=2)  # 128 px frames are resized
    assert pipe.synthesize_frames(big, times[:30], 1.0, griffin_lim_iters=2).wave.shape == (16000,)


def test_video_file_gives_a_soundtrack_as_long_as_the_video(pipe, tmp_path):
    raw = make_synthhits(tmp_path, videos=1, seconds=2.0)
    video = next(raw.glob("*_denoised.mp4"))
    result = pipe.synthesize(video, steps=2, griffin_lim_iters=2)
    from physfoley.video.io import read_video

    assert result.wave.shape == (round(read_video(video).duration_s * 16000),)
    assert {"read_video", "video_features", "sampling", "vae_decode", "vocoder"} <= set(
        result.timings_s
    )


def test_wrong_family_corrupt_or_classifier_less_models(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        SoundtrackPipeline.from_pretrained(tmp_path / "none")
    per_impact = tmp_path / "per_impact"
    per_impact.mkdir()
    (per_impact / "config.json").write_text(json.dumps({"name": "small"}))
    with pytest.raises(ModelError, match="per-impact"):
        SoundtrackPipeline.from_pretrained(per_impact)
    broken = tiny_model_dir(tmp_path / "broken")
    (broken / "ldm.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelError, match="ldm"):
        SoundtrackPipeline.from_pretrained(broken)
    plain = SoundtrackPipeline.from_pretrained(tiny_model_dir(tmp_path / "plain", classifier=False))
    frames = np.zeros((10, 64, 64, 3), np.uint8)
    with pytest.raises(InputError, match="cg-scale"):
        plain.synthesize_frames(frames, np.arange(10) / 30, 0.33, cg_scale=1.0)
