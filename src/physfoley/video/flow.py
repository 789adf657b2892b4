"""The optical-flow impact detector: dense flow, camera motion removed, striker deceleration.

`detect_flow` is the default method of `physfoley.video.events.detect_impacts` (better on real
footage; the tip tracker in `physfoley.video.tip` is better on SynthHits). How it works
(details and failure modes in docs/detection.md):

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
"""

from __future__ import annotations

import numpy as np

from physfoley.errors import InputError
from physfoley.video.io import VideoFrames
from physfoley.video.peaks import MotionTrack, pick_peaks
from physfoley.video.windows import distinct_frames, fit_long_side, to_gray

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

    flow : [N, H, W, 2]. Returns [N, H, W, 2] float32 residual flow: flow less the field of
    `fit_camera_motion`.
    """
    n, h, w, _ = flow.shape
    if n == 0:
        return flow.astype(np.float32)
    coef = fit_camera_motion(flow, iterations, stride)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    full = np.stack([np.ones_like(xx), xx / w - 0.5, yy / h - 0.5], -1)  # [H, W, 3]
    camera = np.matmul(full.reshape(1, -1, 3), coef.astype(np.float32)).reshape(n, h, w, 2)
    return np.subtract(flow, camera, dtype=np.float32)


def fit_camera_motion(flow: np.ndarray, iterations: int = 3, stride: int = 4) -> np.ndarray:
    """A robust affine motion field per frame pair: the camera's shake, pan or zoom.

    flow : [N, H, W, 2] pixels per frame. Returns coef [N, 3, 2] float64: the camera moves
    pixel (x, y) by (dx, dy) = coef[0] + coef[1] (x / W - 1/2) + coef[2] (y / H - 1/2). The fit
    uses iteratively reweighted least squares over a sub-sampled grid, all frames at once;
    pixels far from the current fit (a moving hand or striker) get weight 0 in the next
    iteration.
    """
    n, h, w, _ = flow.shape
    if n == 0:
        return np.zeros((0, 3, 2))
    ys, xs = np.mgrid[0:h:stride, 0:w:stride].astype(np.float32)
    basis = np.stack([np.ones_like(xs), xs / w - 0.5, ys / h - 0.5], -1).reshape(-1, 3)
    f = flow[:, ::stride, ::stride].reshape(n, -1, 2).astype(np.float64)
    wts = np.ones(f.shape[:2])
    eye = 1e-6 * np.eye(3)
    for _ in range(iterations):
        awt = np.swapaxes(basis[None] * wts[..., None], 1, 2)  # [N, 3, P]
        lhs = awt @ basis + eye  # matmul (BLAS), not einsum: 5x faster on these shapes
        rhs = awt @ f
        coef = np.linalg.solve(lhs, rhs)  # [N, 3, 2]
        resid = np.linalg.norm(f - basis @ coef, axis=-1)
        cut = 2.0 * np.median(resid, axis=1, keepdims=True) + 0.3
        wts = (resid < cut).astype(np.float64)
    return coef


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
    gray = to_gray(video.frames if isinstance(video, VideoFrames) else video)
    t = gray.shape[0]
    if times.shape != (t,):
        raise InputError(f"times_s has shape {times.shape}, expected ({t},)")
    if t < 3:
        raise InputError(f"video has {t} frames; impact detection needs at least 3")
    work, scale = fit_long_side(gray, work_size)
    keep = distinct_frames(work)
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


def detect_flow(
    video: VideoFrames | np.ndarray,
    *,
    times_s: np.ndarray | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    relative_threshold: float = DEFAULT_RELATIVE_THRESHOLD,
    min_separation_s: float,
    work_size: int = DEFAULT_WORK_SIZE,
    flow_preset: str = "fast",
) -> tuple[MotionTrack, dict[str, np.ndarray]]:
    """Impacts found by the flow detector (steps 5 and 6 of the module docstring).

    video : VideoFrames, or frames [T, H, W, 3] RGB / [T, H, W] gray uint8 with `times_s` [T].
    Returns (the MotionTrack of the distinct frames, the impacts found: "t_contact" [P] contact
    times in seconds, "conf" [P] in (0, 1), "speed_before" / "speed_after" [P] pixels/s and
    "x" / "y" [P] pixels of the original video).
    """
    track, per = motion_track(video, times_s=times_s, work_size=work_size, flow_preset=flow_preset)
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
    peaks = pick_peaks(score, times, bar, min_separation_s)
    # sub-frame timing: fraction of the last interval the striker still moved
    d_last = per["d_last"][peaks]
    d_prev = per["d_prev"][peaks]
    frac = np.where(d_prev > 1e-3, np.clip(d_last / np.maximum(d_prev, 1e-3), 0.0, 1.0), 1.0)
    t_prev = times[np.maximum(peaks - 1, 0)]
    found = {
        "t_contact": t_prev + frac * (times[peaks] - t_prev),
        "conf": 1.0 / (1.0 + (bar / np.maximum(track.score[peaks], 1e-9)) ** 2),
        "speed_before": per["speed_in"][peaks] * track.scale,
        "speed_after": per["speed_out"][peaks] * track.scale,
        "x": track.x[peaks],
        "y": track.y[peaks],
    }
    return track, found


__all__ = [
    "DEFAULT_RELATIVE_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "DEFAULT_WORK_SIZE",
    "FLOW_STOP_FRACTION",
    "compute_flow",
    "detect_flow",
    "fit_camera_motion",
    "motion_track",
    "remove_camera_motion",
]
