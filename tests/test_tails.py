"""Tails (physfoley.audio.tails) and the impact level law (physfoley.audio.loudness)."""

from __future__ import annotations

import numpy as np
import pytest

from physfoley.audio import loudness
from physfoley.audio.params import ModalParams
from physfoley.audio.tails import (
    bounded_decays,
    extend_clips,
    fade_end,
    ring_time_s,
    tail_level_db,
    with_ring_length,
)

SR = 22050


def one_mode(
    decay_db_per_s: float, n: int, freq_hz: float = 440.0
) -> tuple[np.ndarray, ModalParams]:
    """A damped sine [1, n] and its exact parameters (batched, with two silent modes)."""
    t = np.arange(n) / SR
    wave = (np.sin(2 * np.pi * freq_hz * t) * 10 ** (-decay_db_per_s * t / 20)).astype(np.float32)
    params = ModalParams(
        freq_hz=np.array([[freq_hz, 1000.0, 2000.0]], np.float32),
        power_db=np.array([[0.0, -300.0, -300.0]], np.float32),
        decay_db_per_s=np.array([[decay_db_per_s, 50.0, 50.0]], np.float32),
        sample_rate=SR,
        num_samples=n,
    )
    return wave[None], params


def test_ring_time_is_the_time_to_decay_by_the_floor():
    _, params = one_mode(30.0, 5512)
    assert ring_time_s(params)[0] == pytest.approx(2.0)  # 60 dB at 30 dB/s
    assert ring_time_s(params, floor_db=30.0)[0] == pytest.approx(1.0)
    assert ring_time_s(params, max_s=1.5)[0] == pytest.approx(1.5)
    _, fast = one_mode(2000.0, 5512)
    assert ring_time_s(fast)[0] == pytest.approx(5512 / SR)  # never shorter than the head


def test_a_mode_that_does_not_decay_is_bounded():
    _, params = one_mode(0.0, 5512)
    assert np.all(bounded_decays(params, max_s=4.0).decay_db_per_s >= 15.0)
    assert with_ring_length(params).num_samples == round(10.0 * SR)  # capped at MAX_RESYNTH_S
    assert with_ring_length(params, 0.5).num_samples == round(0.5 * SR)


def test_extension_continues_the_head_seamlessly_until_minus_60_db():
    n = 5512
    head, params = one_mode(30.0, n)
    full, _ = one_mode(30.0, 2 * SR)
    out, lengths = extend_clips(head, params)
    assert lengths[0] == 2 * SR and out.shape == (1, 2 * SR)
    np.testing.assert_array_equal(out[0, : n - 600], head[0, : n - 600])  # head untouched
    # the continuation of exact parameters is the sound itself: no jump, same level and decay
    np.testing.assert_allclose(out[0, n:SR], full[0, n:SR], atol=0.02)
    steps = np.abs(np.diff(out[0, n - 800 : n + 200]))
    assert steps.max() < 1.2 * np.abs(np.diff(full[0, n - 800 : n + 200])).max()
    want = tail_level_db(full[0], SR, np.array([0.0]))[0]
    assert tail_level_db(out[0], SR, np.array([0.0]))[0] == pytest.approx(want, abs=0.5)
    assert out[0, -1] == 0.0  # faded to silence at its ring time


def test_extension_level_matches_a_quieter_head():
    head, params = one_mode(40.0, 5512)
    full, _ = one_mode(40.0, 8000)
    out, _ = extend_clips(0.1 * head, params)
    np.testing.assert_allclose(out[0, 6000:8000], 0.1 * full[0, 6000:8000], atol=2e-3)


def test_tail_level_of_a_known_decay():
    wave, _ = one_mode(20.0, SR)
    # mean power over 0.30-0.60 s relative to 0-0.25 s of a 20 dB/s decay, power 10^(-2 t)
    k = 2 * np.log(10.0)
    mean = lambda a, b: (np.exp(-k * a) - np.exp(-k * b)) / k / (b - a)  # noqa: E731
    level = tail_level_db(wave[0], SR, np.array([0.0, 0.9]))
    assert level[0] == pytest.approx(10 * np.log10(mean(0.3, 0.6) / mean(0.0, 0.25)), abs=0.2)
    assert np.isnan(level[1])


def test_fade_end_reaches_zero():
    assert fade_end(np.ones(1000, np.float32), SR)[-1] == pytest.approx(0.0, abs=1e-6)


def test_level_law_follows_the_impulse():
    j = np.array([0.5, 1.0, 2.0]) * loudness.REF_IMPULSE_N_S
    peak = loudness.target_peak(j)
    db = 20 * np.log10(peak)
    assert db[1] == pytest.approx(loudness.LEVEL_REF_DB)
    assert db[2] - db[1] == pytest.approx(loudness.LEVEL_EXPONENT * 20 * np.log10(2.0))
    assert loudness.target_peak(np.array([1e6]))[0] == pytest.approx(loudness.MAX_IMPACT_PEAK)
    assert loudness.target_peak(np.array([0.0]))[0] > 0  # a heard hit is never silent
    assert loudness.impulse_n_s(0.1, np.array([2.0]), np.array([1.0]))[0] == pytest.approx(0.3)


def test_gains_bring_each_head_to_its_target_and_never_past_the_cap():
    clips = np.zeros((2, 2000), np.float32)
    clips[0, 10], clips[1, 10], clips[1, 1500] = 0.5, 0.2, 0.9  # clip 1 is louder later
    gains = loudness.impact_gains(clips, np.array([0.25, 0.4]), SR)
    np.testing.assert_allclose(gains, [0.5, 2.0])
    limited = loudness.limit_gains(clips, gains)
    assert limited[0] == pytest.approx(0.5)
    assert limited[1] * 0.9 == pytest.approx(loudness.MAX_IMPACT_PEAK)
