"""Config presets, atomic writes and CLI error handling."""

from __future__ import annotations

import numpy as np
import pytest

from physfoley.atomic import atomic_path, write_text_atomic
from physfoley.audio.io import load_audio, write_audio
from physfoley.config import PRESETS, AudioConfig, apply_overrides, get_preset
from physfoley.errors import InputError, OutputExistsError


@pytest.mark.parametrize("name,shape", [("paper", (1025, 44)), ("small", (257, 44))])
def test_preset_spectrogram_shapes(name, shape):
    assert get_preset(name).spec_shape == shape


def test_unknown_preset_and_key_are_input_errors():
    with pytest.raises(InputError):
        get_preset("huge")
    with pytest.raises(InputError, match="unknown config key"):
        apply_overrides(PRESETS["small"], {"n_fftt": 1})
    cfg = apply_overrides(PRESETS["small"], {"n_fft": 1024})
    assert isinstance(cfg, AudioConfig) and cfg.num_freqs == 513


def test_atomic_write_refuses_overwrite_and_cleans_up(tmp_path):
    target = tmp_path / "a.txt"
    write_text_atomic(target, "one")
    with pytest.raises(OutputExistsError):
        write_text_atomic(target, "two")
    assert target.read_text() == "one"
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "b.txt") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    write_text_atomic(target, "two", force=True)
    assert target.read_text() == "two"


def test_atomic_outputs_get_the_users_usual_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        target = write_text_atomic(tmp_path / "p.txt", "x")
    finally:
        os.umask(old)
    assert (target.stat().st_mode & 0o777) == 0o644


def test_audio_roundtrip_mixdown_and_resample(tmp_path):
    sr = 22050
    t = np.arange(sr // 4) / sr
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)]) * 0.5
    path = write_audio(tmp_path / "x.wav", stereo, sr)
    wave, got_sr = load_audio(path)
    assert got_sr == sr and wave.shape == (sr // 4,)
    np.testing.assert_allclose(wave, 0.25 * np.sin(2 * np.pi * 440 * t), atol=2e-4)
    wave44, sr44 = load_audio(path, sample_rate=44100)
    assert sr44 == 44100 and abs(len(wave44) - 2 * len(wave)) <= 2


@pytest.mark.parametrize("content", [b"", b"not audio at all"])
def test_bad_audio_is_input_error(tmp_path, content):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(content)
    with pytest.raises(InputError):
        load_audio(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_audio(tmp_path / "missing.wav")


def test_silent_and_nan_audio_rejected(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "z.wav", np.zeros(1000, np.float32), 8000)
    with pytest.raises(InputError, match="silent"):
        load_audio(tmp_path / "z.wav")
    sf.write(tmp_path / "n.wav", np.full(1000, np.nan, np.float32), 8000, subtype="FLOAT")
    with pytest.raises(InputError, match="NaN"):
        load_audio(tmp_path / "n.wav")


def test_cli_help_runs():
    from physfoley.cli import build_parser

    assert "physfoley" in build_parser().format_help()
