"""Soundtrack timing presets, the segments format and `physfoley data segments`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _soundtrack_data import make_segments

from physfoley.cli import main
from physfoley.data.segments import SegmentData
from physfoley.errors import InputError
from physfoley.soundtrack_config import (
    SoundtrackConfig,
    get_soundtrack_preset,
    nearest_frames,
)


@pytest.fixture(scope="module")
def segments(tmp_path_factory):
    return make_segments(tmp_path_factory.mktemp("soundtrack"))


def test_presets_line_up_audio_latent_and_video():
    paper, small = get_soundtrack_preset("paper"), get_soundtrack_preset("small")
    assert paper.segment_s == pytest.approx(8.192) and paper.n_mels == 128
    assert paper.latent_shape == (4, 16, 64) and paper.visual_frames == 32  # 4 fps
    assert small.latent_shape == (4, 16, 64) and small.segment_s == pytest.approx(4.096)
    assert small.visual_frames == small.latent_frames  # one visual feature per latent frame
    assert 1 / small.visual_fps < 0.1  # resolves a hit within the 0.1 s tolerance
    assert small.visual_index(10) == 10 and paper.visual_index(2) == 1
    with pytest.raises(InputError, match="multiple"):
        SoundtrackConfig(name="bad", segment_mel_frames=250)
    with pytest.raises(InputError, match="unknown soundtrack preset"):
        get_soundtrack_preset("huge")
    assert SoundtrackConfig.from_dict(small.to_dict()) == small


def test_nearest_frames_picks_the_closest_decoded_frame():
    times = np.arange(30) / 29.97
    idx = nearest_frames(times, 15.625, 10)
    want = (np.arange(10) + 0.5) / 15.625
    assert np.all(np.abs(times[idx] - want) <= 0.5 / 29.97 + 1e-9)
    assert np.all(nearest_frames(times, 15.625, 40)[-5:] == 29)  # past the end: the last frame


def test_segments_are_aligned_compact_and_split_by_video(segments):
    data = SegmentData.open(segments)
    cfg = data.cfg
    assert len(data.videos) == 4 and len(data.indices("test")) == 1
    v = int(data.indices("train")[0])
    assert data.mel(v).dtype == np.float16 and data.frames(v).dtype == np.uint8
    assert data.frames(v).shape[1:] == (64, 64, 3)
    mel, frames = data.segment(v, 3)
    assert mel.shape == (cfg.n_mels, cfg.segment_mel_frames) and mel.dtype == np.float32
    assert frames.shape == (cfg.visual_frames, 64, 64, 3)
    assert np.array_equal(mel, data.mel(v)[12 : 12 + cfg.segment_mel_frames].T.astype(np.float32))
    assert -1.0 <= mel.min() and mel.max() <= 1.0
    hits = data.hits(v, 3)
    assert len(hits) and np.all((hits >= 0) & (hits < cfg.segment_s))
    true = np.array(data.videos[v]["hit_times_s"])
    assert np.allclose(
        np.sort(hits + 3 / cfg.latent_rate_hz), true[(true >= 0.192) & (true < 0.192 + 4.096)]
    )
    assert data.videos[v]["hits_source"] == "physics"
    splits = {data.videos[i]["split"] for i, _ in data.canonical("test")}
    assert splits == {"test"}
    short = data.batch([(v, 0), (v, 5)], length=16)
    assert short[0].shape == (2, cfg.n_mels, 64) and short[1].shape == (2, 16, 64, 64, 3)


def test_cli_segments_resumes_and_rejects_bad_input(segments, tmp_path, capsys):
    raw = segments.parent / "raw"
    assert (
        main(["data", "segments", str(raw), "--out", str(segments), "--json", "--no-progress"]) == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["videos_cached"] == 4 and summary["videos_prepared"] == 0
    assert main(["data", "segments", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "not a folder" in capsys.readouterr().err
    code = main(["data", "segments", str(raw), "--out", str(segments), "--preset", "paper"])
    assert code == 2 and "other settings" in capsys.readouterr().err


def test_recorded_level_undoes_synthhits_gain_and_keeps_it_in_the_meta(segments, tmp_path):
    from physfoley.audio.io import load_audio
    from physfoley.data.segments import (
        PEAK_AMPLITUDE,
        SYNTHHITS_FULL_SCALE_DB,
        training_level,
    )

    raw = segments.parent / "raw"
    out = tmp_path / "rec"
    args = ["data", "segments", str(raw), "--out", str(out), "--no-progress"]
    assert main([*args, "--level", "recorded"]) == 0
    assert json.loads((out / "meta.json").read_text())["level"] == "recorded"
    assert SegmentData.open(out).level == "recorded" and SegmentData.open(segments).level == "peak"
    peak, rec = SegmentData.open(segments), SegmentData.open(out)
    shifts = []
    for v, video in enumerate(peak.videos):
        doc = json.loads((raw / f"{video['name']}_physics.json").read_text())
        wave, _ = load_audio(raw / f"{video['name']}_denoised.wav", sample_rate=16000)
        # the stored level: the recording with its gain undone, full scale = 200 dB unscaled
        expected_db = (
            -SYNTHHITS_FULL_SCALE_DB
            - 20 * np.log10(doc["gain"])
            - 20 * np.log10(PEAK_AMPLITUDE / np.abs(wave).max())
        )
        a, b = peak.mel(v).astype(np.float64), rec.mel(v).astype(np.float64)
        inside = (a > -0.9) & (a < 0.5) & (b > -0.9) & (b < 0.99)  # off the floor and the top
        shift_db = np.median((b - a)[inside]) * peak.cfg.db_range / 2
        assert abs(shift_db - expected_db) < 0.2, (shift_db, expected_db)
        shifts.append(shift_db)
    assert np.ptp(shifts) > 1.0  # the videos' levels differ: the random gains are undone
    # a peak-level run over a recorded folder is refused, --force rebuilds it
    assert main(args) == 2
    assert main([*args, "--force"]) == 0
    assert np.array_equal(SegmentData.open(out).mel(0), peak.mel(0))
    wave = np.ones(8, np.float32)
    assert np.allclose(training_level(wave, None, "recorded"), wave)  # no record: as recorded
    with pytest.raises(InputError, match="gain"):
        training_level(wave, {"gain": -1.0}, "recorded")
    with pytest.raises(InputError, match="unknown level"):
        training_level(wave, None, "loud")
