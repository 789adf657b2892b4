"""Decoding straight to what the analysis needs: memory flat in the video's length and size.

The detectors work on small frames (`physfoley.video.flow` at 160 px, `physfoley.video.tip` at
224 px) and the visual encoder on a few 22-frame windows, so a full-size frame is never kept:
`decode_for_detection` converts and shrinks each frame as it is decoded (the same OpenCV steps,
in the same order, as the detectors apply to full frames, so what is found does not change) and
returns a `VideoFrames` whose `reload` decodes the windows' colour frames again when the
pipeline asks for them (`frames_at`). A 10-minute 4K video costs ~0.3 GB of grey work frames.

Black bars do not change what is found: `find_black_borders` looks at the keyframes and, when
they show bars, confirms them on every frame; the picture inside them is what is analysed, and
positions are given back in pixels of the original (rotated) picture. Rotation metadata is
applied by the decoder (`physfoley.video.io`).
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from physfoley.video.flow import DEFAULT_WORK_SIZE
from physfoley.video.io import VideoFrames, decode_frames
from physfoley.video.swing import SWING_WORK_SIZE
from physfoley.video.tip import TIP_WORK_SIZE
from physfoley.video.windows import long_side_size, resize_frames

#: A row or column whose brightest pixel, over every frame, is at most this grey level is black.
BAR_LEVEL = 24
#: Bars thinner than this fraction of the side are left alone (encoder edge noise, not bars);
#: the two bars of a pair differ by at most this fraction (or 4 px).
MIN_BAR_FRACTION = 0.02
#: A crop must keep at least this fraction of each side (else the scene is dark, not barred).
MIN_KEEP_FRACTION = 0.2
#: Keyframes looked at for bars before the full check.
MAX_KEYFRAMES = 64

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (x1, y1 exclusive)

#: The tip tracker measures a striker's speeds at an impact from the frames this long before
#: and after it (`tip_frames_near`): its approach and stop, with room for the match tolerance.
TIP_NEAR_BEFORE_S = 0.6
TIP_NEAR_AFTER_S = 0.4
#: Up to this many frames (60 s at 30 fps; the tip tracker's frames and maps then peak at
#: ~1.4 GB with 1080p input) the pipeline measures speeds on the whole video; beyond, on
#: `tip_frames_near`'s windows only
#: (checked on SynthHits: the same speeds at most hits, r 0.71-1.0 per video at the others,
#: where a window's edge changes the tracker's context).
TIP_FULL_DECODE_MAX_FRAMES = 1800


def _bars(peak: np.ndarray) -> tuple[int, int]:
    """(start, stop) of the picture along one axis inside symmetric black bars, from each
    line's brightest level [N]; (0, N) when there are none. Bars come in pairs of (nearly) the
    same width; a dark margin on one side only is part of the scene."""
    n = peak.shape[0]
    lit = np.flatnonzero(peak > BAR_LEVEL)
    if lit.size == 0:
        return 0, n  # an all-black picture: nothing to crop to
    start, stop = int(lit[0]), int(lit[-1]) + 1
    before, after = start, n - stop
    if min(before, after) < MIN_BAR_FRACTION * n or abs(before - after) > max(
        4, MIN_BAR_FRACTION * n
    ):
        return 0, n
    if stop - start < MIN_KEEP_FRACTION * n:
        return 0, n
    return start, stop


def _content_box(row_peak: np.ndarray, col_peak: np.ndarray) -> Box | None:
    """The box inside black bars from each row's [H] and column's [W] brightest level, or None."""
    y0, y1 = _bars(row_peak)
    x0, x1 = _bars(col_peak)
    if (x0, y0, x1, y1) == (0, 0, col_peak.shape[0], row_peak.shape[0]):
        return None
    return x0, y0, x1, y1


def _peaks(path: str | os.PathLike, *, keyframes_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Brightest grey level of each row [H] and column [W] over the (key)frames of `path`."""
    peak: dict[str, np.ndarray] = {}

    def prepare(gray: np.ndarray) -> tuple:
        rows, cols = gray.max(axis=1), gray.max(axis=0)
        peak["rows"] = np.maximum(peak.get("rows", rows), rows)
        peak["cols"] = np.maximum(peak.get("cols", cols), cols)
        return ()

    decode_frames(
        path, prepare, gray=True, keyframes_only=keyframes_only,
        max_frames=MAX_KEYFRAMES if keyframes_only else None,
    )  # fmt: skip
    return peak["rows"], peak["cols"]


def find_black_borders(path: str | os.PathLike) -> Box | None:
    """The picture inside constant black bars (letterbox, pillarbox, both), or None.

    Returns (x0, y0, x1, y1) in pixels of the rotated picture. The keyframes are looked at
    first (cheap); only when they show bars is every frame checked, so a dark opening scene
    is not taken for bars.
    """
    if _content_box(*_peaks(path, keyframes_only=True)) is None:
        return None
    return _content_box(*_peaks(path, keyframes_only=False))


