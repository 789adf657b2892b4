"""ImpactPipeline: windows, timeline placement, mixing, and the whole flow with a tiny random model."""

from __future__ import annotations

import numpy as np
import pytest

from physfoley.pipeline import (
    MIX_PEAK,
    mix_without_clipping,
    place_on_timeline,
)


def test_place_on_timeline_puts_each_clip_at_its_sample_and_cuts_at_the_end():
    clips = np.stack([np.full(4, 1.0), np.full(4, 2.0), np.full(4, 3.0)]).astype(np.float32)
    out = place_on_timeline(clips, np.array([0, 2, 8]), length=10)
    np.testing.assert_array_equal(out, [1, 1, 3, 3, 2, 2, 0, 0, 3, 3])
    assert place_on_timeline(np.zeros((0, 4)), np.zeros(0, np.int64), 5).shape == (5,)


def test_mix_only_scales_when_it_would_clip():
    quiet = np.array([0.2, -0.5, 0.9], np.float32)
    same, gain = mix_without_clipping(quiet)
    assert gain == 1.0 and same is quiet
    loud = np.array([0.5, -2.5, 1.0], np.float32)
    mixed, gain = mix_without_clipping(loud)
    assert gain == pytest.approx(MIX_PEAK / 2.5)
    assert np.max(np.abs(mixed)) == pytest.approx(MIX_PEAK)
    np.testing.assert_allclose(mixed / loud, gain, rtol=1e-6)  # one gain, shape unchanged
