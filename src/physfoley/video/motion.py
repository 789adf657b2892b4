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
   any resolution and frame rate. Impacts are local maxima of the score above `threshold`, at
   least `min_separation_s` apart.
6. Sub-frame timing: the striker covered |d_in| pixels in its last interval before it was seen
   stopped, and |d_prev| in the interval before; at constant speed it touched at the fraction
   |d_in| / |d_prev| of the last interval.

Everything after the flow itself is numpy, vectorised over frames (OpenCV's flow is per pair).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from physfoley.errors import InputError
from physfoley.video.io import VideoFrames, read_video

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
    keys = ("score", "speed_in", "speed_out", "x", "y", "d_last", "d_prev")
    out = {k: np.zeros(m, np.float32) for k in keys}
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
    keys = ("score", "speed_in", "speed_out", "x", "y", "d_last", "d_prev")
    per = {k: np.zeros(t, np.float32) for k in keys}
    # chunks overlap by two frames so every frame t in 1..T-2 has both its in and out flow
    for start in range(0, t - 2, chunk):
        stop = min(start + chunk + 2, t)
        res = _motion_chunk(work[start:stop], times[start:stop], flow_preset, sigma)
        for k in keys:
            per[k][start + 1 : stop - 1] = res[k]
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
    threshold: float = DEFAULT_THRESHOLD,
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
    threshold : score threshold in image long-sides per second of deceleration.
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
    track, per = motion_track(video, times_s=times_s, work_size=work_size, flow_preset=flow_preset)
    times = track.times_s  # distinct frames only (repeats dropped)
    all_times = (
        np.asarray(video.times_s, np.float64)
        if isinstance(video, VideoFrames)
        else np.asarray(times_s)
    )
    # the bar rises with the clip's general motion level (hand motion, residual camera shake)
    level = float(np.median(track.score[1:-1])) if track.score.size > 2 else 0.0
    bar = max(threshold, relative_threshold * level)
    peaks = _pick_peaks(track.score, times, bar, min_separation_s)
    # sub-frame timing: fraction of the last interval the striker still moved (constant speed)
    d_last = per["d_last"][peaks]
    d_prev = per["d_prev"][peaks]
    frac = np.where(d_prev > 1e-3, np.clip(d_last / np.maximum(d_prev, 1e-3), 0.0, 1.0), 1.0)
    t_prev = times[np.maximum(peaks - 1, 0)]
    t_contact = t_prev + frac * (times[peaks] - t_prev)
    conf = 1.0 / (1.0 + (bar / np.maximum(track.score[peaks], 1e-9)) ** 2)
    sb_px = per["speed_in"][peaks] * track.scale
    sa_px = per["speed_out"][peaks] * track.scale

    frames_rgb = video.frames if isinstance(video, VideoFrames) else np.asarray(video)
    events: list[ImpactEvent] = []
    for j, i in enumerate(peaks):  # a loop over the few detected impacts, not over frames
        sb_m = float(sb_px[j] * meters_per_pixel) if meters_per_pixel else None
        sa_m = float(sa_px[j] * meters_per_pixel) if meters_per_pixel else None
        mass = mass_kg
        if mass is None and mass_estimator is not None:
            mass = mass_estimator.estimate(
                frames=frames_rgb if frames_rgb.ndim == 4 else None,
                material=material,
                meters_per_pixel=meters_per_pixel,
                x=float(track.x[i]),
                y=float(track.y[i]),
            )
        ke = kinetic_energy_change(mass, sb_m, sa_m)
        tc = float(t_contact[j])
        events.append(
            ImpactEvent(
                time_s=tc,
                frame=int(np.argmin(np.abs(all_times - tc))),
                confidence=float(conf[j]),
                x=float(track.x[i]),
                y=float(track.y[i]),
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
