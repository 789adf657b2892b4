"""Impacts found in the picture: the `ImpactEvent` type and `detect_impacts`, the detectors' door.

`detect_impacts` decodes a video when given a path, runs one of the three detectors (the
swing detector of `physfoley.video.swing`, default, best on real footage: where the swept
motion of the striker stops at once; the optical-flow detector of `physfoley.video.flow`; the
tip tracker of `physfoley.video.tip`, far better on SynthHits and the one to use for speeds) and turns the impacts it found into
`ImpactEvent`s: contact time and nearest frame, striker position and speeds, and, given a scale
and a mass (or a `physfoley.video.physics.MassEstimator`), speeds in m/s and the kinetic energy
the impact took. `physfoley detect` prints them; the synthesis pipeline conditions on them.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from physfoley.errors import InputError
from physfoley.video.flow import (
    DEFAULT_RELATIVE_THRESHOLD,
    DEFAULT_THRESHOLD,
    DEFAULT_WORK_SIZE,
    detect_flow,
)
from physfoley.video.io import VideoFrames
from physfoley.video.peaks import MotionTrack
from physfoley.video.physics import kinetic_energy_change
from physfoley.video.stream import decode_for_detection
from physfoley.video.swing import SWING_STROKE_S, SWING_THRESHOLD, swing_track
from physfoley.video.tip import TIP_THRESHOLD, detect_tip
from physfoley.video.windows import frame_index_at

#: Minimum number of frames: one 22-frame window (the visual encoder's input length).
MIN_FRAMES = 22

#: Default minimum separation of two impacts of one striker (seconds).
DEFAULT_MIN_SEPARATION_S = 0.2


#: The detector `detect_impacts` runs unless told otherwise: the best on real footage.
DEFAULT_METHOD = "swing"


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


def detect_impacts(
    video: VideoFrames | str | os.PathLike | np.ndarray,
    *,
    times_s: np.ndarray | None = None,
    meters_per_pixel: float | None = None,
    mass_kg: float | None = None,
    mass_estimator=None,
    material: str | None = None,
    threshold: float | None = None,
    method: str = DEFAULT_METHOD,
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
    method : "swing" (default, `physfoley.video.swing.swing_track`), "flow"
        (`physfoley.video.flow.detect_flow`) or "tip"
        (`physfoley.video.tip.detect_tip`); `relative_threshold`, `work_size` and
        `flow_preset` are the flow detector's.
    Returns list[ImpactEvent] in time order (and the MotionTrack when `return_track`).
    Raises InputError for unreadable input or fewer than MIN_FRAMES frames.
    """
    if isinstance(video, (str, os.PathLike, Path)):
        video = decode_for_detection(video, method=method, work_size=work_size)
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
        track, found = detect_tip(
            video,
            all_times,
            threshold=TIP_THRESHOLD if threshold is None else threshold,
            min_sep_s=min_separation_s,
        )
    elif method == "swing":  # physfoley.video.swing: where the swept motion stops at once
        sw = swing_track(
            video.frames if isinstance(video, VideoFrames) else np.asarray(video),
            all_times,
            threshold=SWING_THRESHOLD if threshold is None else threshold,
            stroke_s=max(SWING_STROKE_S, min_separation_s),
        )
        track = MotionTrack(sw.times_s, sw.score, sw.speed_before_px_s, sw.x, sw.y, sw.scale)
        found = {
            "t_contact": sw.times_s[sw.peaks],
            "conf": sw.confidence,
            "speed_before": sw.speed_before_px_s[sw.peaks],
            "speed_after": sw.speed_after_px_s[sw.peaks],
            "x": sw.x[sw.peaks],
            "y": sw.y[sw.peaks],
        }
    elif method == "flow":
        track, found = detect_flow(
            video,
            times_s=times_s,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            relative_threshold=relative_threshold,
            min_separation_s=min_separation_s,
            work_size=work_size,
            flow_preset=flow_preset,
        )
    else:
        raise InputError(f"unknown detection method {method!r}; use 'swing', 'flow' or 'tip'")
    frames_rgb = video.frames if isinstance(video, VideoFrames) else np.asarray(video)
    if frames_rgb.ndim == 3 and mass_estimator is not None and getattr(video, "reload", None):
        pick = np.linspace(0, n - 1, min(n, 32)).round().astype(np.int64)
        frames_rgb = video.reload(pick[None], None)[0]  # colour, for the apparent size
    if isinstance(video, VideoFrames) and (video.scale != 1.0 or video.offset_xy != (0.0, 0.0)):
        found, track = to_original_pixels(found, track, video.scale, video.offset_xy)
    events = impact_events(
        found,
        all_times,
        frames=frames_rgb if frames_rgb.ndim == 4 else None,
        frame_scale=video.scale if isinstance(video, VideoFrames) else 1.0,
        frame_offset_xy=video.offset_xy if isinstance(video, VideoFrames) else (0.0, 0.0),
        meters_per_pixel=meters_per_pixel,
        mass_kg=mass_kg,
        mass_estimator=mass_estimator,
        material=material,
    )
    track.events = events
    return (events, track) if return_track else events