def decode_for_detection(
    path: str | os.PathLike,
    *,
    method: str = "flow",
    work_size: int = DEFAULT_WORK_SIZE,
    crop_bars: bool = True,
) -> VideoFrames:
    """Decode `path` into the detector's work frames, one frame at a time.

    method : "flow" keeps grey frames [T, h, w] with a long side of `work_size` px, "swing" grey
    frames at SWING_WORK_SIZE px, "tip" colour
    frames [T, h, w, 3] at TIP_WORK_SIZE px (never upscaled). The result's `scale` and `offset_xy` map their
    pixels to the original picture; its `reload` gives colour windows for the visual encoder.
    crop_bars : analyse the picture inside black bars (`find_black_borders`).
    Raises `InputError` for an unreadable video.
    """
    import cv2

    box = find_black_borders(path) if crop_bars else None
    long_side = {"tip": TIP_WORK_SIZE, "swing": SWING_WORK_SIZE}.get(method, work_size)
    state: dict[str, object] = {}

    def crop(img: np.ndarray) -> np.ndarray:
        if box is None:
            return img
        x0, y0, x1, y1 = box
        return np.ascontiguousarray(img[y0:y1, x0:x1])

    def prepare(img: np.ndarray) -> tuple[np.ndarray]:
        img = crop(img)
        if "size" not in state:
            state["size"] = long_side_size(img.shape[0], img.shape[1], long_side)
        if method in ("flow", "swing"):  # as flow.motion_track and swing.work_frames: grey
            # first, then shrink
            img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        size = state["size"]
        if size is not None:
            img = cv2.resize(img, size[0], interpolation=cv2.INTER_AREA)
        return (img,)

    (work,), info = decode_frames(path, prepare)

    def reload(index: np.ndarray, side: int | None) -> np.ndarray:
        """index [B, F] frame indices -> colour frames [B, F, side, side, 3], decoded again
        (side None: at the work frames' size and pixel geometry, [B, F, h, w, 3])."""
        wanted = np.unique(index)
        picked: dict[int, np.ndarray] = {}
        counter = iter(range(info.num_frames))

        def keep(img: np.ndarray) -> tuple:
            i = next(counter, -1)
            if i in picked or not np.any(wanted == i):
                return ()
            img = crop(img)
            if side is not None:
                picked[i] = resize_frames(img, side)
            else:
                size = state["size"]
                picked[i] = (
                    img if size is None else cv2.resize(img, size[0], interpolation=cv2.INTER_AREA)
                )
            return ()

        decode_frames(path, keep, max_frames=int(wanted.max()) + 1)
        fill = picked[max(picked)]
        return np.stack([[picked.get(int(i), fill) for i in row] for row in index])

    size = state.get("size")
    return info.with_frames(
        work,
        scale=1.0 if size is None else float(size[1]),
        offset_xy=(0.0, 0.0) if box is None else (float(box[0]), float(box[1])),
        reload=reload,
    )


def tip_frames_near(
    video: VideoFrames,
    times_s: np.ndarray,
    *,
    before_s: float = TIP_NEAR_BEFORE_S,
    after_s: float = TIP_NEAR_AFTER_S,
) -> VideoFrames:
    """The tip tracker's colour work frames (long side TIP_WORK_SIZE, black bars cropped) of
    only the frames within [t - before_s, t + after_s] of a time of `times_s` [E], decoded
    again from `video.path`: the striker's speeds at given times without holding every frame
    of a long video (memory flat in its length). `video` is any decode of the file (its frame
    times choose the frames). The result's times are those frames' own, so windows far apart
    are separate stretches of one timeline.
    """
    import cv2

    times = np.asarray(video.times_s, np.float64)
    hits = np.asarray(times_s, np.float64).reshape(-1)
    near = np.zeros(times.size, bool)
    for t in hits:  # a loop over the few impacts, not over frames
        near |= (times >= t - before_s) & (times <= t + after_s)
    wanted = np.flatnonzero(near)
    if wanted.size == 0 or video.path is None:
        return decode_for_detection(video.path, method="tip") if video.path else video
    box = find_black_borders(video.path)
    counter = iter(range(times.size))
    state: dict[str, object] = {}
    picked: dict[int, np.ndarray] = {}

    def keep(img: np.ndarray) -> tuple:  # keeps the wanted frames aside (as `reload` does)
        i = next(counter, -1)
        if i < 0 or not near[i]:
            return ()
        if box is not None:
            x0, y0, x1, y1 = box
            img = np.ascontiguousarray(img[y0:y1, x0:x1])
        if "size" not in state:
            state["size"] = long_side_size(img.shape[0], img.shape[1], TIP_WORK_SIZE)
        size = state["size"]
        if size is not None:
            img = cv2.resize(img, size[0], interpolation=cv2.INTER_AREA)
        picked[i] = img
        return ()

    _, info = decode_frames(video.path, keep, max_frames=int(wanted.max()) + 1)
    kept = np.asarray(sorted(picked), np.int64)
    work = np.stack([picked[int(i)] for i in kept])
    size = state.get("size")
    return replace(
        info.with_frames(
            work,
            scale=1.0 if size is None else float(size[1]),
            offset_xy=(0.0, 0.0) if box is None else (float(box[0]), float(box[1])),
        ),
        times_s=times[kept],
    )


def frames_at(video: VideoFrames, index: np.ndarray, side: int) -> np.ndarray:
    """Colour frames at `index` [B, F] as [B, F, side, side, 3] uint8 (OpenCV INTER_AREA).

    From `video.frames` when they are the picture, else decoded again (`video.reload`).
    """
    if video.reload is not None:
        return video.reload(np.asarray(index), side)
    return resize_frames(video.frames[index], side)


__all__ = [
    "BAR_LEVEL",
    "decode_for_detection",
    "find_black_borders",
    "frames_at",
    "tip_frames_near",
    "TIP_FULL_DECODE_MAX_FRAMES",
]
