"""The tip detector: impacts from the leading point of the striker, without optical flow.

`detect_tip` is the "tip" method of `physfoley.video.events.detect_impacts`: background
subtraction, the leading point of each moving blob along five striking directions, short
frame-to-frame tracks of those points (`physfoley.video.tip_points`), and an abrupt stop or
reversal of one (`physfoley.video.tip_rules`); `tip_impacts` runs those steps and times each
contact (`contact_timing`). It is far better than the flow detector on SynthHits (thin fast
strikers flow cannot follow) and worse on the real clips; docs/detection.md has both.
"""

from __future__ import annotations

import numpy as np

from physfoley.errors import InputError
from physfoley.video.io import VideoFrames
from physfoley.video.peaks import MotionTrack, pick_peaks
from physfoley.video.tip_points import (
    TIP_DIRECTIONS,
    TipChains,
    chain_velocities,
    coherent_links,
    follow_chains,
    foreground_mask,
    tip_track,
)
from physfoley.video.tip_rules import (
    TIP_APPROACH_FRACTION,
    TIP_STOP_FRACTION,
    approach_rules,
    drop_glides,
    drop_slide_ends,
    stop_scores,
)
from physfoley.video.windows import distinct_frames, fit_long_side, to_gray

#: Long side (pixels) the tip tracker works at (larger videos are downscaled, never upscaled).
TIP_WORK_SIZE = 224

#: Default score threshold of the tip method (image long sides per second of stopped motion:
#: 0.35 is 2.6 px per frame at 224 px and 30 fps, above the 1-px jitter of a tracked point).
#: SynthHits' slowest hits (0.4 m/s at <= 2.1 mm/px) arrive at >= 0.85 long sides/s; scratches
#: touch down at 0.15-0.4 m/s, some below 0.4 long sides/s (0.4 until 2026-11-23 15:45).
TIP_THRESHOLD = 0.35

# ---------------------------------------------------------------------------- contact timing

#: The step into the stop frame counts as still approaching at >= this fraction of the step
#: before (less 1 px); shorter, and the contact happened during it (strikes speed up into the
#: contact, so a shorter step was cut short by it). 1.0 since 2026-11-23 15:45 (was 0.7: a
#: step cut to 70-99 % was taken as a full one and the speed read off it; speed r on the
#: SynthHits tuning and training sets 0.88 -> 0.90, detections unchanged).
TIP_FULL_SPEED = 1.0
#: Typical growth of a strike's speed per frame just before contact; extrapolates the speed
#: to the contact when the chain has only one full approach step before it. The median ratio
#: of two consecutive approach steps (m-3 -> m-2 and m-2 -> m-1, both > 2 px) over the
#: detections of the SynthHits tuning and training sets: 1.25 (1323 contacts; 1.30 where the
#: contact cut the step into m). 1.12 until 2026-11-23 15:45, measured on 24 videos with a
#: chain that did not reach m-3, among contacts selected by the 0.7 full-speed rule.
TIP_APPROACH_GROWTH = 1.25

#: The per-impact arrays `tip_impacts` returns (besides "peaks", "conf", "score", "speed").
IMPACT_KEYS = ("t_contact", "speed_before", "speed_after", "x", "y")


