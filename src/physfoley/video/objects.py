"""The physical parameter estimator (PPE): moving objects, their masks, velocity and mass.

PAVAS (seed 002, section 3.3) conditions its soundtrack on every moving object's mass (one
value, kg) and velocity (one per frame, m/s). The paper finds the objects with a
vision-language model, Florence-2 and SAM-2, and measures metric motion with CUT3R; none of
them can be had here, so `estimate_objects` does the same job from motion alone:

0. camera: the camera's motion from frame to frame (`physfoley.video.camera`), at a working
   size (long side `work_size` px);
1. discovery: an `ObjectSegmenter` gives each moving object's mask in every frame, at the
   working size. The default `MotionSegmenter` segments motion with camera motion removed
   (`physfoley.video.segment`), cuts the masks into blobs and tracks them
   (`physfoley.video.object_tracks`), and keeps the tracks that live long enough and travel
   far enough. A segmentation or vision-language model can take its place: anything with
   `segment(frames, times_s, camera=None) -> list[SegmentedObject]`.
2. velocity: the translation of the object's mask between consecutive frames, matched by shape
   (`mask_translations`), less the camera's, over the frames' real time difference: the
   velocity *arriving* at each frame relative to the scene, in the image plane (x right, y down; the depth axis is not seen). Pixels become
   metres by `meters_per_pixel` (of the original video), or by the default scene scale
   DEFAULT_SCENE_LONG_SIDE_M (the picture's long side spans 0.34 m: a close-up of a hit, the
   geometric middle of SynthHits' 0.25-0.47 m).
3. mass: the user's value, or a `physfoley.video.physics.MassEstimator` per object; the
   default is the object's density x apparent volume (`physfoley.video.object_mass`).

`physfoley physics VIDEO` prints the result; the Phy-Adapter takes masks, mass and velocity.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from physfoley.atomic import atomic_path
from physfoley.errors import InputError
from physfoley.video.camera import (
    DEFAULT_CHUNK_FRAMES,
    camera_between,
    camera_motion,
    chunk_bounds,
)
from physfoley.video.flow import DEFAULT_WORK_SIZE
from physfoley.video.io import VideoFrames, read_video
from physfoley.video.object_mass import ApparentVolumeMassEstimator
from physfoley.video.object_tracks import (
    MIN_BLOB_FRACTION,
    BlobTracker,
    frame_blobs,
    link_tracks,
    mask_translations,
    merge_split_tracks,
    track_masks,
)
from physfoley.video.physics import MassEstimator
from physfoley.video.segment import iter_moving_masks
from physfoley.video.windows import distinct_frames, fit_long_side, to_gray

#: Default scene scale: the long side of the picture spans this many metres.
DEFAULT_SCENE_LONG_SIDE_M = 0.34
#: A moving object is seen for at least this long (seconds) ...
MIN_OBJECT_S = 0.2
#: ... and its centroid travels at least this fraction of the picture's long side.
MIN_TRAVEL_FRACTION = 0.05
#: A track lost for longer than this (seconds) ends; a track that begins at most LINK_GAP_S
#: after another ended, of the same colour, where it left or at the same picture edge, is the
#: same object back (`physfoley.video.object_tracks.link_tracks`).
TRACK_GAP_S = 0.2
LINK_GAP_S = 1.0
#: At most this many objects are kept (the largest: summed mask area over the video).
DEFAULT_MAX_OBJECTS = 4


@dataclass
class SegmentedObject:
    """One object as a segmenter sees it: masks [T, h, w] uint8 (1 = object) at working size,
    and what a model may know of it (a label such as "drumstick", a material name)."""

    masks: np.ndarray
    label: str | None = None
    material: str | None = None


@runtime_checkable
class ObjectSegmenter(Protocol):
    """Finds the moving objects of a video: the plug-in point for a segmentation model."""

    def segment(
        self, frames: np.ndarray, times_s: np.ndarray, camera: np.ndarray | None = None
    ) -> list[SegmentedObject]:
        """frames : [T, h, w, 3] uint8 RGB at working size; times_s : [T] seconds; camera :
        [T, 3, 3] the camera's motion into each frame (`physfoley.video.camera.camera_motion`),
        for a segmenter that wants it.

        Returns the moving objects, each with masks [T, h, w] uint8.
        """
        ...


class MotionSegmenter:
    """The default segmenter: motion segmentation, blobs, tracks (module docstring, step 1)."""

    def __init__(
        self,
        *,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
        max_objects: int = DEFAULT_MAX_OBJECTS,
        flow_preset: str = "fast",
    ):
        self.chunk_frames = chunk_frames
        self.max_objects = max_objects
        self.flow_preset = flow_preset

    def segment(
        self, frames: np.ndarray, times_s: np.ndarray, camera: np.ndarray | None = None
    ) -> list[SegmentedObject]:
        t, h, w = frames.shape[:3]
        fps = (t - 1) / max(float(times_s[-1] - times_s[0]), 1e-6) if t > 1 else 30.0
        tracker = BlobTracker(max_gap_frames=max(2, round(TRACK_GAP_S * fps)))
        min_area = MIN_BLOB_FRACTION * h * w
        for start, masks in iter_moving_masks(
            frames, camera, chunk_frames=self.chunk_frames, flow_preset=self.flow_preset
        ):
            for i in range(masks.shape[0]):  # blobs and assignment, one frame at a time
                f = start + i
                tracker.update(f, frame_blobs(masks[i], f, min_area, frames[f]))
        tracks = merge_split_tracks(tracker.tracks)
        tracks = link_tracks(tracks, max(2, round(LINK_GAP_S * fps)), h, w)
        kept = []
        for tr in tracks:
            frames_seen = np.array([b.frame for b in tr.blobs])
            cen = np.array([b.centroid for b in tr.blobs])
            span_s = float(times_s[frames_seen[-1]] - times_s[frames_seen[0]])
            travel = float(np.ptp(cen, axis=0).max())
            if span_s >= MIN_OBJECT_S and travel >= MIN_TRAVEL_FRACTION * max(h, w):
                kept.append((sum(b.area for b in tr.blobs), tr))
        kept.sort(key=lambda item: -item[0])
        return [SegmentedObject(track_masks(tr, t, h, w)) for _, tr in kept[: self.max_objects]]


@dataclass
class PhysicalObject:
    """One moving object: a time-invariant mass and a per-frame velocity (PAVAS eq. 2).

    id : 0, 1, ... (largest first for the default segmenter)
    mass_kg : one mass for the whole video; mass_source : "given" or "estimated"
    velocity_m_s : [T, 2] float64 in the image plane (x right, y down), the motion arriving at
        each frame; NaN where the object is not seen in the frame or the one before
    speed_m_s : [T] its norm (NaN likewise)
    mask_area_px : [T] area of the mask in pixels of the original video (0 where unseen)
    centroid_px : [T, 2] (x, y) centroid in pixels of the original video (NaN where unseen)
    present : [T] bool, seen in the frame
    masks : [T, h, w] uint8 at working size (h, w = `masks.shape[1:]`)
    label, material : what the segmenter (or the user, for material) said, else None
    """

    id: int
    mass_kg: float
    velocity_m_s: np.ndarray
    speed_m_s: np.ndarray
    mask_area_px: np.ndarray
    centroid_px: np.ndarray
    present: np.ndarray
    masks: np.ndarray
    mass_source: str = "estimated"
    label: str | None = None
    material: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready form without the masks (NaN -> None; floats rounded to 1e-6)."""

        def rows(a: np.ndarray) -> list:
            r = np.round(a.astype(float), 6)
            return np.where(np.isfinite(r), r, None).tolist()

        return {
            "id": self.id,
            "label": self.label,
            "material": self.material,
            "mass_kg": float(self.mass_kg),
            "mass_source": self.mass_source,
            "frames_present": int(self.present.sum()),
            "present": self.present.astype(bool).tolist(),
            "velocity_m_s": rows(self.velocity_m_s),
            "speed_m_s": rows(self.speed_m_s),
            "mask_area_px": rows(self.mask_area_px),
            "centroid_px": rows(self.centroid_px),
        }


