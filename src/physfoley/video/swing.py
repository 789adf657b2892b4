"""Impact detection from the end of a swing: where the swept motion of a striker stops at once.

This is the `method="swing"` detector of `detect_impacts` (physfoley.video.events), the
default for real footage. It needs no optical flow and no model of what the striker looks
like, so it follows a thin stick that rotates about the hand and is motion-blurred on its way
down, which dense flow cannot follow and the tip tracker (`method="tip"`) loses.

1. Frames are converted to grey and resized so that the long side is `SWING_WORK_SIZE` pixels.
   Exact repeats (frame-rate conversion) are dropped: a repeated frame looks like a stop.
2. **Change maps.** Each frame is aligned to the previous one by a global translation (phase
   correlation: hand-held shake), and a pixel counts as changed by how far its grey level lies
   outside [min, max] of the previous frame's 3 x 3 neighbourhood (residual shake of one work
   pixel does not turn edges into change): 0 below `SWING_CHANGE_LEVEL` grey levels, 1 from
   twice that. Blurred with a Gaussian of `SWING_SIGMA` x the long side, this gives D_t [h, w],
   the local fraction of the picture that changed between frames t-1 and t. A striker sweeping
   through a region changes it in proportion to the distance it covers there (a blurred fast
   stick changes a wide wedge), so D_t measures how fast things move without following them.
3. **Stops.** Where D_t is high and D_{t+1} <= `SWING_STOP_FRACTION` x D_t, motion that arrived
   during (t-1, t) did not go on during (t, t+1): the striker reached frame t and stopped
   there (the first frame at the surface). The stop score of frame t is the largest
   D_t - D_{t+1} over such pixels, at the point (x, y) where it is reached, divided by the
   length of the interval (t-1, t): per second, so that thresholds hold at any frame rate.
4. **Approach.** A strike speeds up into the contact (arm and gravity); the top of a
   back-swing or a hand putting the striker down slows before it stops. Around (x, y)
   (radius `SWING_APPROACH_RADIUS` x the long side) the change over the last two intervals
   before the stop is compared with the two before them; the score is multiplied by their
   ratio when it is below 1. So a stop needs three intervals before it (t >= 3) and one
   after it; a stop in the last two frames is not reported (a clip that ends on a frozen
   frame would otherwise "stop" there).
5. **One contact per stroke.** A stroke has two stops: the contact and the turn at the top
   of the back-swing, within `SWING_STROKE_S` of each other. Peaks of the score >=
   `SWING_THRESHOLD` are kept strongest first, at least `SWING_STROKE_S` apart, so of a turn
   and the contact next to it only the harder stop (the contact, as a rule: the strike is the
   fast part of the stroke) is reported. Two strikes closer than that are reported as one.
6. The contact time is frame t's timestamp. Speeds are a rough proxy: the distance swept per
   frame near the stop point, pi x sigma x D (the width of a band crossing the Gaussian
   window), over the interval before the stop (the larger of the last two) and after it.

How the constants were chosen, and where it fails: docs/detection.md ("The swing detector").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physfoley.errors import InputError

#: Long side (pixels) of the frames the change maps are computed on (never upscaled).
SWING_WORK_SIZE = 112

#: Grey levels outside the previous frame's 3 x 3 range at which a pixel starts to count as
#: changed (fully changed at twice this): about 3 x the noise of compressed video.
SWING_CHANGE_LEVEL = 12.0

#: Gaussian blur of the change maps, as a fraction of the long side (5.6 px at 112 px).
SWING_SIGMA = 1.0 / 20.0

#: A stop keeps at most this fraction of the change on the way in (the project's stop
#: fraction: the flow detector's and the tip tracker's 0.3).
SWING_STOP_FRACTION = 0.3

#: Radius of the region around a stop whose change before it measures the approach,
#: as a fraction of the long side.
SWING_APPROACH_RADIUS = 0.2

#: Score threshold, in Gaussian windows per second: the fraction of the window's pixels whose
#: change stopped, per second of the interval it arrived in (3.0 = 0.1 of the window at 30
#: fps: a stick 3 px wide at 224 px that arrived and stayed), so that it holds at any frame
#: rate (a striker filmed at 60 fps sweeps half as much per frame).
SWING_THRESHOLD = 3.0

#: Of two stops at most this far apart (seconds), only the stronger is reported: a
#: back-swing's turn and its contact. Just above the longest turn-to-contact time SynthHits
#: draws (0.30 s, 9 frames) and well below its shortest time between hits (0.5 s); single
#: strokes with a stick are rarely faster than 3 per second.
SWING_STROKE_S = 0.32

#: A frame whose 99.9th percentile of absolute difference to the previous one is at most
#: this many grey levels repeats it (the flow detector's rule).
SWING_REPEAT_LEVEL = 2.0


@dataclass
class SwingTrack:
    """Per-frame output of the swing detector (distinct frames only).

    kept : [T'] indices of the distinct frames in the input
    times_s : [T'] their times
    score : [T'] stop score after the approach factor (0 where no stop can be judged)
    x, y : [T'] stop point, pixels of the input frames
    speed_before_px_s, speed_after_px_s : [T'] swept distance per second before / after
    peaks : [N] indices into the per-frame arrays of the reported stops
    confidence : [N] 1 / (1 + (threshold / score)^2): 0.5 at the threshold
    scale : input pixels per work pixel
    """

    kept: np.ndarray
    times_s: np.ndarray
    score: np.ndarray
    x: np.ndarray
    y: np.ndarray
    speed_before_px_s: np.ndarray
    speed_after_px_s: np.ndarray
    peaks: np.ndarray
    confidence: np.ndarray
    scale: float


def work_frames(frames: np.ndarray) -> tuple[np.ndarray, float]:
    """[T, H, W, 3] RGB or [T, H, W] grey uint8 -> ([T, h, w] uint8 grey, long side <=
    SWING_WORK_SIZE; input pixels per work pixel)."""
    import cv2

    frames = np.asarray(frames)
    if frames.ndim == 4 and frames.shape[-1] == 3:
        t, h, w, _ = frames.shape
        flat = np.ascontiguousarray(frames, dtype=np.uint8).reshape(t * h, w, 3)
        gray = cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY).reshape(t, h, w)
    elif frames.ndim == 3:
        gray = np.ascontiguousarray(frames, dtype=np.uint8)
    else:
        raise InputError(f"frames must be [T, H, W, 3] RGB or [T, H, W] gray, got {frames.shape}")
    t, h, w = gray.shape
    scale = max(h, w) / float(SWING_WORK_SIZE)
    if scale <= 1.0:
        return gray, 1.0
    nw, nh = max(8, round(w / scale)), max(8, round(h / scale))
    out = np.empty((t, nh, nw), np.uint8)
    for i in range(t):  # OpenCV resizes one image at a time
        out[i] = cv2.resize(gray[i], (nw, nh), interpolation=cv2.INTER_AREA)
    return out, max(h / nh, w / nw)


def distinct_frames(gray: np.ndarray, max_level: float = SWING_REPEAT_LEVEL) -> np.ndarray:
    """[T] bool, False for a frame that repeats the previous one (only compression noise)."""
    t = gray.shape[0]
    keep = np.ones(t, bool)
    if t < 2:
        return keep
    diff = np.abs(np.diff(gray.reshape(t, -1).astype(np.int16), axis=0))
    k = max(1, int(0.001 * diff.shape[1]))
    top = np.partition(diff, diff.shape[1] - k, axis=1)[:, diff.shape[1] - k]
    keep[1:] = top > max_level
    return keep


def change_maps(gray: np.ndarray) -> np.ndarray:
    """[T, h, w] uint8 grey -> D [T, h, w] float32 in [0, 1]: the blurred fraction of pixels
    that changed between frames t-1 and t after removing a global translation (D[0] = 0)."""
    import cv2

    t, h, w = gray.shape
    sigma = SWING_SIGMA * max(h, w)
    level = SWING_CHANGE_LEVEL
    kernel = np.ones((3, 3), np.uint8)
    window = cv2.createHanningWindow((w, h), cv2.CV_32F)
    g = gray.astype(np.float32)
    out = np.zeros((t, h, w), np.float32)
    for i in range(1, t):  # phase correlation and warping work one image at a time
        (dx, dy), _ = cv2.phaseCorrelate(g[i - 1], g[i], window)
        if not (np.isfinite(dx) and np.isfinite(dy)) or max(abs(dx), abs(dy)) > 0.25 * max(h, w):
            dx = dy = 0.0
        warp = np.float32([[1, 0, dx], [0, 1, dy]])
        prev = cv2.warpAffine(g[i - 1], warp, (w, h), borderMode=cv2.BORDER_REPLICATE)
        lo, hi = cv2.erode(prev, kernel), cv2.dilate(prev, kernel)
        excess = np.maximum(g[i] - hi, lo - g[i])
        c = np.clip((excess - level) / level, 0.0, 1.0)
        m = 2 + int(np.ceil(max(abs(dx), abs(dy))))  # the band the warp filled in
        c[:m], c[-m:], c[:, :m], c[:, -m:] = 0.0, 0.0, 0.0, 0.0
        out[i] = cv2.GaussianBlur(c, (0, 0), sigma)
    return out


def stop_scores(d: np.ndarray, times: np.ndarray) -> dict[str, np.ndarray]:
    """Change maps D [T, h, w] and frame times [T] -> per-frame stop score, point, densities.

    Returns arrays [T]: "score" (stop score per second x approach factor; 0 for t < 3 and
    t > T - 3), "raw" (D_t - D_{t+1} at the stop point, per interval), "approach" (the
    factor), "x", "y" (work pixels), "d_before" (max of D_{t-1}, D_t at the point),
    "d_after" (D_{t+1} at the point).
    """
    t, h, w = d.shape
    radius = SWING_APPROACH_RADIUS * max(h, w)
    yy, xx = np.mgrid[:h, :w]
    res = {k: np.zeros(t) for k in ("score", "raw", "approach", "x", "y", "d_before", "d_after")}
    for i in range(3, t - 2):  # one map per frame; the ops are whole-image numpy
        stop = (d[i] - d[i + 1]) * (d[i + 1] <= SWING_STOP_FRACTION * d[i])
        k = int(np.argmax(stop))
        y, x = divmod(k, w)
        raw = float(stop.flat[k])
        near = (yy - y) ** 2 + (xx - x) ** 2 < radius**2
        recent = d[i - 1][near].mean() + d[i][near].mean()
        earlier = d[i - 3][near].mean() + d[i - 2][near].mean()
        approach = min(1.0, recent / earlier) if earlier > 1e-9 else 1.0
        res["raw"][i], res["approach"][i] = raw, approach
        res["score"][i] = raw * approach / max(times[i] - times[i - 1], 1e-6)
        res["x"][i], res["y"][i] = x, y
        res["d_before"][i] = max(d[i - 1, y, x], d[i, y, x])
        res["d_after"][i] = d[i + 1, y, x]
    return res


def pick_strokes(score: np.ndarray, times: np.ndarray, threshold: float, stroke_s: float):
    """Indices of local maxima of score >= threshold, kept strongest first when more than
    stroke_s from every stronger one kept."""
    cand = np.flatnonzero(
        (score >= threshold)
        & (score >= np.concatenate([[-np.inf], score[:-1]]))
        & (score > np.concatenate([score[1:], [-np.inf]]))
    )
    kept: list[int] = []
    for i in cand[np.argsort(-score[cand], kind="stable")]:  # few candidates
        if all(abs(times[i] - times[j]) > stroke_s for j in kept):
            kept.append(int(i))
    return np.sort(np.asarray(kept, dtype=np.int64))


def swing_track(
    frames: np.ndarray,
    times_s: np.ndarray,
    *,
    threshold: float = SWING_THRESHOLD,
    stroke_s: float = SWING_STROKE_S,
) -> SwingTrack:
    """Run the swing detector on frames [T, H, W, 3] RGB or [T, H, W] grey with times [T]."""
    times_s = np.asarray(times_s, np.float64)
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4) or times_s.shape != (frames.shape[0],):
        raise InputError(
            f"frames {frames.shape} and times_s {times_s.shape} do not match ([T, H, W(, 3)], [T])"
        )
    gray, scale = work_frames(frames)
    kept = np.flatnonzero(distinct_frames(gray))
    gray, times = gray[kept], times_s[kept]
    res = stop_scores(change_maps(gray), times)
    peaks = pick_strokes(res["score"], times, threshold, stroke_s)
    dt = np.diff(times, prepend=times[0] - 1.0)
    dt_after = np.append(dt[1:], dt[-1:])
    sigma = SWING_SIGMA * max(gray.shape[1:])
    sweep = np.pi * sigma * scale  # input pixels swept per frame at D = 1
    score = res["score"]
    return SwingTrack(
        kept=kept,
        times_s=times,
        score=score,
        x=(res["x"] + 0.5) * scale - 0.5,
        y=(res["y"] + 0.5) * scale - 0.5,
        speed_before_px_s=sweep * res["d_before"] / np.maximum(dt, 1e-6),
        speed_after_px_s=sweep * res["d_after"] / np.maximum(dt_after, 1e-6),
        peaks=peaks,
        confidence=1.0 / (1.0 + (threshold / np.maximum(score[peaks], 1e-9)) ** 2),
        scale=scale,
    )
