"""A detector's per-frame output (`MotionTrack`) and impacts picked from its score (`pick_peaks`).

Both impact detectors, the optical-flow one (`physfoley.video.flow`) and the tip tracker
(`physfoley.video.tip`), score every frame for "a striker was stopped here", fill a
`MotionTrack` and take the local maxima of that score as impacts; `physfoley.video.events`
turns the peaks into `ImpactEvent`s and `physfoley detect --plot` draws the track.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class MotionTrack:
    """Per-frame striker motion, as used by the detector (for plots and diagnostics).

    times_s : [T] frame times
    score : [T] deceleration score (image long-sides per second), 0 at the first/last frame
    speed_px_s : [T] striker speed arriving at each frame (pixels/s of the original video)
    x, y : [T] position of the score peak (pixels of the original video)
    scale : original pixels per working pixel
    events : the `ImpactEvent`s found on this track (set by `detect_impacts`)
    """

    times_s: np.ndarray
    score: np.ndarray
    speed_px_s: np.ndarray
    x: np.ndarray
    y: np.ndarray
    scale: float
    events: list = field(default_factory=list)


def pick_peaks(
    score: np.ndarray, times: np.ndarray, threshold: float, min_sep_s: float
) -> np.ndarray:
    """Indices of local maxima of score >= threshold, greedily kept at least min_sep_s apart.

    score : [T] per-frame score; times : [T] frame times in seconds. Returns [P] int64 frame
    indices in time order; of two peaks closer than `min_sep_s` the higher one is kept.
    """
    cand = np.flatnonzero(
        (score >= threshold)
        & (score >= np.concatenate([[-np.inf], score[:-1]]))
        & (score > np.concatenate([score[1:], [-np.inf]]))
    )
    if cand.size == 0:
        return cand
    order = cand[np.argsort(-score[cand], kind="stable")]
    kept: list[int] = []
    for i in order:  # few candidates: a loop over peaks, not frames
        if all(abs(times[i] - times[j]) >= min_sep_s for j in kept):
            kept.append(int(i))
    return np.sort(np.asarray(kept, dtype=np.int64))


__all__ = ["MotionTrack", "pick_peaks"]