def default_meters_per_pixel(width: int, height: int) -> float:
    """The default scene scale for a picture of width x height pixels (metres per pixel)."""
    return DEFAULT_SCENE_LONG_SIDE_M / float(max(width, height))


def arrival_velocity_px(
    masks: np.ndarray, present: np.ndarray, centroids: np.ndarray, times_s: np.ndarray,
    distinct: np.ndarray, camera: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Velocity [T, 2] (working pixels per second) of an object arriving at each frame,
    relative to the scene.

    masks : [T, h, w] uint8; present : [T] bool; centroids : [T, 2]; times_s : [T];
    distinct : [T] bool, False for a frame that repeats the one before (frame-rate conversion);
    camera : [T, 3, 3] steps of `physfoley.video.camera.camera_motion`. Motion is the mask's
    shift between consecutive distinct frames where the object is seen in both, less the
    camera's displacement of its centroid; a repeated frame gets the velocity of the interval
    it lies in.
    """
    t = masks.shape[0]
    vel = np.full((t, 2), np.nan)
    keys = np.flatnonzero(distinct)
    if keys.size < 2:
        return vel
    a, b = keys[:-1], keys[1:]
    both = present[a] & present[b]
    pairs = np.stack([a[both], b[both]], 1)
    shifts = mask_translations(masks, pairs, centroids)
    start = np.concatenate([centroids[pairs[:, 0]], np.ones((len(pairs), 1))], 1)  # [P, 3]
    carried = np.einsum("pij,pj->pi", camera_between(camera, pairs), start)[:, :2]
    shifts = shifts - (carried - start[:, :2])  # what the camera did is not the object's
    dt = np.maximum(times_s[pairs[:, 1]] - times_s[pairs[:, 0]], 1e-6)
    vel[pairs[:, 1]] = shifts / dt[:, None]
    # frames repeated after a distinct frame share the velocity of the next distinct frame
    nxt = keys[np.minimum(np.searchsorted(keys, np.arange(t)), keys.size - 1)]
    repeat = ~distinct & (np.arange(t) < keys[-1])
    vel[repeat] = vel[nxt[repeat]]
    vel[~present] = np.nan
    return vel


def read_work_video(
    path: str | os.PathLike, work_size: int = DEFAULT_WORK_SIZE
) -> tuple[VideoFrames, float]:
    """Decode a video straight to working size (long side `work_size` px, never upscaled).

    Returns (frames [T, h, w, 3] uint8 with their times, pixel_scale: original pixels per
    decoded pixel), for `estimate_objects(video, pixel_scale=...)`: only the small frames are
    ever held, so memory grows with the video's length at the working size only.
    """
    first = read_video(path, max_frames=1)  # the picture's size after rotation
    w, h = first.width, first.height
    scale = max(h, w) / float(work_size)
    if scale <= 1.0:
        return read_video(path), 1.0
    size = (max(8, round(w / scale)), max(8, round(h / scale)))
    video = read_video(path, size=size)
    return video, max(h / size[1], w / size[0])


def save_object_masks(
    path: str | os.PathLike,
    objects: list[PhysicalObject],
    times_s: np.ndarray,
    *,
    force: bool = False,
) -> None:
    """Write the objects' masks as .npz (atomically): "masks" [K, T, h, w] uint8, "ids" [K],
    "mass_kg" [K], "velocity_m_s" [K, T, 2], "present" [K, T] bool, "times_s" [T]."""
    t = len(times_s)
    shape = objects[0].masks.shape[1:] if objects else (0, 0)
    arrays = {
        "masks": np.stack([o.masks for o in objects]) if objects else np.zeros((0, t, *shape)),
        "ids": np.array([o.id for o in objects], np.int64),
        "mass_kg": np.array([o.mass_kg for o in objects], np.float64),
        "velocity_m_s": np.array([o.velocity_m_s for o in objects]).reshape(-1, t, 2),
        "present": np.array([o.present for o in objects], bool).reshape(-1, t),
        "times_s": np.asarray(times_s, np.float64),
    }
    arrays["masks"] = arrays["masks"].astype(np.uint8)
    with atomic_path(path, force=force) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def estimate_objects(
    video: VideoFrames,
    *,
    meters_per_pixel: float | None = None,
    pixel_scale: float = 1.0,
    mass_kg: float | None = None,
    material: str | None = None,
    mass_estimator: MassEstimator | None = None,
    segmenter: ObjectSegmenter | None = None,
    work_size: int = DEFAULT_WORK_SIZE,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
) -> list[PhysicalObject]:
    """Moving objects of a video with their masks, per-frame velocity and mass.

    video : decoded frames [T, H, W, 3] uint8 with their times (T >= 3).
    meters_per_pixel : scale of the original video; None: `default_meters_per_pixel`.
    pixel_scale : original-video pixels per pixel of `video.frames` (> 1 when the video was
        decoded downscaled, as `physfoley physics` does to keep memory low).
    mass_kg : one mass for every object (kg); else `mass_estimator` (a MassEstimator called
        with the working frames, the object's material, the working scale and the object's
        centroid in the middle frame it is seen in), else density x apparent volume.
    material : the objects' material when the segmenter says none (a `DENSITY_KG_M3` name).
    segmenter : an `ObjectSegmenter`; default `MotionSegmenter()`.
    work_size : long side (pixels) of the masks; chunk_frames : frames per chunk of the camera
        motion (and of the default segmenter's background model).
    Returns the objects (possibly none: nothing moved). Raises InputError for bad arguments.
    """
    frames = np.asarray(video.frames)
    times = np.asarray(video.times_s, np.float64)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 3:
        raise InputError(f"need at least 3 RGB frames [T, H, W, 3], got {frames.shape}")
    if times.shape != frames.shape[:1]:
        raise InputError(f"times_s has shape {times.shape}, expected ({frames.shape[0]},)")
    if meters_per_pixel is not None and not (
        meters_per_pixel > 0 and np.isfinite(meters_per_pixel)
    ):
        raise InputError(f"meters_per_pixel must be > 0, got {meters_per_pixel}")
    if mass_kg is not None and not (mass_kg > 0 and np.isfinite(mass_kg)):
        raise InputError(f"mass must be a positive number of kg, got {mass_kg}")
    if not pixel_scale > 0:
        raise InputError(f"pixel_scale must be > 0, got {pixel_scale}")
    ApparentVolumeMassEstimator(0, 0).density(material)  # an unknown material fails early
    work, shrink = fit_long_side(frames, work_size)
    scale = shrink * pixel_scale  # original pixels per working pixel
    h, w = work.shape[1:3]
    if meters_per_pixel is None:
        meters_per_pixel = default_meters_per_pixel(w * scale, h * scale)
    m_per_work_px = meters_per_pixel * scale
    camera = camera_motion(work, chunk_frames=chunk_frames)
    segmenter = segmenter or MotionSegmenter(chunk_frames=chunk_frames)
    found = segmenter.segment(work, times, camera=camera)
    distinct = np.ones(len(times), bool)
    bounds = chunk_bounds(len(times), chunk_frames)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):  # chunks: memory flat in length
        distinct[a:b] = distinct_frames(to_gray(work[max(a - 1, 0) : b]))[1 if a else 0 :]
    objects = []
    for k, seg in enumerate(found):
        masks = np.asarray(seg.masks, np.uint8)
        if masks.shape != (len(times), h, w):
            raise InputError(f"segmenter gave masks {masks.shape}, expected {(len(times), h, w)}")
        area = masks.reshape(len(times), -1).sum(1).astype(float)
        present = area > 0
        # centroids from row and column counts ([T, w] and [T, h]: no [T, h, w] temporaries)
        sums = np.stack([masks.sum(1) @ np.arange(w), masks.sum(2) @ np.arange(h)], 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cen = sums / area[:, None]
        vel = arrival_velocity_px(masks, present, cen, times, distinct, camera) * m_per_work_px
        obj_material = seg.material or material
        if mass_kg is not None:
            mass, source = float(mass_kg), "given"
        else:
            seen = np.flatnonzero(present)
            mid = seen[seen.size // 2] if seen.size else 0
            estimator = mass_estimator or ApparentVolumeMassEstimator.from_masks(masks, present)
            mass = float(
                estimator.estimate(
                    frames=work,
                    material=obj_material,
                    meters_per_pixel=m_per_work_px,
                    x=float(cen[mid, 0]),
                    y=float(cen[mid, 1]),
                )
            )
            source = "estimated"
        objects.append(
            PhysicalObject(
                id=k,
                mass_kg=mass,
                velocity_m_s=vel,
                speed_m_s=np.hypot(vel[:, 0], vel[:, 1]),
                mask_area_px=area * scale**2,
                centroid_px=(cen + 0.5) * scale - 0.5,
                present=present,
                masks=masks,
                mass_source=source,
                label=seg.label,
                material=obj_material,
            )
        )
    return objects


__all__ = [
    "DEFAULT_MAX_OBJECTS",
    "DEFAULT_SCENE_LONG_SIDE_M",
    "LINK_GAP_S",
    "MIN_OBJECT_S",
    "MIN_TRAVEL_FRACTION",
    "MotionSegmenter",
    "TRACK_GAP_S",
    "ObjectSegmenter",
    "PhysicalObject",
    "SegmentedObject",
    "arrival_velocity_px",
    "default_meters_per_pixel",
    "estimate_objects",
    "read_work_video",
    "save_object_masks",
]