def contact_timing(
    chains: TipChains,
    coh: np.ndarray,
    v: np.ndarray,
    tap: np.ndarray,
    flat: np.ndarray,
    peaks: np.ndarray,
    times: np.ndarray,
) -> dict[str, np.ndarray]:
    """Contact time, position and speeds of each impact, from its best chain.

    flat : [M] the best candidate (direction * K + c) of each chain centre m = 2.. (index
    m - 2); peaks : [P] frame indices; coh, v, tap as returned by the earlier steps. Contact
    time: intersection of the approach line (the last step before contact) and the rebound
    line (the first step after); speed before: the point's 2-D speed over the last approach
    step, extrapolated to the contact at the approach's acceleration (or, with one approach
    step only, at TIP_APPROACH_GROWTH per frame; twice the step's mean for a tap from rest);
    speed after: over the first rebound step. Returns IMPACT_KEYS -> [P] (seconds, pixels/s
    and pixels of the working frames). A loop over the few detected impacts.
    """
    k = chains.extent.shape[2]
    out = {name: np.zeros(len(peaks)) for name in IMPACT_KEYS}
    for j, pk in enumerate(peaks):
        r = pk - 2
        d, c = divmod(int(flat[r]), k)
        ec, pc, vc, okc = chains.extent[r, d, c], chains.points[r, d, c], v[r, d, c], coh[r, d, c]
        tc_ = times[pk - 2 : pk + 3]
        # which interval holds the contact: (m, m+1) if the point still arrived at m at
        # (nearly) its earlier speed, else (m-1, m), where the step into m was cut short
        # (within 1 px per step: positions are whole pixels)
        full = vc[1] >= TIP_FULL_SPEED * vc[0] - 1.0 / max(tc_[2] - tc_[1], 1e-4)
        last = 2 if full else 1  # chain index, last frame before
        # contact time: the approach line (the step into `last`) meets the rebound line (the
        # step after the first frame after contact)
        va = vc[last - 1]
        vr = vc[last + 1] if okc[last + 1] and np.isfinite(vc[last + 1]) else 0.0
        e0, e1, t0, t1 = ec[last], ec[last + 1], tc_[last], tc_[last + 1]
        tc = (e1 - e0 + va * t0 - vr * t1) / (va - vr) if va - vr > 1e-9 else t0
        tc = float(np.clip(tc, t0, t1))
        speeds = np.linalg.norm(np.diff(pc, axis=0), axis=-1) / np.diff(tc_)  # [4] 2-D, px/s
        s_last = speeds[last - 1]
        sb = s_last
        if last >= 2 and okc[last - 2] and np.isfinite(speeds[last - 2]) and speeds[last - 2] > 0:
            # constant acceleration up to the contact
            acc = (s_last - speeds[last - 2]) / (0.5 * (tc_[last] - tc_[last - 2]))
            sb = s_last + max(acc, 0.0) * (tc - 0.5 * (tc_[last] + tc_[last - 1]))
        elif last == 1:
            # the contact came during the step into m: the last full approach step (m-2 ->
            # m-1) is centred about a frame before it, and a strike is still speeding up
            # there; the chain has no earlier step to measure that (noisy) acceleration, so
            # the typical growth per frame is used
            t_mid = 0.5 * (tc_[0] + tc_[1])
            sb = s_last * TIP_APPROACH_GROWTH ** ((tc - t_mid) / max(tc_[1] - tc_[0], 1e-4))
        if tap[r, d, c]:
            # a tap from rest: the whole descent in the one step into m; under constant
            # acceleration from rest the speed at its end is twice its mean
            sb = 2.0 * s_last
        sa = speeds[last + 1] if last + 1 < 4 else np.nan
        out["t_contact"][j] = tc
        out["speed_before"][j] = sb if np.isfinite(sb) else 0.0
        out["speed_after"][j] = sa if np.isfinite(sa) else 0.0
        out["x"][j], out["y"][j] = pc[2]
    return out


