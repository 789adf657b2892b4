"""Camera motion: where the camera carried each pixel from one frame to the next.

The physical parameter estimator (`physfoley.video.objects`) measures motion relative to the
scene, so it first measures the camera's: shake, pans and slow zooms, as one affine map per
frame pair. Frames are taken in chunks of about `chunk_frames` (memory flat in the video's
length); within a chunk, dense optical flow between consecutive grey frames
(`physfoley.video.flow.compute_flow`) gives each pair's camera motion as a robust affine field
(`fit_camera_motion`, the flow detector's own fit); the pair maps, chained, bring every frame
near the chunk's middle frame, and a second flow from there registers each frame directly, so
that the chain does not drift (`camera_maps`). Motion segmentation (`physfoley.video.segment`)
warps a chunk onto its middle frame with these maps; velocities subtract the camera's
displacement at the object (`camera_between`).
"""

from __future__ import annotations

import numpy as np

from physfoley.video.flow import compute_flow, fit_camera_motion
from physfoley.video.windows import to_gray

#: Frames per chunk (about 8 s at 30 fps); the last, shorter chunk is spread over the others
#: so that no chunk is much shorter than this.
DEFAULT_CHUNK_FRAMES = 240


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


def chunk_bounds(num_frames: int, chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> np.ndarray:
    """Start indices [K + 1] of K nearly equal chunks of at most `chunk_frames` frames (and T)."""
    k = max(1, int(np.ceil(num_frames / max(chunk_frames, 3))))
    return np.linspace(0, num_frames, k + 1).round().astype(int)


def camera_motion(
    frames: np.ndarray, *, chunk_frames: int = DEFAULT_CHUNK_FRAMES, flow_preset: str = "fast"
) -> np.ndarray:
    """The camera's motion into each frame: steps [T, 3, 3] of frame t-1's pixel coordinates
    onto frame t's (the identity for t = 0).

    frames : [T, H, W, 3] RGB or [T, H, W] grey uint8. Within a chunk the steps come from the
    drift-free maps of `camera_maps` (chained, they give those maps back); from one chunk to
    the next, from the flow between the two frames.
    """
    gray = to_gray(frames)
    t, h, w = gray.shape
    steps = np.tile(np.eye(3), (t, 1, 1))
    bounds = chunk_bounds(t, chunk_frames)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        maps = np.tile(np.eye(3), (b - a, 1, 1))
        maps[:, :2] = camera_maps(gray[a:b], flow_preset)  # frame i -> chunk reference
        steps[a + 1 : b] = np.linalg.inv(maps[1:]) @ maps[:-1]
        if a > 0:  # across the chunk boundary
            coef = fit_camera_motion(compute_flow(gray[a - 1 : a + 1], flow_preset))
            steps[a] = pair_affines(coef, h, w)[0]
    return steps


def chunk_reference_maps(steps: np.ndarray) -> np.ndarray:
    """Affine maps [t, 2, 3] of each frame of a chunk onto its middle frame t // 2.

    steps : [t, 3, 3] the chunk's `camera_motion` steps (steps[0] is not used).
    """
    to_first = np.empty_like(steps)  # frame 0 -> frame i
    to_first[0] = np.eye(3)
    for i in range(1, len(steps)):  # a chain of 3x3 products, one per frame
        to_first[i] = steps[i] @ to_first[i - 1]
    return (to_first[len(steps) // 2][None] @ np.linalg.inv(to_first))[:, :2]


def camera_between(steps: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """The camera's maps [P, 3, 3] from frame a's pixel coordinates to frame b's.

    steps : [T, 3, 3] of `camera_motion`; pairs : [P, 2] frame indices (a, b), a < b.
    """
    out = np.tile(np.eye(3), (len(pairs), 1, 1))
    for k, (a, b) in enumerate(pairs):  # pairs of (nearly) consecutive frames: short products
        for i in range(a + 1, b + 1):
            out[k] = steps[i] @ out[k]
    return out


__all__ = [
    "DEFAULT_CHUNK_FRAMES",
    "camera_between",
    "camera_maps",
    "camera_motion",
    "chunk_bounds",
    "chunk_reference_maps",
    "pair_affines",
]
