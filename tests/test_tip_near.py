"""Speeds at given times from the frames around them only (`video.stream.tip_frames_near`):
what the pipeline uses on long videos so that synthesize's memory stays bounded."""

from __future__ import annotations

import numpy as np

from physfoley.data.synthhits.generate import generate_video
from physfoley.pipeline import decode_video
from physfoley.video.speeds import impacts_at
from physfoley.video.stream import TIP_NEAR_AFTER_S, TIP_NEAR_BEFORE_S, tip_frames_near


def test_frames_near_the_hits_only_with_their_own_times(tmp_path):
    generate_video(tmp_path, "v", 11, seconds=6.0)
    path = tmp_path / "v_denoised.mp4"
    hits = np.array([float(line.split()[0]) for line in open(tmp_path / "v_times.txt")])[:2]
    work = decode_video(path)  # the default detector's grey work frames
    near = tip_frames_near(work, hits)
    full = decode_video(path, "tip")
    times = np.asarray(full.times_s)
    inside = np.zeros(times.size, bool)
    for t in hits:
        inside |= (times >= t - TIP_NEAR_BEFORE_S) & (times <= t + TIP_NEAR_AFTER_S)
    np.testing.assert_array_equal(near.times_s, times[inside])
    np.testing.assert_array_equal(near.frames, full.frames[inside])  # the same pixels
    assert near.frames.ndim == 4 and near.scale == full.scale
    # the striker is tracked at the hits from the windows alone
    speeds = [ev.speed_before_px_s for ev in impacts_at(near, hits)]
    assert len(speeds) == hits.size and all(s > 0 for s in speeds)