def to_original_pixels(found: dict, track, scale: float, offset_xy: tuple[float, float]):
    """A detector's impacts and track in pixels of the original picture, from work frames
    whose pixel is `scale` original pixels and whose (0, 0) lies at `offset_xy` in it."""
    found = dict(found)
    for k in ("speed_before", "speed_after"):
        found[k] = found[k] * scale
    found["x"] = found["x"] * scale + offset_xy[0]
    found["y"] = found["y"] * scale + offset_xy[1]
    track.speed_px_s = track.speed_px_s * scale
    track.x, track.y = track.x * scale + offset_xy[0], track.y * scale + offset_xy[1]
    track.scale = track.scale * scale
    return found, track


def impact_events(
    found: dict[str, np.ndarray],
    times_s: np.ndarray,
    *,
    frames: np.ndarray | None = None,
    frame_scale: float = 1.0,
    frame_offset_xy: tuple[float, float] = (0.0, 0.0),
    meters_per_pixel: float | None = None,
    mass_kg: float | None = None,
    mass_estimator=None,
    material: str | None = None,
) -> list[ImpactEvent]:
    """`ImpactEvent`s from a detector's impacts.

    found : "t_contact" [P] seconds, "conf" [P], "speed_before" / "speed_after" [P] pixels/s,
    "x" / "y" [P] pixels of the original video (`detect_flow`, `detect_tip`); times_s : [T] the
    video's frame times; frames : [T, H, W, 3] RGB for the mass estimator (None for gray), whose
    pixel is `frame_scale` original pixels, (0, 0) at `frame_offset_xy` in the original.
    Speeds in m/s need `meters_per_pixel`; the mass is `mass_kg`, else the estimator's.
    """
    t_contact, conf = found["t_contact"], found["conf"]
    sb_px, sa_px = found["speed_before"], found["speed_after"]
    xs, ys = found["x"], found["y"]
    events: list[ImpactEvent] = []
    for j in range(len(t_contact)):  # a loop over the few detected impacts, not over frames
        sb_m = float(sb_px[j] * meters_per_pixel) if meters_per_pixel else None
        sa_m = float(sa_px[j] * meters_per_pixel) if meters_per_pixel else None
        mass = mass_kg
        if mass is None and mass_estimator is not None:
            mass = mass_estimator.estimate(
                frames=frames,
                material=material,
                meters_per_pixel=meters_per_pixel and meters_per_pixel * frame_scale,
                x=float((xs[j] - frame_offset_xy[0]) / frame_scale),
                y=float((ys[j] - frame_offset_xy[1]) / frame_scale),
            )
        ke = kinetic_energy_change(mass, sb_m, sa_m)
        tc = float(t_contact[j])
        events.append(
            ImpactEvent(
                time_s=tc,
                frame=frame_index_at(times_s, tc),
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
    return events


__all__ = [
    "DEFAULT_METHOD",
    "DEFAULT_MIN_SEPARATION_S",
    "MIN_FRAMES",
    "ImpactEvent",
    "detect_impacts",
    "impact_events",
    "to_original_pixels",
]
