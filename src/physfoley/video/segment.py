"""Motion segmentation: the pixels of each frame that move relative to the scene, camera removed.

The first step of the physical parameter estimator (`physfoley.video.objects`): its default
segmenter turns these masks into moving objects. Frames at working size are taken in chunks of
about `chunk_frames` (memory stays flat in the video's length); within a chunk

1. dense optical flow between consecutive grey frames (`physfoley.video.flow.compute_flow`)
   gives each pair's camera motion as a robust affine field (`fit_camera_motion`, the flow
   detector's own fit); the pair maps, chained, bring every frame near the chunk's middle
   frame, and a second flow from there registers it directly (no drift): one affine map per
   frame onto the reference (`camera_maps`);
2. every frame is warped onto that reference (shake, pans and slow zooms removed) and
   `physfoley.video.tip_points.foreground_mask` separates what moves from the chunk's static
   background (temporal median, lighting drift matched, a few pixels of leftover shake
   tolerated); pixels the warp brought in from outside the picture never count;
3. blobs in which nothing changes from frame to frame are dropped (`drop_ghosts`: the bare
   scene where a hovering hand was taken for background), and the masks are warped back into
   each frame's own coordinates.

A thing that rests for more than about half of a chunk belongs to that chunk's background.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from physfoley.video.flow import compute_flow, fit_camera_motion
from physfoley.video.tip_points import foreground_mask
from physfoley.video.windows import to_gray

#: Frames per chunk of the background model (about 8 s at 30 fps); the last, shorter chunk is
#: spread over the others so that no chunk is much shorter than this.
DEFAULT_CHUNK_FRAMES = 240

#: Below this largest corner displacement (pixels at working size) a chunk is left unwarped:
#: the camera held still, and the foreground mask tolerates that much shake by itself.
STILL_CAMERA_PX = 0.5

#: A pixel changes when a colour channel differs by more than CHANGE_LEVEL grey levels from
#: the same pixel (camera motion removed) up to CHANGE_REACH frames before or after.
CHANGE_LEVEL = 25
CHANGE_REACH = 2
#: A blob of the foreground with fewer changing pixels than this fraction is a ghost.
GHOST_CHANGE_FRACTION = 0.05


def pair_affines(coef: np.ndarray, height: int, width: int) -> np.ndarray:
    """Affine maps [N, 3, 3] of frame i's pixel coordinates onto frame i + 1's.

    coef : [N, 3, 2] camera fields of `physfoley.video.flow.fit_camera_motion`: pixel (x, y)
    moves by coef[0] + coef[1] (x / W - 1/2) + coef[2] (y / H - 1/2).
    """
    n = coef.shape[0]
    out = np.zeros((n, 3, 3))
    c0, cx, cy = coef[:, 0], coef[:, 1], coef[:, 2]  # [N, 2] each, (dx, dy) columns
    out[:, :2, 0] = cx / width
    out[:, :2, 1] = cy / height
    out[:, :2, 2] = c0 - 0.5 * cx - 0.5 * cy
    out[:, 0, 0] += 1.0
    out[:, 1, 1] += 1.0
    out[:, 2, 2] = 1.0
    return out


def camera_maps(gray: np.ndarray, flow_preset: str = "fast") -> np.ndarray:
    """Affine maps [T, 2, 3] of each frame's pixel coordinates onto the middle frame's.

    gray : [T, H, W] uint8. The camera motion between consecutive frames is the affine part of
    their dense flow; chained, it takes every frame near the reference frame T // 2 (whose map
    is the identity). Chains drift (a small error per pair, summed), so each frame, warped by
    its chained map, is then registered to the reference directly: the affine part of the
    flow from the reference to it corrects the chained map. A thing moving in the picture is
    what the maps do not explain.
    """
    import cv2

    t, h, w = gray.shape
    pairs = pair_affines(fit_camera_motion(compute_flow(gray, flow_preset)), h, w)
    to_first = np.empty((t, 3, 3))  # frame 0 -> frame i
    to_first[0] = np.eye(3)
    for i in range(1, t):  # a chain of 3x3 products, one per frame
        to_first[i] = pairs[i - 1] @ to_first[i - 1]
    ref = t // 2
    chained = to_first[ref][None] @ np.linalg.inv(to_first)  # frame i -> reference
    warped = np.empty_like(gray)
    for i in range(t):  # OpenCV warps one image at a time
        m = chained[i, :2].astype(np.float32)
        warped[i] = cv2.warpAffine(gray[i], m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    pairs_ref = np.stack([np.broadcast_to(gray[ref], gray.shape), warped], 1)  # [T, 2, H, W]
    flow = np.stack([compute_flow(pr, flow_preset)[0] for pr in pairs_ref])  # reference -> i
    residual = pair_affines(fit_camera_motion(flow), h, w)  # reference -> warped frame i
    return (np.linalg.inv(residual) @ chained)[:, :2, :]


def moving_mask_chunk(
    frames: np.ndarray, *, flow_preset: str = "fast", edge_px: int = 2
) -> np.ndarray:
    """What moves in one chunk of frames, camera motion removed.

    frames : [T, H, W, 3] uint8 RGB (T >= 3). Returns [T, H, W] uint8, 1 where a pixel shows
    something moving against the chunk's static scene.
    """
    import cv2

    t, h, w, _ = frames.shape
    maps = camera_maps(to_gray(frames), flow_preset)
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float)
    moved = np.abs(maps @ corners.T - corners[:, :2].T[None]).max()
    if moved < STILL_CAMERA_PX:
        return drop_ghosts(foreground_mask(frames), frames)
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
    fg = drop_ghosts(foreground_mask(stable) & valid, stable)
    back = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    for i in range(t):
        fg[i] = cv2.warpAffine(fg[i], maps[i].astype(np.float32), size, flags=back, borderValue=0)
    return fg


def temporal_change(frames: np.ndarray, reach: int = CHANGE_REACH) -> np.ndarray:
    """Where a frame differs from a neighbour: [T, H, W] bool.

    frames : [T, H, W, 3] uint8 (camera motion already removed). True where some colour channel
    differs by more than CHANGE_LEVEL from the same pixel up to `reach` frames before or after.
    """
    t = frames.shape[0]
    change = np.zeros(frames.shape[:3], bool)
    for k in range(1, min(reach, t - 1) + 1):
        diff = np.abs(frames[k:].astype(np.int16) - frames[:-k]).max(axis=-1) > CHANGE_LEVEL
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


def chunk_bounds(num_frames: int, chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> np.ndarray:
    """Start indices [K + 1] of K nearly equal chunks of at most `chunk_frames` frames (and T)."""
    k = max(1, int(np.ceil(num_frames / max(chunk_frames, 3))))
    return np.linspace(0, num_frames, k + 1).round().astype(int)


def iter_moving_masks(
    frames: np.ndarray, *, chunk_frames: int = DEFAULT_CHUNK_FRAMES, flow_preset: str = "fast"
) -> Iterator[tuple[int, np.ndarray]]:
    """(first frame index, masks [t, H, W] uint8) for each chunk of a video, in order.

    frames : [T, H, W, 3] uint8 RGB at working size (T >= 3). Only one chunk's flow, warped
    frames and masks exist at a time.
    """
    bounds = chunk_bounds(frames.shape[0], chunk_frames)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        yield int(a), moving_mask_chunk(frames[a:b], flow_preset=flow_preset)


__all__ = [
    "CHANGE_LEVEL",
    "CHANGE_REACH",
    "DEFAULT_CHUNK_FRAMES",
    "GHOST_CHANGE_FRACTION",
    "STILL_CAMERA_PX",
    "camera_maps",
    "chunk_bounds",
    "drop_ghosts",
    "iter_moving_masks",
    "moving_mask_chunk",
    "pair_affines",
    "temporal_change",
]
