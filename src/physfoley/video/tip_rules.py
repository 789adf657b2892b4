"""The tip tracker's rules: which stops of a tracked leading point are impacts.

On the chains of `physfoley.video.tip_points`, `approach_rules` says how each point came into
its centre frame (a smooth strike, a tap from rest, a strike from rest), `stop_scores` scores
an abrupt stop after such an approach, and after peak picking `drop_glides` and
`drop_slide_ends` remove stops that were carried or slid into rather than struck.
`physfoley.video.tip.tip_impacts` runs these steps in order. The constants are grouped by
rule; each says what it decides and how it was chosen (docs/detection.md has the numbers).
"""

from __future__ import annotations

import numpy as np

from physfoley.video.tip_points import TIP_DIRECTIONS, TIP_STEP_SLACK_PX, TipChains

# ---------------------------------------------------------------------------- the approach

#: A smooth approach was already seen the frame before: its step along the direction at least
#: this fraction of the step into the stop frame.
TIP_APPROACH_FRACTION = 0.25
#: Largest ratio of the 2-D step into the stop frame to the step before it.
TIP_MAX_ACCEL = 2.5
#: An approach already slowing on both of its last two steps (each shorter than this
#: fraction of the one before) is a hand placing the striker, not a strike.
TIP_SLOWING = 0.95
#: A tap from rest: the point was still (a step of at most TIP_REST_PX pixels along the
#: direction and TIP_REST_2D_PX in 2-D into m-1: a striker resting at the picture's edge, cut
#: by it, jitters sideways by a few pixels),
#: then moved at least TIP_REST_STEP long sides (15 px at 224 px) along the direction into m,
#: stopped there and came back by more than TIP_REST_PX (or came back and left the picture)
#: within two frames. Fast short strikes cover their whole descent within one frame at 30 fps
#: (3 m/s: 10 cm).
TIP_REST_PX = 2.0
TIP_REST_2D_PX = 4.0
TIP_REST_STEP = 0.065

# ---------------------------------------------------------------------------- the stop

#: An impact stops the point within one frame: its velocity along the direction on the way
#: out at most this fraction of the velocity on the way in, and two frames later it is no
#: further along the direction than this fraction of the step in (the struck surface holds).
TIP_STOP_FRACTION = 0.3
#: Only a striker stopped moving straight down (this direction's downward component at
#: least TIP_REST_DOWN) may stay where it stopped: it can rest on the surface it met. One
#: stopped moving sideways or diagonally has nothing holding it there, so a strike must bring
#: it back: two frames later it is back along the direction by more than TIP_REST_PX (or it
#: came back and left the picture), as for a tap. A point that stops sideways and stays, or
#: creeps back 1 px per frame, is a hand pausing (before a descent) or the end of a drag
#: (the striker lifted slowly off the surface). Added 2026-11-23 17:20 (SynthHits tuning
#: F1 0.945 -> 0.958, fresh seed-1 set 0.939 -> 0.955).
TIP_REST_DOWN = 0.9

# ---------------------------------------------------------------------------- filters on peaks

#: A glide into the stop: over the last TIP_GLIDE_S seconds before the step into the stop,
#: every step along the direction within TIP_GLIDE_BAND of their median (or 1 px) and the
#: median > 0: the striker was carried at a steady speed (the end of a drag, a hand guiding
#: it), not struck; strikes speed up into contact (gravity, the arm). Chosen on the SynthHits
#: tuning sets (0.2 s, 35 %; 0.27 s or 25 % / 50 % slightly worse).
TIP_GLIDE_S = 0.2
TIP_GLIDE_BAND = 0.35
#: The end of a slide: a stop reached from the previous impact (at most TIP_SLIDE_MAX_S
#: before) while the point stayed on that impact's surface (within TIP_SLIDE_LIFT_PX pixels
#: of its extent along that impact's direction: neither lifted off nor went on through) is
#: the end of a scratch, not a new impact, unless the point sped up on the way (its mean step
#: over the second half of the transit at least TIP_SLIDE_ACCEL x that over the first half:
#: a new strike).
TIP_SLIDE_LIFT_PX = 6.0
TIP_SLIDE_MAX_S = 1.0
TIP_SLIDE_ACCEL = 1.5


