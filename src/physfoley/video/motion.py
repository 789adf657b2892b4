"""Impact events from the picture alone: dense optical flow, striker deceleration, peak picking.

How it works (details and failure modes in docs/detection.md):

1. Frames are decoded with real presentation times (`read_video`), converted to grayscale and
   resized so that the long side is `work_size` pixels (default 160; never upscaled).
2. OpenCV DIS optical flow between consecutive frames gives F_t [H, W, 2] (pixels per frame).
3. Camera motion (shake, pans, slow zoom) is removed by fitting an affine motion field to each
   flow with iteratively reweighted least squares (vectorised over frames) and subtracting it;
   what remains is the motion of things moving relative to the scene.
4. For every pixel p of frame t-1 we follow it to frame t (q = p + F_{t-1}(p), raw flow) and
   compare its velocity on the way in, v_in = F_{t-1}(p) / dt, with the velocity of whatever is
   at q on the way out, v_out = F_t(q) / dt. The deceleration opposing the incoming motion,
   max(|v_in| - v_out . v_in/|v_in|, 0), is large exactly where a fast striker is stopped or
   reversed. A gentle turn at the top of a back-swing scores low (|v_in| is already small);
   a hand starting a swing scores zero (it accelerates).
5. The per-frame score is the peak of that map after a small Gaussian blur (a coherent region,
   not one noisy pixel), in units of image long-sides per second so that thresholds hold for
   any resolution and frame rate. A frame counts only if the region around the peak stopped
   as a whole: its mean velocity on the way out keeps at most FLOW_STOP_FRACTION of the
   speed on the way in (a gradual stop or a turn keeps more), and two intervals later it has
   not moved on along the way in by more than that fraction (a pause in mid-motion), and
   one more step at its speed would not have carried it out of the picture (a region leaving
   the picture looks like a stop: where it went, the flow sees background). Impacts
   are local maxima of the score above `threshold`, at least `min_separation_s` apart.
6. Sub-frame timing: the striker covered |d_in| pixels in its last interval before it was seen
   stopped, and |d_prev| in the interval before; at constant speed it touched at the fraction
   |d_in| / |d_prev| of the last interval.

Everything after the flow itself is numpy, vectorised over frames (OpenCV's flow is per pair).

`method="swing"` (the default, physfoley.video.swing) needs no flow: it finds where the swept
motion of the striker stops at once in shake-tolerant change maps; it is the best of the three
on real footage. `method="tip"` needs no flow either: background subtraction, the leading
point of each moving blob along five striking directions, short frame-to-frame tracks of those
points, and an abrupt stop or reversal of one (see `_tip_events` and docs/detection.md). It is
far better on SynthHits (thin fast strikers flow cannot follow), worse on the real clips.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from physfoley.errors import InputError
from physfoley.video.io import VideoFrames, read_video
from physfoley.video.swing import SWING_STROKE_S, SWING_THRESHOLD, swing_track

#: Minimum number of frames: one 22-frame window (the visual encoder's input length).
MIN_FRAMES = 22

#: Default score threshold, in image long-sides per second of deceleration. See docs/detection.md
#: for how it was chosen (on SynthHits and by reasoning, not clip by clip).
DEFAULT_THRESHOLD = 0.3

#: A peak must also exceed this multiple of the clip's median score (its general motion level).
DEFAULT_RELATIVE_THRESHOLD = 2.0

#: Sobel gradient magnitude (grey levels) at which flow is fully trusted.
TEXTURE_LEVEL = 40.0

#: Long side (pixels) of the frames the flow is computed on (larger videos are downscaled).
DEFAULT_WORK_SIZE = 160

#: An impact stops the striker's region within one frame: at most this fraction of its mean
#: velocity kept on the way out (along or across the way in), and no more than this fraction
#: along the way in two intervals later. The tip tracker's stop fraction, chosen on SynthHits;
#: for the flow detector it also raised the F1 of the SynthHits tuning sets (seeds 7 and 3).
FLOW_STOP_FRACTION = 0.3

#: Per-frame arrays of the flow detector's region at the score peak (see `_motion_chunk`).
FLOW_KEYS = (
    "score", "speed_in", "speed_out", "x", "y", "d_last", "d_prev", "stop_ratio", "holds",
    "room_ahead",
)  # fmt: skip

#: Default minimum separation of two impacts of one striker (seconds).
DEFAULT_MIN_SEPARATION_S = 0.2


@dataclass
class ImpactEvent:
    """One impact found in the picture.

    time_s : contact time in seconds on the video's timeline (sub-frame)
    frame : index of the frame nearest to `time_s`
    confidence : in (0, 1); 0.5 at the detection threshold, -> 1 for much harder stops
    x, y : striker position at contact, pixels of the original (rotated) video
    speed_before_px_s, speed_after_px_s : striker speed just before / after contact, pixels/s
    speed_before_m_s, speed_after_m_s : the same in m/s (None without `meters_per_pixel`)
    mass_kg : striker/object mass if estimated or given (None otherwise)
    kinetic_energy_change_j : 0.5 m (v_before^2 - v_after^2) (None unless mass and scale known)
    """

    time_s: float
    frame: int
    confidence: float
    x: float
    y: float
    speed_before_px_s: float
    speed_after_px_s: float
    speed_before_m_s: float | None = None
    speed_after_m_s: float | None = None
    mass_kg: float | None = None
    kinetic_energy_change_j: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MotionTrack:
    """Per-frame striker motion, as used by the detector (for plots and diagnostics).

    times_s : [T] frame times
    score : [T] deceleration score (image long-sides per second), 0 at the first/last frame
    speed_px_s : [T] striker speed arriving at each frame (pixels/s of the original video)
    x, y : [T] position of the score peak (pixels of the original video)
    scale : original pixels per working pixel
    """

    times_s: np.ndarray
    score: np.ndarray
    speed_px_s: np.ndarray
    x: np.ndarray
    y: np.ndarray
    scale: float
    events: list[ImpactEvent] = field(default_factory=list)


def _as_gray(video: VideoFrames | np.ndarray) -> np.ndarray:
    frames = video.frames if isinstance(video, VideoFrames) else np.asarray(video)
    if frames.ndim == 4:
        import cv2

        if frames.shape[-1] != 3:
            raise InputError(
                f"frames must be [T, H, W, 3] RGB or [T, H, W] gray, got {frames.shape}"
            )
        # cv2 converts one image at a time; a [T*H, W, 3] view converts all frames in one call
        t, h, w, _ = frames.shape
        flat = np.ascontiguousarray(frames, dtype=np.uint8).reshape(t * h, w, 3)
        return cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY).reshape(t, h, w)
    if frames.ndim != 3:
        raise InputError(f"frames must be [T, H, W, 3] RGB or [T, H, W] gray, got {frames.shape}")
    return np.ascontiguousarray(frames, dtype=np.uint8)


def _resize_all(gray: np.ndarray, work_size: int) -> tuple[np.ndarray, float]:
    """Resize [T, H, W] so that max(H, W) <= work_size; returns (frames, original px per work px)."""
    import cv2

    t, h, w = gray.shape
    scale = max(h, w) / float(work_size)
    if scale <= 1.0:
        return gray, 1.0
    nw, nh = max(8, round(w / scale)), max(8, round(h / scale))
    out = np.empty((t, nh, nw), np.uint8)
    for i in range(t):  # OpenCV resizes one image at a time
        out[i] = cv2.resize(gray[i], (nw, nh), interpolation=cv2.INTER_AREA)
    return out, max(h / nh, w / nw)


def _distinct_frames(work: np.ndarray, max_level: float = 2.0) -> np.ndarray:
    """[T] bool, False for a frame that repeats the previous one (99.9th percentile of the
    absolute difference <= `max_level` grey levels: only compression noise changed)."""
    t = work.shape[0]
    keep = np.ones(t, bool)
    if t < 2:
        return keep
    diff = np.abs(np.diff(work.reshape(t, -1).astype(np.int16), axis=0))
    k = max(1, int(0.001 * diff.shape[1]))
    top = np.partition(diff, diff.shape[1] - k, axis=1)[:, diff.shape[1] - k]
    keep[1:] = top > max_level
    return keep


def compute_flow(gray: np.ndarray, preset: str = "fast") -> np.ndarray:
    """Dense optical flow between consecutive frames with OpenCV DIS.

    gray : [T, H, W] uint8. Returns [T-1, H, W, 2] float32, pixels per frame (dx, dy).
    """
    import cv2

    presets = {
        "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
        "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
        "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    }
    if preset == "farneback":  # slower, but follows large displacements of thin strikers better
        t, h, w = gray.shape
        flow = np.empty((max(t - 1, 0), h, w, 2), np.float32)
        for i in range(t - 1):
            flow[i] = cv2.calcOpticalFlowFarneback(
                gray[i], gray[i + 1], None, 0.5, 4, 9, 3, 5, 1.1, 0
            )
        return flow
    if preset not in presets:
        raise InputError(f"unknown flow preset {preset!r}; use one of {sorted(presets)}")
    dis = cv2.DISOpticalFlow_create(presets[preset])
    t, h, w = gray.shape
    flow = np.empty((max(t - 1, 0), h, w, 2), np.float32)
    for i in range(t - 1):  # OpenCV computes one pair at a time
        flow[i] = dis.calc(gray[i], gray[i + 1], None)
    return flow


def remove_camera_motion(flow: np.ndarray, iterations: int = 3, stride: int = 4) -> np.ndarray:
    """Subtract a robust per-frame affine motion field (camera shake, pan, zoom).

    flow : [N, H, W, 2]. Returns [N, H, W, 2] float32 residual flow. The affine fit uses
    iteratively reweighted least squares over a sub-sampled grid, all frames at once; pixels far
    from the current fit (a moving hand or striker) get weight 0 in the next iteration.
    """
    n, h, w, _ = flow.shape
    if n == 0:
        return flow.astype(np.float32)
    ys, xs = np.mgrid[0:h:stride, 0:w:stride].astype(np.float32)
    basis = np.stack([np.ones_like(xs), xs / w - 0.5, ys / h - 0.5], -1).reshape(-1, 3)
    f = flow[:, ::stride, ::stride].reshape(n, -1, 2).astype(np.float64)
    wts = np.ones(f.shape[:2])
    eye = 1e-6 * np.eye(3)
    for _ in range(iterations):
        aw = basis[None] * wts[..., None]  # [N, P, 3]
        lhs = np.einsum("npi,pj->nij", aw, basis) + eye
        rhs = np.einsum("npi,npk->nik", aw, f)
        coef = np.linalg.solve(lhs, rhs)  # [N, 3, 2]
        resid = np.linalg.norm(f - np.einsum("pi,nik->npk", basis, coef), axis=-1)
        cut = 2.0 * np.median(resid, axis=1, keepdims=True) + 0.3
        wts = (resid < cut).astype(np.float64)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    full = np.stack([np.ones_like(xx), xx / w - 0.5, yy / h - 0.5], -1)  # [H, W, 3]
    camera = np.matmul(full.reshape(1, -1, 3), coef.astype(np.float32)).reshape(n, h, w, 2)
    return np.subtract(flow, camera, dtype=np.float32)


def _motion_chunk(
    work: np.ndarray, times: np.ndarray, preset: str, sigma: float
) -> dict[str, np.ndarray]:
    """Per-frame deceleration score and striker motion for frames 1..T-2 of a chunk.

    work : [T, H, W] uint8, times : [T]. For each frame t the pixel p of frame t-1 is followed
    to q = p + F_{t-1}(p) (raw flow); v_in = R_{t-1}(p)/dt, v_out = R_t(q)/dt (R: camera-
    compensated flow); decel = max(|v_in| - max(along, |perp|), 0) with along/perp the
    components of v_out along/across v_in; texture-weighted, Gaussian-blurred.
    """
    import cv2

    raw = compute_flow(work, preset)
    residual = remove_camera_motion(raw)
    dt = np.maximum(np.diff(times), 1e-4).astype(np.float32)
    n, h, w, _ = raw.shape
    m = n - 1
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = max(1, round(2 * sigma))
    border = max(2, round(2 * sigma))
    keys = FLOW_KEYS
    out = {k: np.zeros(m, np.float32) for k in keys}
    out["holds"][:] = np.nan  # unknown without two intervals after the stop: not confirmed
    ksize = (0, 0)
    # OpenCV's remap/blur/minMaxLoc work on one image at a time; each iteration is a few C
    # calls on [H, W] maps (numpy fancy-index bilinear sampling over [T, H, W] is 10x slower).
    for i in range(m):
        v_in = residual[i] / dt[i]
        qx = xx + raw[i, ..., 0]
        qy = yy + raw[i, ..., 1]
        v_out = (
            cv2.remap(residual[i + 1], qx, qy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            / dt[i + 1]
        )
        speed = cv2.magnitude(v_in[..., 0], v_in[..., 1])
        inv = 1.0 / np.maximum(speed, 1e-6)
        along = (v_out[..., 0] * v_in[..., 0] + v_out[..., 1] * v_in[..., 1]) * inv
        perp = np.abs(v_out[..., 1] * v_in[..., 0] - v_out[..., 0] * v_in[..., 1]) * inv
        # the part of the incoming motion that was stopped: a full stop or a straight rebound
        # score |v_in|; motion that goes on, or turns sideways as fast (a jittering or rotating
        # hand), scores little
        decel = np.maximum(speed - np.maximum(along, perp), 0.0)
        # a pixel carried out of (or to the edge of) the picture has no reliable v_out
        gone = (qx < border) | (qx >= w - border) | (qy < border) | (qy >= h - border)
        decel[gone] = 0.0
        # flow is only trustworthy where the picture has texture (uniform areas: aperture problem)
        gx = cv2.Sobel(work[i], cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(work[i], cv2.CV_32F, 0, 1, ksize=3)
        tex = cv2.GaussianBlur(cv2.magnitude(gx, gy), ksize, sigma)
        decel *= np.minimum(tex / TEXTURE_LEVEL, 1.0)
        # content enters and leaves at the borders under camera shake: flow there is unreliable
        decel[:border], decel[-border:], decel[:, :border], decel[:, -border:] = 0, 0, 0, 0
        blurred = cv2.GaussianBlur(decel, ksize, sigma)
        _, peak, _, (px, py) = cv2.minMaxLoc(blurred)
        y0, y1, x0, x1 = max(py - r, 0), min(py + r + 1, h), max(px - r, 0), min(px + r + 1, w)
        wgt = decel[y0:y1, x0:x1] + 1e-9
        so = cv2.magnitude(v_out[y0:y1, x0:x1, 0], v_out[y0:y1, x0:x1, 1])
        out["score"][i] = peak
        # did the region around the peak stop as a whole? Its mean velocity in and out
        # (weighted by speed and texture, not by the deceleration the peak was chosen on): the
        # part of the motion kept on the way out, along or across the way in, over the speed in
        ws = speed[y0:y1, x0:x1] * np.minimum(tex[y0:y1, x0:x1] / TEXTURE_LEVEL, 1.0) + 1e-9
        vi = (ws[..., None] * v_in[y0:y1, x0:x1]).sum((0, 1)) / ws.sum()
        vo = (ws[..., None] * v_out[y0:y1, x0:x1]).sum((0, 1)) / ws.sum()
        nvi = float(np.hypot(vi[0], vi[1])) + 1e-9
        kept = max(float(vo @ vi), abs(float(vo[1] * vi[0] - vo[0] * vi[1]))) / nvi
        out["stop_ratio"][i] = kept / nvi
        if i + 2 < n:  # the struck surface holds: two intervals on, where the region stopped,
            # it does not go on along the way in (a pause in mid-motion goes on)
            dx, dy = (ws[..., None] * residual[i, y0:y1, x0:x1]).sum((0, 1)) / ws.sum()
            fx, fy = int(round(x0 + dx)), int(round(y0 + dy))
            ahead = residual[
                i + 2, max(fy, 0) : max(fy + y1 - y0, 0), max(fx, 0) : max(fx + x1 - x0, 0)
            ]
            if ahead.size:
                v_next = ahead.reshape(-1, 2).mean(0) / dt[i + 2]
                out["holds"][i] = float(v_next @ vi) / nvi**2
        # room ahead: distance from the stopped region, along its way in, to the zeroed band at
        # the picture's edge, less the region's radius and one more step at its speed. A
        # region that would reach the band with one more step may have left the picture
        # rather than stopped: flow then sees background where it went (the hand or stick
        # leaving at the top at a back-swing), which looks like a sudden stop
        ux, uy = vi / nvi
        cx_t, cy_t = px + float(raw[i, py, px, 0]), py + float(raw[i, py, px, 1])
        room = min(
            (w - 1 - cx_t) / ux if ux > 1e-6 else (cx_t / -ux if ux < -1e-6 else np.inf),
            (h - 1 - cy_t) / uy if uy > 1e-6 else (cy_t / -uy if uy < -1e-6 else np.inf),
        )
        out["room_ahead"][i] = room - border - r - nvi * dt[i]
        # striker speed: deceleration-weighted mean over a patch around the peak
        out["speed_in"][i] = float((wgt * speed[y0:y1, x0:x1]).sum() / wgt.sum())
        out["speed_out"][i] = float((wgt * so).sum() / wgt.sum())
        out["x"][i] = px + raw[i, py, px, 0]  # the tracked pixel carried into frame t
        out["y"][i] = py + raw[i, py, px, 1]
        out["d_last"][i] = float(np.hypot(*residual[i, py, px]))
        if i > 0:  # where the striker was one interval earlier (constant velocity)
            bx = int(np.clip(round(px - residual[i, py, px, 0]), 0, w - 1))
            by = int(np.clip(round(py - residual[i, py, px, 1]), 0, h - 1))
            out["d_prev"][i] = float(np.hypot(*residual[i - 1, by, bx]))
    return out


def motion_track(
    video: VideoFrames | np.ndarray,
    *,
    times_s: np.ndarray | None = None,
    work_size: int = DEFAULT_WORK_SIZE,
    flow_preset: str = "fast",
    chunk: int = 256,
) -> tuple[MotionTrack, dict[str, np.ndarray]]:
    """Per-frame striker deceleration score and motion (no peak picking).

    video : VideoFrames, or frames [T, H, W, 3] RGB / [T, H, W] gray uint8 with `times_s` [T].
    Returns (MotionTrack, extra per-frame arrays used for sub-frame timing).
    """
    if isinstance(video, VideoFrames):
        times = np.asarray(video.times_s, np.float64)
    else:
        if times_s is None:
            raise InputError("times_s [T] is required when passing raw frames")
        times = np.asarray(times_s, np.float64)
    gray = _as_gray(video)
    t = gray.shape[0]
    if times.shape != (t,):
        raise InputError(f"times_s has shape {times.shape}, expected ({t},)")
    if t < 3:
        raise InputError(f"video has {t} frames; impact detection needs at least 3")
    work, scale = _resize_all(gray, work_size)
    keep = _distinct_frames(work)
    if not keep.all():  # repeated frames (frame-rate conversion) would look like sudden stops
        idx = np.flatnonzero(keep)
        sub = VideoFrames(work[idx], times[idx], 0.0, 0, 0, 0.0, False)
        track, per = motion_track(sub, work_size=work_size, flow_preset=flow_preset, chunk=chunk)
        track.scale = scale
        track.speed_px_s = track.speed_px_s * scale
        track.x, track.y = track.x * scale, track.y * scale
        return track, per
    sigma = max(work.shape[1:]) / 56.0
    keys = FLOW_KEYS
    per = {k: np.zeros(t, np.float32) for k in keys}
    per["holds"][:] = np.nan
    # chunks overlap by three frames so every frame t in 1..T-3 has its in flow, its out flow
    # and the flow one interval later (whether the stop holds); the last frames of the video
    # cannot confirm a stop
    for start in range(0, t - 2, chunk):
        stop = min(start + chunk + 3, t)
        res = _motion_chunk(work[start:stop], times[start:stop], flow_preset, sigma)
        n_keep = min(chunk, stop - start - 2)
        for k in keys:
            per[k][start + 1 : start + 1 + n_keep] = res[k][:n_keep]
    long_side = float(max(work.shape[1:]))
    track = MotionTrack(
        times_s=times,
        score=per["score"] / long_side,
        speed_px_s=per["speed_in"] * scale,
        x=per["x"] * scale,
        y=per["y"] * scale,
        scale=scale,
    )
    return track, per


# ---------------------------------------------------------------------------------------------
# Striker-tip tracking ("tip" method): background subtraction, leading point of each moving
# blob along a few directions, abrupt stop or reversal of that point.
# ---------------------------------------------------------------------------------------------

#: Long side (pixels) the tip tracker works at (larger videos are downscaled, never upscaled).
TIP_WORK_SIZE = 224

#: Default score threshold of the tip method (image long sides per second of stopped motion:
#: 0.35 is 2.6 px per frame at 224 px and 30 fps, above the 1-px jitter of a tracked point).
#: SynthHits' slowest hits (0.4 m/s at <= 2.1 mm/px) arrive at >= 0.85 long sides/s; scratches
#: touch down at 0.15-0.4 m/s, some below 0.4 long sides/s (0.4 until 2026-11-23 15:45).
TIP_THRESHOLD = 0.35

#: Strike directions tried (image coordinates, y down): right, down-right, down, down-left,
#: left. Upward directions are left out on purpose: an upward stop is the top of a back-swing.
TIP_DIRECTIONS = np.stack(
    [np.cos(np.deg2rad([0, 45, 90, 135, 180])), np.sin(np.deg2rad([0, 45, 90, 135, 180]))], 1
)
#: Outward normals of the picture's left, right, top and bottom edges.
_EDGE_NORMALS = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])

#: A pixel is foreground when a colour channel lies this many grey levels outside the range of
#: the background in its TIP_SHAKE_PX neighbourhood (tolerates shake of up to that many pixels).
TIP_COLOR_LEVEL = 25.0
TIP_SHAKE_PX = 3
#: Blobs smaller than this fraction of the frame are noise.
TIP_MIN_AREA = 0.0005
#: Blobs considered per frame and direction (the furthest reaching first).
TIP_CANDIDATES = 4
#: Radius of the closing that rejoins pieces of one blob (pixels at the working size).
TIP_CLOSE_PX = 3
#: The step into the stop frame counts as still approaching at >= this fraction of the step
#: before (less 1 px); shorter, and the contact happened during it (strikes speed up into the
#: contact, so a shorter step was cut short by it). 1.0 since 2026-11-23 15:45 (was 0.7: a
#: step cut to 70-99 % was taken as a full one and the speed read off it; speed r on the
#: SynthHits tuning and training sets 0.88 -> 0.90, detections unchanged).
TIP_FULL_SPEED = 1.0
#: A link between two frames' candidates may be at most this many pixels, plus the point's
#: previous step, longer than the reverse link from its far end to that frame's nearest
#: candidate (near-mutual neighbours).
TIP_LINK_SLACK = 3.0
#: Typical growth of a strike's speed per frame just before contact; extrapolates the speed
#: to the contact when the chain has only one full approach step before it. The median ratio
#: of two consecutive approach steps (m-3 -> m-2 and m-2 -> m-1, both > 2 px) over the
#: detections of the SynthHits tuning and training sets: 1.25 (1323 contacts; 1.30 where the
#: contact cut the step into m). 1.12 until 2026-11-23 15:45, measured on 24 videos with a
#: chain that did not reach m-3, among contacts selected by the 0.7 full-speed rule.
TIP_APPROACH_GROWTH = 1.25
#: Largest ratio of the 2-D step into the stop frame to the step before it.
TIP_MAX_ACCEL = 2.5
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
#: After a stop the point may slide along the struck surface (a scratch) at up to this many
#: times its 2-D step into the stop (+3 px) instead of moving along the stop's direction.
TIP_SLIDE = 1.0
#: An approach already slowing on both of its last two steps (each shorter than this
#: fraction of the one before) is a hand placing the striker, not a strike.
TIP_SLOWING = 0.95
#: The end of a slide: a stop reached from the previous impact (at most TIP_SLIDE_MAX_S
#: before) while the point stayed on that impact's surface (within TIP_SLIDE_LIFT_PX pixels
#: of its extent along that impact's direction: neither lifted off nor went on through) is
#: the end of a scratch, not a new impact, unless the point sped up on the way (its mean step
#: over the second half of the transit at least TIP_SLIDE_ACCEL x that over the first half:
#: a new strike).
TIP_SLIDE_LIFT_PX = 6.0
TIP_SLIDE_MAX_S = 1.0
TIP_SLIDE_ACCEL = 1.5
#: A glide into the stop: over the last TIP_GLIDE_S seconds before the step into the stop,
#: every step along the direction within TIP_GLIDE_BAND of their median (or 1 px) and the
#: median > 0: the striker was carried at a steady speed (the end of a drag, a hand guiding
#: it), not struck; strikes speed up into contact (gravity, the arm). Chosen on the SynthHits
#: tuning sets (0.2 s, 35 %; 0.27 s or 25 % / 50 % slightly worse).
TIP_GLIDE_S = 0.2
TIP_GLIDE_BAND = 0.35
#: Only a striker stopped moving straight down (this direction's downward component at
#: least TIP_REST_DOWN) may stay where it stopped: it can rest on the surface it met. One
#: stopped moving sideways or diagonally has nothing holding it there, so a strike must bring
#: it back: two frames later it is back along the direction by more than TIP_REST_PX (or it
#: came back and left the picture), as for a tap. A point that stops sideways and stays, or
#: creeps back 1 px per frame, is a hand pausing (before a descent) or the end of a drag
#: (the striker lifted slowly off the surface). Added 2026-11-23 17:20 (SynthHits tuning
#: F1 0.945 -> 0.958, fresh seed-1 set 0.939 -> 0.955).
TIP_REST_DOWN = 0.9


def _background(frames: np.ndarray, samples: int = 60) -> np.ndarray:
    """Temporal median [H, W, 3] float32 of up to `samples` evenly spaced frames [T, H, W, 3]."""
    t = frames.shape[0]
    idx = np.linspace(0, t - 1, min(t, samples)).round().astype(int)
    return np.median(frames[idx], axis=0).astype(np.float32)


def foreground_mask(frames: np.ndarray) -> np.ndarray:
    """Moving things against the clip's static background.

    frames : [T, H, W, 3] uint8 RGB. Returns [T, H, W] uint8 (1 = foreground). Each frame is
    first matched to the background's per-channel median level (lighting drift, colour cast);
    a pixel is foreground where a channel lies more than TIP_COLOR_LEVEL outside [min, max] of
    the background over a (2 TIP_SHAKE_PX + 1)^2 neighbourhood, so that camera shake of up to
    TIP_SHAKE_PX pixels does not turn background edges into foreground.
    """
    import cv2

    t = frames.shape[0]
    bg = _background(frames)
    f = frames.astype(np.float32)
    # gain per frame and channel: the median ratio to the background over a sparse grid of
    # pixels (the median pixel of a two-toned picture jumps between the tones; the ratio's
    # median does not)
    sub = (slice(None), slice(None, None, 4), slice(None, None, 4))
    ratio = f[sub] / np.maximum(bg[sub[1:]], 16.0)[None]
    gain = np.median(ratio.reshape(t, -1, 3), axis=1)
    f /= np.maximum(gain, 1e-3)[:, None, None, :]
    k = np.ones((2 * TIP_SHAKE_PX + 1,) * 2, np.uint8)
    lo = cv2.erode(bg, k) - TIP_COLOR_LEVEL
    hi = cv2.dilate(bg, k) + TIP_COLOR_LEVEL
    return ((f < lo) | (f > hi)).any(axis=-1).astype(np.uint8)


def tip_track(
    fg: np.ndarray, margin: int = 2, candidates: int = TIP_CANDIDATES
) -> tuple[np.ndarray, np.ndarray]:
    """Leading points of the moving blobs along each of TIP_DIRECTIONS.

    fg : [T, H, W] uint8 foreground. Returns (extent [T, D, K], point [T, D, K, 2] (x, y)):
    for each frame and direction u_d, the K blobs reaching furthest along u_d, their extent
    max_p p . u_d and the pixel p reaching it, best first, NaN where fewer blobs qualify.
    A blob touching a picture edge that u_d points to is skipped for u_d (its leading point is
    outside the picture: the arm leaving the top, a hand entering from below).
    """
    import cv2

    t, h, w = fg.shape
    nd, k = len(TIP_DIRECTIONS), candidates
    ext = np.full((t, nd, k), np.nan)
    pts_out = np.full((t, nd, k, 2), np.nan)
    k3 = np.ones((3, 3), np.uint8)
    k_close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * TIP_CLOSE_PX + 1,) * 2)
    min_area = TIP_MIN_AREA * h * w
    facing = TIP_DIRECTIONS @ _EDGE_NORMALS.T > 0.1  # [D, 4]
    # OpenCV labels one image at a time; the work per blob is vectorised over its pixels and
    # all directions
    for i in range(t):
        mask = cv2.morphologyEx(fg[i], cv2.MORPH_OPEN, k3)
        if TIP_CLOSE_PX:  # rejoin a thin striker broken where it crosses similar colours
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, k_close)
        n, lab, st, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        e_all, p_all = [], []
        for c in range(1, n):
            x0, y0, bw, bh, area = st[c]
            if area < min_area:
                continue
            ys, xs = np.nonzero(lab[y0 : y0 + bh, x0 : x0 + bw] == c)
            pts = np.stack([xs + x0, ys + y0], 1).astype(np.float64)
            proj = pts @ TIP_DIRECTIONS.T  # [n, D]
            j = proj.argmax(axis=0)
            best = proj[j, np.arange(nd)]
            touch = np.array(
                [
                    x0 <= margin,
                    x0 + bw - 1 >= w - 1 - margin,
                    y0 <= margin,
                    y0 + bh - 1 >= h - 1 - margin,
                ]
            )
            # ... and a leading point on the picture's edge is where the frame cuts the blob
            px, py = pts[j, 0], pts[j, 1]
            cut = (px <= margin) | (px >= w - 1 - margin) | (py <= margin) | (py >= h - 1 - margin)
            best[(facing & touch[None]).any(axis=1) | cut] = np.nan
            e_all.append(best)
            p_all.append(pts[j])
        if not e_all:
            continue
        e_all = np.stack(e_all)  # [B, D]
        p_all = np.stack(p_all)  # [B, D, 2]
        order = np.argsort(-np.nan_to_num(e_all, nan=-np.inf), axis=0, kind="stable")[:k]
        kk = order.shape[0]
        ext[i, :, :kk] = np.take_along_axis(e_all, order, 0).T
        pts_out[i, :, :kk] = np.take_along_axis(p_all, order[..., None], 0).transpose(1, 0, 2)
    return ext, pts_out


def _link(pts_a: np.ndarray, pts_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate of frame a, the nearest candidate of frame b (any frames).

    pts_a, pts_b : [N, D, K, 2]. Returns (index [N, D, K] into b's K, distance [N, D, K]),
    distance inf where either is missing.
    """
    dist = np.linalg.norm(pts_a[:, :, :, None] - pts_b[:, :, None], axis=-1)  # [N, D, K, K]
    dist = np.where(np.isnan(dist), np.inf, dist)
    idx = dist.argmin(axis=-1)
    return idx, np.take_along_axis(dist, idx[..., None], -1)[..., 0]


