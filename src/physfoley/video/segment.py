"""Motion segmentation: the pixels of each frame that move relative to the scene, camera removed.

The first step of the physical parameter estimator (`physfoley.video.objects`): its default
segmenter turns these masks into moving objects. Frames at working size are taken in chunks of
about `chunk_frames` (memory stays flat in the video's length); within a chunk

1. every frame is warped onto the chunk's middle frame by the camera's motion
   (`physfoley.video.camera`: shake, pans and slow zooms removed), and
   `physfoley.video.tip_points.foreground_mask` separates what moves from the chunk's static
   background (temporal median, lighting drift matched, a few pixels of leftover shake
   tolerated); pixels the warp brought in from outside the picture never count;
2. blobs in which nothing changes from frame to frame are dropped (`drop_ghosts`: the bare
   scene where a hovering hand was taken for background);
3. the masks are warped back into each frame's own coordinates.

A thing that rests for more than about half of a chunk belongs to that chunk's background.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from physfoley.video.camera import (
    DEFAULT_CHUNK_FRAMES,
    camera_motion,
    chunk_bounds,
    chunk_reference_maps,
)
from physfoley.video.tip_points import foreground_mask

#: Below this largest corner displacement (pixels at working size) a chunk is left unwarped:
#: the camera held still, and the foreground mask tolerates that much shake by itself.
STILL_CAMERA_PX = 0.5

#: Camera motion left after the warp (pixels): the neighbourhood of the background a pixel
#: must differ from (`foreground_mask`'s tolerance; the tip tracker, unwarped, uses 3).
RESIDUAL_SHAKE_PX = 1

#: A pixel changes when a colour channel differs by more than CHANGE_LEVEL grey levels from
#: the same pixel (camera motion removed) up to CHANGE_REACH frames before or after.
CHANGE_LEVEL = 25
CHANGE_REACH = 2
#: A blob of the foreground with fewer changing pixels than this fraction is a ghost.
GHOST_CHANGE_FRACTION = 0.05


def moving_mask_chunk(frames: np.ndarray, maps: np.ndarray, *, edge_px: int = 2) -> np.ndarray:
    """What moves in one chunk of frames, camera motion removed.

    frames : [T, H, W, 3] uint8 RGB (T >= 3); maps : [T, 2, 3] each frame's pixel coordinates
    onto the reference frame's (`physfoley.video.camera.chunk_reference_maps`). Returns
    [T, H, W] uint8, 1 where a pixel shows something moving against the chunk's static scene.
    """
    import cv2

    t, h, w, _ = frames.shape
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float)
    moved = np.abs(maps @ corners.T - corners[:, :2].T[None]).max()
    if moved < STILL_CAMERA_PX:
        return drop_ghosts(foreground_mask(frames, RESIDUAL_SHAKE_PX), frames)
    size = (w, h)
    stable = np.empty_like(frames)
    valid = np.empty((t, h, w), np.uint8)
    ones = np.ones((h, w), np.uint8)
    kernel = np.ones((2 * edge_px + 1,) * 2, np.uint8)
    for i in range(t):  # OpenCV warps one image at a time
        m = maps[i].astype(np.float32)
        stable[i] = cv2.warpAffine(frames[i], m, size, borderMode=cv2.BORDER_REPLICATE)
        inside = cv2.warpAffine(ones, m, size, flags=cv2.INTER_NEAREST, borderValue=0)
        valid[i] = cv2.erode(inside, kernel, borderValue=0)  # away from the warped-in border
    fg = drop_ghosts(foreground_mask(stable, RESIDUAL_SHAKE_PX) & valid, stable)
    back = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    for i in range(t):
        fg[i] = cv2.warpAffine(fg[i], maps[i].astype(np.float32), size, flags=back, borderValue=0)
    return fg


def temporal_change(frames: np.ndarray, reach: int = CHANGE_REACH) -> np.ndarray:
    """Where a frame differs from a neighbour: [T, H, W] bool.

    frames : [T, H, W, 3] uint8 (camera motion already removed). True where some colour channel
    differs by more than CHANGE_LEVEL from the same pixel up to `reach` frames before or after.
    """
    import cv2

    t, h, w, _ = frames.shape
    change = np.zeros((t, h, w), bool)
    for k in range(1, min(reach, t - 1) + 1):
        # cv2.absdiff on [(T - k) H, W, 3] views: one call, no int16 copies
        a = np.ascontiguousarray(frames[k:]).reshape(-1, w, 3)
        b = np.ascontiguousarray(frames[:-k]).reshape(-1, w, 3)
        diff = cv2.absdiff(a, b).max(axis=-1).reshape(t - k, h, w) > CHANGE_LEVEL
        change[k:] |= diff
        change[:-k] |= diff
    return change


def drop_ghosts(fg: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Foreground [T, H, W] uint8 without the blobs in which nothing changes.

    frames : [T, H, W, 3] uint8, the frames `fg` was found in. A background model is wrong
    where something rested for much of a chunk (a hovering hand); where it leaves, the bare
    scene differs from the model, but it does not change from frame to frame: a blob with
    fewer than GHOST_CHANGE_FRACTION of its pixels changing within CHANGE_REACH frames is
    such a ghost.
    """
    import cv2

    change = temporal_change(frames)
    out = np.zeros_like(fg)
    for i in range(fg.shape[0]):  # OpenCV labels one image at a time
        n, labels = cv2.connectedComponents(fg[i], connectivity=8)
        if n <= 1:
            continue
        area = np.bincount(labels.ravel(), minlength=n)
        moving = np.bincount(labels[change[i]], minlength=n)
        keep = moving >= GHOST_CHANGE_FRACTION * area
        keep[0] = False
        out[i] = keep[labels]
    return out


def iter_moving_masks(
    frames: np.ndarray,
    camera: np.ndarray | None = None,
    *,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    flow_preset: str = "fast",
) -> Iterator[tuple[int, np.ndarray]]:
    """(first frame index, masks [t, H, W] uint8) for each chunk of a video, in order.

    frames : [T, H, W, 3] uint8 RGB at working size (T >= 3); camera : [T, 3, 3] the steps of
    `physfoley.video.camera.camera_motion` (measured here when None). Only one chunk's warped
    frames and masks exist at a time.
    """
    if camera is None:
        camera = camera_motion(frames, chunk_frames=chunk_frames, flow_preset=flow_preset)
    bounds = chunk_bounds(frames.shape[0], chunk_frames)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        yield int(a), moving_mask_chunk(frames[a:b], chunk_reference_maps(camera[a:b]))


__all__ = [
    "CHANGE_LEVEL",
    "CHANGE_REACH",
    "GHOST_CHANGE_FRACTION",
    "RESIDUAL_SHAKE_PX",
    "STILL_CAMERA_PX",
    "drop_ghosts",
    "iter_moving_masks",
    "moving_mask_chunk",
    "temporal_change",
]