def approach_rules(
    chains: TipChains,
    v: np.ndarray,
    long_side_px: float,
    approach_fraction: float = TIP_APPROACH_FRACTION,
) -> dict[str, np.ndarray]:
    """How each chain came into its centre frame m: [M, D, K] bool arrays.

    v : [M, D, K, 4] (`chain_velocities`). Returns "smooth" (seen the frame before, at least
    `approach_fraction` of the step into m, and speeding up smoothly: the step into m at most
    TIP_MAX_ACCEL x the one before), "from_rest" (a tap: still into m-1, then at least
    TIP_REST_STEP long sides along u into m), "accel_from_rest" (still into m-2, then two
    growing steps into m: the descent began inside the interval before, so the two steps may
    differ by any ratio), "slowing" (shorter than TIP_SLOWING x the step before on both of the
    last two steps: a hand placing the striker) and "lifted" (two frames after m the point is
    back along u by more than TIP_REST_PX, or it came back and left the picture).
    """
    e, dist, de = chains.extent, chains.steps_2d, chains.steps
    e_m3, d_m3 = chains.extent_m3, chains.step_2d_m3
    v_prev, v_in = v[..., 0], v[..., 1]
    with np.errstate(invalid="ignore"):
        # the approach: seen before m (the step before at least approach_fraction of the step
        # into m) and speeding up smoothly (the step into m at most TIP_MAX_ACCEL x the one
        # before); this rejects a blob appearing in one frame ...
        smooth = (v_prev > approach_fraction * v_in) & (
            dist[..., 1] <= TIP_MAX_ACCEL * dist[..., 0] + TIP_STEP_SLACK_PX
        )
        # lifted again after the stop: two frames later the point is back along u by more
        # than TIP_REST_PX, or it came back and then left the picture (no candidate at m+2)
        lifted = (e[..., 4] < e[..., 2] - TIP_REST_PX) | (np.isnan(e[..., 4]) & (de[..., 2] < 0))
        # ... or a short tap from rest: the point still (at most TIP_REST_PX along u and
        # TIP_REST_2D_PX in 2-D), then one long step along u straight into the stop (the whole
        # descent within one frame) and lifted again (a striker moved to a new resting place is
        # no tap)
        from_rest = (
            (np.abs(de[..., 0]) <= TIP_REST_PX)
            & (dist[..., 0] <= TIP_REST_2D_PX)
            & (de[..., 1] >= TIP_REST_STEP * long_side_px)
            & lifted
        )
        # ... or a strike from rest that began inside the interval before: still into m-2,
        # then two growing steps along u (any ratio: the first is only part of an interval)
        s0 = e[..., 0] - e_m3  # step m-3 -> m-2 along u
        # (or it came into the picture at m-2: no candidate at m-3 in this direction)
        accel_from_rest = (
            (((np.abs(s0) <= TIP_REST_PX) & (d_m3 <= TIP_REST_2D_PX)) | np.isnan(e_m3))
            & (de[..., 0] > 0)
            & (de[..., 1] >= de[..., 0])
            & lifted
        )
        # an approach slowing over both of its last two steps is a hand placing the striker
        slowing = (de[..., 0] < TIP_SLOWING * s0) & (de[..., 1] < TIP_SLOWING * de[..., 0])
    return {
        "smooth": smooth,
        "from_rest": from_rest,
        "accel_from_rest": accel_from_rest,
        "slowing": slowing,
        "lifted": lifted,
    }


def stop_scores(
    chains: TipChains,
    coh: np.ndarray,
    v: np.ndarray,
    approach: dict[str, np.ndarray],
    long_side_px: float,
    stop_fraction: float = TIP_STOP_FRACTION,
) -> tuple[np.ndarray, np.ndarray]:
    """Score of each chain as an impact at its centre frame m.

    coh : [M, D, K, 4] (`coherent_links`), v : [M, D, K, 4] (`chain_velocities`), approach:
    `approach_rules`. A chain scores when it arrived moving along u (v_in > 0) by one of the
    three approaches, not slowing, and then stopped or reversed (v_out <= stop_fraction *
    v_in) while the struck surface held (two frames later no further along u than
    stop_fraction of the step in); a stop sideways or diagonally must be followed by a lift
    (TIP_REST_DOWN). Returns (score [M, D * K] = (v_in - max(v_out, 0)) / long side, in long
    sides per second, 0 where the rules fail; tap [M, D, K] bool: a tap from rest only).
    """
    e, de = chains.extent, chains.steps
    v_in, v_out = v[..., 1], v[..., 2]
    smooth, from_rest = approach["smooth"], approach["from_rest"]
    accel_from_rest = approach["accel_from_rest"]
    with np.errstate(invalid="ignore"):
        # a stop sideways or diagonally must be followed by a rebound or lift (TIP_REST_DOWN)
        may_rest = (TIP_DIRECTIONS[:, 1] >= TIP_REST_DOWN)[None, :, None]
        good = (
            (v_in > 0)
            & (smooth | from_rest | accel_from_rest)
            & ~approach["slowing"]
            & (v_out <= stop_fraction * v_in)
            # the struck surface holds: two frames later the point is no further along u
            & ~(e[..., 4] > e[..., 2] + stop_fraction * de[..., 1])
            & coh[..., 0]
            & coh[..., 1]
            & coh[..., 2]
            & (may_rest | approach["lifted"])
        )
        score = np.where(good, v_in - np.maximum(v_out, 0.0), 0.0)
        tap = from_rest & ~(smooth | accel_from_rest)
    score = np.nan_to_num(score).reshape(len(chains.centres), -1) / float(long_side_px)
    return score, tap