def _tip_detect(
    frames: np.ndarray,
    times: np.ndarray,
    threshold: float,
    min_sep_s: float,
    stop_fraction: float = 0.3,
) -> dict[str, np.ndarray]:
    """Impacts from the tip track. frames [T, H, W, 3] uint8 (working size), times [T]."""
    t, h, w = frames.shape[:3]
    ext, pts = tip_track(foreground_mask(frames))
    return _tip_events(ext, pts, times, max(h, w), threshold, min_sep_s, stop_fraction)


def _tip_events(
    ext: np.ndarray,
    pts: np.ndarray,
    times: np.ndarray,
    long_side: int,
    threshold: float,
    min_sep_s: float,
    stop_fraction: float = 0.3,
    approach_fraction: float = 0.25,
) -> dict[str, np.ndarray]:
    """Scores, peaks, contact times and speeds from a tip track (ext [T, D, K], pts [..., 2]).

    Each candidate point of frame m is linked to the nearest candidate (same direction) of
    frames m-1 and m+1, and those on to m-2 and m+2: a short track through m. The candidate
    scores in direction u when it arrived moving along u (v_in = (e[m] - e[m-1]) / dt > 0,
    approaching the frame before and speeding up smoothly, or tapping from rest: still into
    m-1, then at least TIP_REST_STEP long sides along u into m) and then stopped or reversed
    (v_out <= stop_fraction * v_in): score = v_in - max(v_out, 0), in long sides per second.
    A third approach, from rest: still into m-2 (the chain goes back to m-3 for this), then two
    growing steps into m (the descent began inside the interval before, so the two steps may
    differ by any ratio). An approach already slowing over its last two steps
    (TIP_SLOWING) does not count. After the stop the point may slide sideways along the
    surface (TIP_SLIDE) but must not go on along u two frames later.
    Every link must be coherent
    (2-D step <= 1.3 x the step along u + 3 px), which rejects blobs appearing, splitting or
    merging, and nearly mutual (no candidate of the first frame nearer to the link's far end by
    more than TIP_LINK_SLACK + the point's previous step; the first link, with no previous step
    in the chain, is measured against its own length and so always passes). Contact time:
    intersection of the approach line (the last step before contact) and the rebound line (the
    first step after); speeds: the point's 2-D speed over the last approach step, extrapolated
    to the contact at the approach's acceleration (or, with one approach step only, at
    TIP_APPROACH_GROWTH per frame; twice the step's mean for a tap from rest), and over the
    first rebound step.
    """
    t, nd, k = ext.shape
    if t < 5:
        empty = {n: np.zeros(0) for n in ("t_contact", "speed_before", "speed_after", "x", "y")}
        return {
            **empty,
            "peaks": np.zeros(0, int),
            "conf": np.zeros(0),
            "score": np.zeros(t),
            "speed": np.zeros(t),
        }
    dt = np.maximum(np.diff(times), 1e-4)
    prev_idx, prev_d = _link(pts[1:], pts[:-1])  # [T-1, D, K]: frame i+1 -> frame i
    next_idx, next_d = _link(pts[:-1], pts[1:])  # frame i -> frame i+1
    # chains through every candidate of frames m = 2..T-3: offsets -2..+2
    m = np.arange(2, t - 2)
    dd = np.arange(nd)[None, :, None]
    kk = np.broadcast_to(np.arange(k)[None, None], (len(m), nd, k))
    mm = m[:, None, None]
    c_m1 = prev_idx[mm - 1, dd, kk]
    c_m2 = prev_idx[mm - 2, dd, c_m1]
    c_p1 = next_idx[mm, dd, kk]
    c_p2 = next_idx[mm + 1, dd, c_p1]
    # one more frame back (m-3), for approaches from rest; none for m = 2
    mm3 = np.maximum(mm - 3, 0)
    c_m3 = prev_idx[mm3, dd, c_m2]
    e_m3 = np.where(mm >= 3, ext[mm3, dd, c_m3], np.nan)  # [M, D, K]
    d_m3 = np.where(mm >= 3, prev_d[mm3, dd, c_m2], np.inf)  # 2-D step m-3 -> m-2
    e = np.stack(
        [
            ext[mm - 2, dd, c_m2],
            ext[mm - 1, dd, c_m1],
            ext[mm, dd, kk],
            ext[mm + 1, dd, c_p1],
            ext[mm + 2, dd, c_p2],
        ],
        -1,
    )  # [M, D, K, 5]
    dist = np.stack(
        [
            prev_d[mm - 2, dd, c_m1],
            prev_d[mm - 1, dd, kk],
            next_d[mm, dd, kk],
            next_d[mm + 1, dd, c_p1],
        ],
        -1,
    )  # 2-D steps between consecutive chain points [M, D, K, 4]
    de = np.diff(e, axis=-1)  # [M, D, K, 4]
    coh = dist <= 1.3 * np.abs(de) + 3.0
    # after the stop the striker may slide along the surface it met (a scratch): the step out
    # of m may go sideways, up to TIP_SLIDE x the step into m
    coh[..., 2] |= dist[..., 2] <= TIP_SLIDE * dist[..., 1] + 3.0
    # each link must be nearly mutual: the point it reaches must have no other candidate much
    # nearer on the way back. A blob that appears beside the striker (an object shifted by the
    # hit, a piece split off) is the striker's nearest candidate in the next frame, but the
    # striker is not that blob's nearest: the rebounding striker is, far nearer.
    back = np.stack(
        [
            next_d[mm - 2, dd, c_m2],
            next_d[mm - 1, dd, c_m1],
            prev_d[mm, dd, c_p1],
            prev_d[mm + 1, dd, c_p2],
        ],
        -1,
    )  # [M, D, K, 4]: distance from each link's far end to ITS nearest candidate
    # a point that moved s px into this frame may be up to s px further than a nearer blob (a
    # trail left where it was): the allowance grows with the point's previous step
    prev_step = np.nan_to_num(np.concatenate([dist[..., :1], dist[..., :-1]], -1), posinf=0.0)
    coh &= dist <= back + TIP_LINK_SLACK + prev_step
    tdt = np.stack([dt[m - 2], dt[m - 1], dt[m], dt[m + 1]], -1)[:, None, None]  # [M,1,1,4]
    v = de / tdt
    v_prev, v_in, v_out = v[..., 0], v[..., 1], v[..., 2]
    with np.errstate(invalid="ignore"):
        # the approach: seen before m (the step before at least approach_fraction of the step
        # into m) and speeding up smoothly (the step into m at most TIP_MAX_ACCEL x the one
        # before); this rejects a blob appearing in one frame ...
        smooth = (v_prev > approach_fraction * v_in) & (
            dist[..., 1] <= TIP_MAX_ACCEL * dist[..., 0] + 3.0
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
            & (de[..., 1] >= TIP_REST_STEP * long_side)
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
        # a stop sideways or diagonally must be followed by a rebound or lift (TIP_REST_DOWN)
        may_rest = (TIP_DIRECTIONS[:, 1] >= TIP_REST_DOWN)[None, :, None]
        good = (
            (v_in > 0)
            & (smooth | from_rest | accel_from_rest)
            & ~slowing
            & (v_out <= stop_fraction * v_in)
            # the struck surface holds: two frames later the point is no further along u
            & ~(e[..., 4] > e[..., 2] + stop_fraction * de[..., 1])
            & coh[..., 0]
            & coh[..., 1]
            & coh[..., 2]
            & (may_rest | lifted)
        )
        score = np.where(good, v_in - np.maximum(v_out, 0.0), 0.0)
        tap = from_rest & ~(smooth | accel_from_rest)
    score = np.nan_to_num(score).reshape(len(m), -1) / float(long_side)
    flat = score.argmax(axis=1)
    best = np.zeros(t)
    best[m] = score[np.arange(len(m)), flat]
    peaks = _pick_peaks(best, times, threshold, min_sep_s)
    peaks = _drop_glides(peaks, flat, ext, prev_idx, times, k)
    peaks = _drop_slide_ends(peaks, flat, ext, next_idx, prev_idx, times, k)
    n = len(peaks)
    out = {name: np.zeros(n) for name in ("t_contact", "speed_before", "speed_after", "x", "y")}
    pchain = np.stack(
        [
            pts[mm - 2, dd, c_m2],
            pts[mm - 1, dd, c_m1],
            pts[mm, dd, kk],
            pts[mm + 1, dd, c_p1],
            pts[mm + 2, dd, c_p2],
        ],
        -2,
    )  # [M, D, K, 5, 2]
    for j, pk in enumerate(peaks):  # a loop over the few detected impacts
        r = pk - 2
        d, c = divmod(int(flat[r]), k)
        ec, pc, vc, okc = e[r, d, c], pchain[r, d, c], v[r, d, c], coh[r, d, c]
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
        steps = np.linalg.norm(np.diff(pc, axis=0), axis=-1) / np.diff(tc_)  # [4]
        s_last = steps[last - 1]
        sb = s_last
        if last >= 2 and okc[last - 2] and np.isfinite(steps[last - 2]) and steps[last - 2] > 0:
            # constant acceleration up to the contact
            acc = (s_last - steps[last - 2]) / (0.5 * (tc_[last] - tc_[last - 2]))
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
        sa = steps[last + 1] if last + 1 < 4 else np.nan
        out["t_contact"][j] = tc
        out["speed_before"][j] = sb if np.isfinite(sb) else 0.0
        out["speed_after"][j] = sa if np.isfinite(sa) else 0.0
        out["x"][j], out["y"][j] = pc[2]
    out["peaks"] = peaks
    out["score"] = best
    out["conf"] = 1.0 / (1.0 + (threshold / np.maximum(best[peaks], 1e-9)) ** 2)
    # per-frame speed of the leading point of the best blob along "down" (for plots)
    down = int(np.argmax(TIP_DIRECTIONS[:, 1]))
    step = np.linalg.norm(np.diff(pts[:, down, 0], axis=0), axis=-1) / dt
    out["speed"] = np.concatenate([[0.0], np.nan_to_num(step)])
    return out


def _drop_glides(
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


def _drop_slide_ends(
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


def _tip_method(
    video: VideoFrames | np.ndarray, times: np.ndarray, *, threshold: float, min_sep_s: float
) -> tuple[MotionTrack, dict[str, np.ndarray]]:
    """Run the tip tracker on a video at TIP_WORK_SIZE; positions and speeds in original pixels."""
    import cv2

    frames = video.frames if isinstance(video, VideoFrames) else np.asarray(video)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"frames must be [T, H, W, 3] RGB or [T, H, W] gray, got {frames.shape}")
    t, h, w, _ = frames.shape
    if times.shape != (t,):
        raise InputError(f"times_s has shape {times.shape}, expected ({t},)")
    scale = max(h, w) / float(TIP_WORK_SIZE)
    if scale > 1.0:
        nw, nh = max(8, round(w / scale)), max(8, round(h / scale))
        work = np.empty((t, nh, nw, 3), np.uint8)
        for i in range(t):  # OpenCV resizes one image at a time
            work[i] = cv2.resize(frames[i], (nw, nh), interpolation=cv2.INTER_AREA)
        scale = max(h / nh, w / nw)
    else:
        work, scale = np.ascontiguousarray(frames, dtype=np.uint8), 1.0
    # repeated frames (frame-rate conversion) would look like sudden stops: drop them
    keep = np.flatnonzero(_distinct_frames(_as_gray(work)))
    work, kept_times = work[keep], times[keep]
    if len(keep) < 5:
        found = {k: np.zeros(0) for k in ("t_contact", "speed_before", "speed_after", "x", "y")}
        found.update(peaks=np.zeros(0, int), conf=np.zeros(0))
        score = np.zeros(len(keep))
        speed = np.zeros(len(keep))
    else:
        found = _tip_detect(work, kept_times, threshold, min_sep_s)
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


def _pick_peaks(
    score: np.ndarray, times: np.ndarray, threshold: float, min_sep_s: float
) -> np.ndarray:
    """Indices of local maxima of score >= threshold, greedily kept at least min_sep_s apart."""
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


def detect_impacts(
    video: VideoFrames | str | os.PathLike | np.ndarray,
    *,
    times_s: np.ndarray | None = None,
    meters_per_pixel: float | None = None,
    mass_kg: float | None = None,
    mass_estimator=None,
    material: str | None = None,
    threshold: float | None = None,
    method: str = "swing",
    relative_threshold: float = DEFAULT_RELATIVE_THRESHOLD,
    min_separation_s: float = DEFAULT_MIN_SEPARATION_S,
    work_size: int = DEFAULT_WORK_SIZE,
    flow_preset: str = "fast",
    return_track: bool = False,
):
    """Find impacts (a striker abruptly stopped or reversed) in a video, from the picture alone.

    video : a path, a `VideoFrames`, or frames [T, H, W, 3] RGB / [T, H, W] uint8 with times_s [T].
    meters_per_pixel : scale of the original video; gives speeds in m/s.
    mass_kg : striker mass given by the user (overrides `mass_estimator`).
    mass_estimator : a `physfoley.video.physics.MassEstimator`; used with `material` when no
        mass_kg is given (the default estimator needs `material` and `meters_per_pixel`).
    threshold : score threshold in image long-sides per second of deceleration (flow, tip);
        for method="swing" (the default) in Gaussian windows per second (physfoley.video.swing).
    method : "swing" (default), "flow" or "tip" (docs/detection.md).
    Returns list[ImpactEvent] in time order (and the MotionTrack when `return_track`).
    Raises InputError for unreadable input or fewer than MIN_FRAMES frames.
    """
    from physfoley.video.physics import kinetic_energy_change

    if isinstance(video, (str, os.PathLike, Path)):
        video = read_video(video)
    n = video.num_frames if isinstance(video, VideoFrames) else int(np.asarray(video).shape[0])
    if n < MIN_FRAMES:
        raise InputError(
            f"video has {n} frames; impact detection needs at least {MIN_FRAMES} (one window)"
        )
    if not isinstance(video, VideoFrames) and times_s is None:
        raise InputError("times_s [T] is required when passing raw frames")
    all_times = (
        np.asarray(video.times_s, np.float64)
        if isinstance(video, VideoFrames)
        else np.asarray(times_s, np.float64)
    )
    if method == "tip":
        track, found = _tip_method(
            video,
            all_times,
            threshold=TIP_THRESHOLD if threshold is None else threshold,
            min_sep_s=min_separation_s,
        )
        t_contact, conf = found["t_contact"], found["conf"]
        sb_px, sa_px = found["speed_before"], found["speed_after"]
        xs, ys = found["x"], found["y"]
    elif method == "swing":  # physfoley.video.swing: where the swept motion stops at once
        sw = swing_track(
            video.frames if isinstance(video, VideoFrames) else np.asarray(video),
            all_times,
            threshold=SWING_THRESHOLD if threshold is None else threshold,
            stroke_s=max(SWING_STROKE_S, min_separation_s),
        )
        track = MotionTrack(sw.times_s, sw.score, sw.speed_before_px_s, sw.x, sw.y, sw.scale)
        t_contact, conf = sw.times_s[sw.peaks], sw.confidence
        sb_px, sa_px = sw.speed_before_px_s[sw.peaks], sw.speed_after_px_s[sw.peaks]
        xs, ys = sw.x[sw.peaks], sw.y[sw.peaks]
    elif method == "flow":
        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        track, per = motion_track(
            video, times_s=times_s, work_size=work_size, flow_preset=flow_preset
        )
        times = track.times_s  # distinct frames only (repeats dropped)
        # the bar rises with the clip's general motion level (hand motion, residual shake)
        level = float(np.median(track.score[1:-1])) if track.score.size > 2 else 0.0
        bar = max(threshold, relative_threshold * level)
        # an impact stops the striker within one frame: a region that kept more than
        # FLOW_STOP_FRACTION of its speed (a gradual stop, a turn) is no impact
        score = np.where(per["stop_ratio"] <= FLOW_STOP_FRACTION, track.score, 0.0)
        # ... and stays stopped: a region that moves on along its way in is no impact
        score = np.where(per["holds"] <= FLOW_STOP_FRACTION, score, 0.0)
        # ... and stopped inside the picture: one more step would not have carried it out
        score = np.where(per["room_ahead"] >= 0.0, score, 0.0)
        peaks = _pick_peaks(score, times, bar, min_separation_s)
        # sub-frame timing: fraction of the last interval the striker still moved
        d_last = per["d_last"][peaks]
        d_prev = per["d_prev"][peaks]
        frac = np.where(d_prev > 1e-3, np.clip(d_last / np.maximum(d_prev, 1e-3), 0.0, 1.0), 1.0)
        t_prev = times[np.maximum(peaks - 1, 0)]
        t_contact = t_prev + frac * (times[peaks] - t_prev)
        conf = 1.0 / (1.0 + (bar / np.maximum(track.score[peaks], 1e-9)) ** 2)
        sb_px = per["speed_in"][peaks] * track.scale
        sa_px = per["speed_out"][peaks] * track.scale
        xs, ys = track.x[peaks], track.y[peaks]
    else:
        raise InputError(f"unknown detection method {method!r}; use 'swing', 'flow' or 'tip'")

    frames_rgb = video.frames if isinstance(video, VideoFrames) else np.asarray(video)
    events: list[ImpactEvent] = []
    for j in range(len(t_contact)):  # a loop over the few detected impacts, not over frames
        sb_m = float(sb_px[j] * meters_per_pixel) if meters_per_pixel else None
        sa_m = float(sa_px[j] * meters_per_pixel) if meters_per_pixel else None
        mass = mass_kg
        if mass is None and mass_estimator is not None:
            mass = mass_estimator.estimate(
                frames=frames_rgb if frames_rgb.ndim == 4 else None,
                material=material,
                meters_per_pixel=meters_per_pixel,
                x=float(xs[j]),
                y=float(ys[j]),
            )
        ke = kinetic_energy_change(mass, sb_m, sa_m)
        tc = float(t_contact[j])
        events.append(
            ImpactEvent(
                time_s=tc,
                frame=int(np.argmin(np.abs(all_times - tc))),
                confidence=float(conf[j]),
                x=float(xs[j]),
                y=float(ys[j]),
                speed_before_px_s=float(sb_px[j]),
                speed_after_px_s=float(sa_px[j]),
                speed_before_m_s=sb_m,
                speed_after_m_s=sa_m,
                mass_kg=None if mass is None else float(mass),
                kinetic_energy_change_j=ke,
            )
        )
    track.events = events
    return (events, track) if return_track else events
