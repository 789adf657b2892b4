"""Frames by time: the nearest frame to a moment, the window of frames around an onset, resizing.

Decoded video (`physfoley.video.io.read_video`) gives frames and their real presentation times;
everything that picks frames for a moment in time goes through `frame_index_at` here, so the
training data (`physfoley.data.clips`), the synthesis pipeline, the detectors
(`physfoley.video.events`), evaluation and the benchmarks all agree on which frame is "at" a
time. `onset_windows` cuts the visual encoder's F-frame windows around onsets; `resize_frames`
brings windows to the model's S x S; `fit_long_side` shrinks whole videos for the detectors;
`to_gray` and `distinct_frames` are the detectors' shared frame preparation.
"""

from __future__ import annotations

import numpy as np

from physfoley.errors import InputError


def frame_index_at(times_s: np.ndarray, t_s: float | np.ndarray) -> int | np.ndarray:
    """Index of the frame whose presentation time is nearest to `t_s` seconds.

    times_s : [T] non-decreasing frame times in seconds; t_s : a time, or [B] times.
    Returns an int for one time, an int64 array [B] for several. A time halfway between two
    frames, or nearest to several frames with the same time, gets the earliest of them (as
    `np.argmin(np.abs(times_s - t_s))` does); times before the first / after the last frame get
    the first / last frame.
    """
    times_s = np.asarray(times_s, dtype=np.float64)
    query = np.asarray(t_s, dtype=np.float64)
    last = times_s.shape[0] - 1
    right = np.clip(np.searchsorted(times_s, query), 0, last)
    left = np.clip(right - 1, 0, last)
    pick_left = np.abs(times_s[left] - query) <= np.abs(times_s[right] - query)
    # `right` is the first frame of its time; the first of `left`'s time may lie further back
    left = np.searchsorted(times_s, times_s[left])
    index = np.where(pick_left, left, right)
    return int(index) if index.ndim == 0 else index.astype(np.int64)


def onset_windows(
    frame_times_s: np.ndarray,
    hit_times_s: np.ndarray,
    frames_per_window: int = 22,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame windows around each hit.

    frame_times_s : [T] presentation time of each frame; hit_times_s : [B] seconds.
    Returns onset [B] (index of the frame nearest each hit, `frame_index_at`), window [B, F]
    frame indices onset - F//2 .. onset + F - F//2 (exclusive) clipped to [0, T-1] (edge frame
    repeated), padded [B] bool (the window ran off the video).
    """
    num_frames = np.shape(frame_times_s)[0]
    onset = frame_index_at(frame_times_s, np.asarray(hit_times_s, dtype=np.float64))
    half = frames_per_window // 2
    window = onset[:, None] + np.arange(-half, frames_per_window - half)[None, :]
    padded = (window < 0).any(axis=1) | (window >= num_frames).any(axis=1)
    return onset, np.clip(window, 0, num_frames - 1), padded


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """Square frames for the visual encoder, as `read_video(size=)` makes them.

    frames : [..., H, W, 3] uint8. Returns [..., size, size, 3] uint8 (OpenCV INTER_AREA); the
    input itself when it is already that size.
    """
    import cv2

    if frames.shape[-3:-1] == (size, size):
        return frames
    flat = frames.reshape(-1, *frames.shape[-3:])
    out = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in flat])
    return out.reshape(*frames.shape[:-3], size, size, 3)


def fit_long_side(frames: np.ndarray, long_side_px: int) -> tuple[np.ndarray, float]:
    """Shrink a video so that its longer side is at most `long_side_px` (never upscaled).

    frames : [T, H, W] or [T, H, W, 3] uint8. Returns (frames [T, h, w(, 3)] uint8, scale in
    original pixels per returned pixel; 1.0 when nothing was resized). Each side is at least
    8 px (OpenCV INTER_AREA).
    """
    import cv2

    t, h, w = frames.shape[:3]
    size = long_side_size(h, w, long_side_px)
    if size is None:
        return np.ascontiguousarray(frames, dtype=np.uint8), 1.0
    (new_w, new_h), scale = size
    out = np.empty((t, new_h, new_w, *frames.shape[3:]), np.uint8)
    for i in range(t):  # OpenCV resizes one image at a time
        out[i] = cv2.resize(frames[i], (new_w, new_h), interpolation=cv2.INTER_AREA)
    return out, scale


def long_side_size(h: int, w: int, long_side_px: int) -> tuple[tuple[int, int], float] | None:
    """The size `fit_long_side` shrinks an h x w picture to: ((width, height), original pixels
    per new pixel), or None when it is already small enough (never upscaled)."""
    scale = max(h, w) / float(long_side_px)
    if scale <= 1.0:
        return None
    new_w, new_h = max(8, round(w / scale)), max(8, round(h / scale))
    return (new_w, new_h), max(h / new_h, w / new_w)


def to_gray(frames: np.ndarray) -> np.ndarray:
    """frames [T, H, W, 3] RGB or [T, H, W] gray -> [T, H, W] uint8 luminance (OpenCV)."""
    frames = np.asarray(frames)
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


def distinct_frames(gray: np.ndarray, max_level: float = 2.0) -> np.ndarray:
    """Which frames show something new.

    gray : [T, H, W] uint8. Returns [T] bool, False for a frame that repeats the previous one
    (99.9th percentile of the absolute difference <= `max_level` grey levels: only compression
    noise changed, as after frame-rate conversion).
    """
    t = gray.shape[0]
    keep = np.ones(t, bool)
    if t < 2:
        return keep
    flat = gray.reshape(t, -1)
    k = max(1, int(0.001 * flat.shape[1]))
    for start in range(0, t - 1, 256):  # in chunks: memory flat in the video's length
        stop = min(start + 257, t)
        diff = np.abs(np.diff(flat[start:stop].astype(np.int16), axis=0))
        top = np.partition(diff, diff.shape[1] - k, axis=1)[:, diff.shape[1] - k]
        keep[start + 1 : stop] = top > max_level
    return keep


__all__ = [
    "distinct_frames",
    "fit_long_side",
    "frame_index_at",
    "long_side_size",
    "onset_windows",
    "resize_frames",
    "to_gray",
]