def drop_glides(
    peaks: np.ndarray,
    flat: np.ndarray,
    ext: np.ndarray,
    prev_idx: np.ndarray,
    times: np.ndarray,
    k: int,
) -> np.ndarray:
    """Drop stops reached in a steady glide (TIP_GLIDE_S, TIP_GLIDE_BAND).

    peaks : [P] frame indices; flat : [M] the best candidate (direction * k + c) of each chain
    centre m = 2.. (index m - 2); ext [T, D, K], prev_idx [T-1, D, K]. The point of each
    impact is followed back (nearest links) over n = round(TIP_GLIDE_S x fps) (at least 4)
    frames before the step into the stop (which the contact may cut short, so it is left
    out); if all those steps along the stop's direction lie within TIP_GLIDE_BAND of their
    median (or 1 px) and the median is positive, the stop is dropped. A stop with a shorter
    or broken history is kept. A loop over the few detected impacts.
    """
    if len(peaks) == 0:
        return peaks
    n = max(4, int(round(TIP_GLIDE_S / max(float(np.median(np.diff(times))), 1e-4))))
    kept = []
    for pk in peaks:
        d, c = divmod(int(flat[pk - 2]), k)
        path = []
        for f in range(pk - 1, max(pk - 2 - n, -1), -1):  # frames pk-1 back to pk-1-n
            c = prev_idx[f, d, c]  # the candidate of frame f linked to frame f + 1's
            path.append(ext[f, d, c])
        steps = -np.diff(np.asarray(path))  # the n full steps before the step into pk
        glide = False
        if len(steps) == n and np.isfinite(steps).all():
            med = float(np.median(steps))
            glide = med > 0 and bool((np.abs(steps - med) <= max(1.0, TIP_GLIDE_BAND * med)).all())
        if not glide:
            kept.append(int(pk))
    return np.asarray(kept, dtype=np.int64)


def drop_slide_ends(
    peaks: np.ndarray,
    flat: np.ndarray,
    ext: np.ndarray,
    next_idx: np.ndarray,
    prev_idx: np.ndarray,
    times: np.ndarray,
    k: int,
) -> np.ndarray:
    """Drop the ends of slides: stops reached by sliding on from the previous impact.

    peaks : [P] frame indices (time order); flat : [M] the best candidate (direction * k + c)
    of each chain centre m = 2.. (index m - 2); ext [T, D, K], next_idx / prev_idx [T-1, D, K]
    the links. From the previous kept impact p0 (direction d0, extent e0), its point is followed
    frame by frame (nearest links) up to the frame before p1; if its extent along d0 stayed
    within TIP_SLIDE_LIFT_PX of e0 (the striker stayed on the surface) and p1 is at most
    TIP_SLIDE_MAX_S later, p1 is the end of a scratch, not a new impact, unless the point
    sped up on its way to p1 along p1's direction (mean step over the transit's second half
    >= TIP_SLIDE_ACCEL x its first half, at least 4 steps seen: a new strike). A loop over the
    few detected impacts and the frames between two of them.
    """
    if len(peaks) < 2:
        return peaks
    kept = [int(peaks[0])]
    for pk in peaks[1:]:
        p0 = kept[-1]
        d0, c = divmod(int(flat[p0 - 2]), k)
        e0 = ext[p0, d0, c]
        slid = times[pk] - times[p0] <= TIP_SLIDE_MAX_S
        f = p0
        while slid and f < pk - 1:
            c = next_idx[f, d0, c]
            f += 1
            slid = bool(abs(ext[f, d0, c] - e0) <= TIP_SLIDE_LIFT_PX)  # False for NaN
        if slid:
            # the transit along p1's own direction, followed back from p1 to p0
            d1, c = divmod(int(flat[pk - 2]), k)
            path = [ext[pk, d1, c]]
            for f in range(pk - 1, p0 - 1, -1):
                c = prev_idx[f, d1, c]
                path.append(ext[f, d1, c])
            steps = -np.diff(np.asarray(path))  # forward in time, reversed order
            steps = steps[::-1]
            h = len(steps) // 2
            if len(steps) >= 4 and np.isfinite(steps).all():
                first, last = steps[:h].mean(), steps[h:].mean()
                slid = bool(last < TIP_SLIDE_ACCEL * max(first, 0.5))
        if not slid:
            kept.append(int(pk))
    return np.asarray(kept, dtype=np.int64)


__all__ = [
    "TIP_APPROACH_FRACTION",
    "TIP_STOP_FRACTION",
    "approach_rules",
    "drop_glides",
    "drop_slide_ends",
    "stop_scores",
]