def tip_impacts(
    ext: np.ndarray,
    pts: np.ndarray,
    times: np.ndarray,
    long_side_px: int,
    threshold: float,
    min_sep_s: float,
    stop_fraction: float = TIP_STOP_FRACTION,
    approach_fraction: float = TIP_APPROACH_FRACTION,
) -> dict[str, np.ndarray]:
    """Scores, peaks, contact times and speeds from a tip track.

    ext : [T, D, K] extents and pts : [T, D, K, 2] points of the candidates (`tip_track`),
    times : [T] seconds, long_side_px : the working frames' longer side. A candidate of frame m
    scores when a short track through it (`follow_chains`, `coherent_links`) arrived along a
    direction u (`approach_rules`) and stopped or reversed there (`stop_scores`); impacts are
    the per-frame best scores' peaks >= `threshold` (long sides per second) at least
    `min_sep_s` apart, less glides and slide ends; then `contact_timing`. Returns IMPACT_KEYS
    -> [P] and "peaks" [P] frame indices, "conf" [P], "score" [T] (the best candidate's score
    per frame), "speed" [T] (2-D speed, pixels/s, of the leading point of the first "down"
    candidate, for plots).
    """
    t, nd, k = ext.shape
    if t < 5:
        empty = {n: np.zeros(0) for n in IMPACT_KEYS}
        return {
            **empty,
            "peaks": np.zeros(0, int),
            "conf": np.zeros(0),
            "score": np.zeros(t),
            "speed": np.zeros(t),
        }
    chains = follow_chains(ext, pts)
    coh = coherent_links(chains)
    v = chain_velocities(chains, times)
    approach = approach_rules(chains, v, long_side_px, approach_fraction)
    score, tap = stop_scores(chains, coh, v, approach, long_side_px, stop_fraction)
    m = chains.centres
    flat = score.argmax(axis=1)
    best = np.zeros(t)
    best[m] = score[np.arange(len(m)), flat]
    peaks = pick_peaks(best, times, threshold, min_sep_s)
    peaks = drop_glides(peaks, flat, ext, chains.prev_idx, times, k)
    peaks = drop_slide_ends(peaks, flat, ext, chains.next_idx, chains.prev_idx, times, k)
    out = contact_timing(chains, coh, v, tap, flat, peaks, times)
    out["peaks"] = peaks
    out["score"] = best
    out["conf"] = 1.0 / (1.0 + (threshold / np.maximum(best[peaks], 1e-9)) ** 2)
    # per-frame speed of the leading point of the best blob along "down" (for plots)
    down = int(np.argmax(TIP_DIRECTIONS[:, 1]))
    dt = np.maximum(np.diff(times), 1e-4)
    step = np.linalg.norm(np.diff(pts[:, down, 0], axis=0), axis=-1) / dt
    out["speed"] = np.concatenate([[0.0], np.nan_to_num(step)])
    return out


def detect_tip(
    video: VideoFrames | np.ndarray, times: np.ndarray, *, threshold: float, min_sep_s: float
) -> tuple[MotionTrack, dict[str, np.ndarray]]:
    """Run the tip tracker on a video at TIP_WORK_SIZE; positions and speeds in original pixels.

    video : VideoFrames, or frames [T, H, W, 3] RGB / [T, H, W] gray uint8; times : [T] seconds.
    Repeated frames (frame-rate conversion would make them look like sudden stops) are dropped
    first. Returns (the MotionTrack of the distinct frames, IMPACT_KEYS -> [P] in seconds and
    pixels / pixels per second of the original video, with "peaks" and "conf" as in
    `tip_impacts`).
    """
    frames = video.frames if isinstance(video, VideoFrames) else np.asarray(video)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"frames must be [T, H, W, 3] RGB or [T, H, W] gray, got {frames.shape}")
    t = frames.shape[0]
    if times.shape != (t,):
        raise InputError(f"times_s has shape {times.shape}, expected ({t},)")
    work, scale = fit_long_side(frames, TIP_WORK_SIZE)
    keep = np.flatnonzero(distinct_frames(to_gray(work)))
    work, kept_times = work[keep], times[keep]
    if len(keep) < 5:
        found = {k: np.zeros(0) for k in IMPACT_KEYS}
        found.update(peaks=np.zeros(0, int), conf=np.zeros(0))
        score = np.zeros(len(keep))
        speed = np.zeros(len(keep))
    else:
        ext, pts = tip_track(foreground_mask(work))
        long_side_px = max(work.shape[1:3])
        found = tip_impacts(ext, pts, kept_times, long_side_px, threshold, min_sep_s)
        score, speed = found["score"], found["speed"]
    for k in ("speed_before", "speed_after", "x", "y"):
        found[k] = found[k] * scale
    track = MotionTrack(
        times_s=kept_times,
        score=score,
        speed_px_s=speed * scale,
        x=np.zeros(len(keep)),
        y=np.zeros(len(keep)),
        scale=scale,
    )
    return track, found


__all__ = [
    "TIP_APPROACH_GROWTH",
    "TIP_FULL_SPEED",
    "TIP_THRESHOLD",
    "TIP_WORK_SIZE",
    "contact_timing",
    "detect_tip",
    "tip_impacts",
]
