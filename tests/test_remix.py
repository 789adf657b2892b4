"""One impact made again and mixed again (physfoley.remix), with the shipped model."""

from __future__ import annotations

import numpy as np
import pytest

from physfoley import ImpactPipeline
from physfoley.audio.spectrogram import log_spectrogram
from physfoley.errors import InputError
from physfoley.pipeline import ImpactSound
from physfoley.remix import (
    ImpactEdit,
    bank_materials,
    edit_impact,
    edit_spectrogram,
    mix_impacts,
    synthesize_impact,
)
from physfoley.video.io import VideoFrames


@pytest.fixture(scope="module")
def pipe() -> ImpactPipeline:
    return ImpactPipeline.from_pretrained()


@pytest.fixture(scope="module")
def frames() -> VideoFrames:
    rng = np.random.default_rng(0)
    fps = 29.97
    video = rng.integers(0, 255, size=(40, 64, 64, 3), dtype=np.uint8)
    times = np.arange(40) / fps
    return VideoFrames(video, times, fps, 64, 64, 40 / fps, False)


def mode_spectrogram(num_bins=64, num_frames=20, bin_=20, slope=0.05) -> np.ndarray:
    """A log-spectrogram [F, T] with one mode: a line falling from 0.5 in bin `bin_`."""
    spec = np.full((num_bins, num_frames), -1.0, np.float32)
    spec[bin_] = 0.5 - slope * np.arange(num_frames)
    return spec


def test_frequency_edit_moves_every_bin():
    spec = mode_spectrogram(bin_=20)
    up = edit_spectrogram(spec, freq_scale=1.5)
    assert up.shape == spec.shape
    assert np.argmax(up[:, 0]) == 30
    down = edit_spectrogram(spec, freq_scale=0.5)
    assert np.argmax(down[:, 0]) == 10
    # content pushed past the top bin is gone, bins left empty are silent
    assert np.all(edit_spectrogram(mode_spectrogram(bin_=60), freq_scale=2.0) == -1.0)


def test_decay_edit_scales_the_fall_after_the_peak():
    spec = mode_spectrogram(slope=0.05)
    slow = edit_spectrogram(spec, decay_scale=0.5)
    np.testing.assert_allclose(np.diff(slow[20]), -0.025, atol=1e-6)
    np.testing.assert_array_equal(edit_spectrogram(spec), spec)
    batch = edit_spectrogram(np.stack([spec, spec]), freq_scale=1.5, decay_scale=2.0)
    assert batch.shape == (2, *spec.shape)


def test_level_follows_the_kinetic_energy():
    # the loudness law: peak ~ impulse^1.22, impulse ~ speed * mass
    assert ImpactEdit(speed_scale=2.0).level_db == pytest.approx(7.3451, abs=1e-3)
    assert ImpactEdit(mass_scale=2.0).level_db == pytest.approx(7.3451, abs=1e-3)
    assert ImpactEdit(gain_db=-3.0, speed_scale=0.5).level_db == pytest.approx(-10.3451, abs=1e-3)
    for bad in ({"freq_scale": 0.0}, {"mass_scale": -1.0}, {"gain_db": float("nan")}):
        with pytest.raises(InputError):
            ImpactEdit(**bad)


def test_edit_impact_moves_a_tone_and_keeps_the_clip_when_unchanged(pipe):
    audio = pipe.audio
    t = np.arange(audio.num_samples) / audio.sample_rate
    tone = (0.2 * np.sin(2 * np.pi * 2000.0 * t) * np.exp(-12.0 * t)).astype(np.float32)
    spec = log_spectrogram(tone, audio)[0].numpy()
    sound = ImpactSound(0.1, 3, "clip", "metal", 0.0, clip=tone, spectrogram=spec)
    np.testing.assert_array_equal(edit_impact(pipe, sound, ImpactEdit()), tone)
    louder = edit_impact(pipe, sound, ImpactEdit(gain_db=6.0))
    np.testing.assert_allclose(louder, tone * 10 ** (6 / 20), rtol=1e-6)
    moved = edit_impact(pipe, sound, ImpactEdit(freq_scale=1.5))
    freqs = np.fft.rfftfreq(moved.size, 1 / audio.sample_rate)
    peak_hz = freqs[np.argmax(np.abs(np.fft.rfft(moved * np.hanning(moved.size))))]
    assert abs(peak_hz - 3000.0) < 2 * audio.sample_rate / audio.n_fft


def test_one_impact_made_again_with_a_material_and_mixed_as_synthesize_does(pipe, frames):
    result = pipe.synthesize(frames, times=[0.3, 0.6], steps=2, seed=0)
    clips = np.stack([imp.clip for imp in result.impacts])
    audio, gain = mix_impacts(
        clips,
        [imp.time_s for imp in result.impacts],
        duration_s=result.duration_s,
        sample_rate=result.sample_rate,
    )
    np.testing.assert_array_equal(audio, result.audio)
    assert gain == result.gain

    assert "metal" in bank_materials(pipe.bank)
    metal = synthesize_impact(pipe, frames, 0.6, material="metal", seed=1, steps=2)
    assert metal.neighbour_material == "metal" and metal.frame == result.impacts[1].frame
    assert metal.clip.shape[0] >= pipe.audio.num_samples  # the head and its tail
    same = synthesize_impact(pipe, frames, 0.6, material="metal", seed=1, steps=2)
    np.testing.assert_array_equal(same.clip, metal.clip)
    with pytest.raises(InputError, match="no 'unobtainium' clips"):
        synthesize_impact(pipe, frames, 0.6, material="unobtainium", steps=2)
    with pytest.raises(InputError, match="outside the video"):
        synthesize_impact(pipe, frames, 5.0, steps=2)
