"""The tip tracker's eyes: moving blobs, their leading points, and short tracks through them.

The tip method (`physfoley.video.tip`) needs no optical flow: `foreground_mask` separates what
moves from the clip's static background, `tip_track` takes the leading point of each moving
blob along each of TIP_DIRECTIONS, and `follow_chains` links those points frame to frame into
five-frame chains whose links `coherent_links` checks; `physfoley.video.tip_rules` then decides
which chains stopped like a struck striker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------- directions, blobs

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

# ---------------------------------------------------------------------------- links

#: A link is coherent when its 2-D step is at most this multiple of its step along the
#: direction (plus TIP_STEP_SLACK_PX): blobs appearing, splitting or merging jump sideways.
TIP_LINK_STRAIGHTNESS = 1.3
#: Pixels added to every bound on a step's length (a blob's leading point jitters by a few px).
TIP_STEP_SLACK_PX = 3.0
#: A link between two frames' candidates may be at most this many pixels, plus the point's
#: previous step, longer than the reverse link from its far end to that frame's nearest
#: candidate (near-mutual neighbours).
TIP_LINK_SLACK = 3.0
#: After a stop the point may slide along the struck surface (a scratch) at up to this many
#: times its 2-D step into the stop (+3 px) instead of moving along the stop's direction.
TIP_SLIDE = 1.0


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


def link_nearest(pts_a: np.ndarray, pts_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate of frame a, the nearest candidate of frame b (any frames).

    pts_a, pts_b : [N, D, K, 2]. Returns (index [N, D, K] into b's K, distance [N, D, K]),
    distance inf where either is missing.
    """
    dist = np.linalg.norm(pts_a[:, :, :, None] - pts_b[:, :, None], axis=-1)  # [N, D, K, K]
    dist = np.where(np.isnan(dist), np.inf, dist)
    idx = dist.argmin(axis=-1)
    return idx, np.take_along_axis(dist, idx[..., None], -1)[..., 0]


@dataclass
class TipChains:
    """Five-frame chains m-2 .. m+2 through every candidate of every frame m = 2 .. T-3.

    centres : [M] the frames m (M = T - 4).
    prev_idx, prev_d : [T-1, D, K] for each candidate of frame i+1, the nearest candidate of
        frame i (same direction) and its distance in pixels; next_idx, next_d : frame i -> i+1.
    extent : [M, D, K, 5] the chain's points' extent along the direction (pixels).
    points : [M, D, K, 5, 2] the chain's points (x, y).
    steps : [M, D, K, 4] steps along the direction between consecutive chain points.
    steps_2d : [M, D, K, 4] 2-D steps between consecutive chain points.
    back_2d : [M, D, K, 4] distance from each link's far end to ITS nearest candidate.
    extent_m3 : [M, D, K] extent one frame further back (m-3; NaN for m = 2).
    step_2d_m3 : [M, D, K] the 2-D step m-3 -> m-2 (inf for m = 2).
    """

    centres: np.ndarray
    prev_idx: np.ndarray
    prev_d: np.ndarray
    next_idx: np.ndarray
    next_d: np.ndarray
    extent: np.ndarray
    points: np.ndarray
    steps: np.ndarray
    steps_2d: np.ndarray
    back_2d: np.ndarray
    extent_m3: np.ndarray
    step_2d_m3: np.ndarray


def follow_chains(ext: np.ndarray, pts: np.ndarray) -> TipChains:
    """Link every candidate of frame m to the nearest candidate (same direction) of frames m-1
    and m+1, and those on to m-2 and m+2 (and m-3, for approaches from rest).

    ext : [T, D, K] extents, pts : [T, D, K, 2] points (NaN: no candidate); T >= 5.
    """
    t, nd, k = ext.shape
    prev_idx, prev_d = link_nearest(pts[1:], pts[:-1])  # [T-1, D, K]: frame i+1 -> frame i
    next_idx, next_d = link_nearest(pts[:-1], pts[1:])  # frame i -> frame i+1
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
    chain = (
        (mm - 2, dd, c_m2),
        (mm - 1, dd, c_m1),
        (mm, dd, kk),
        (mm + 1, dd, c_p1),
        (mm + 2, dd, c_p2),
    )
    e = np.stack([ext[at] for at in chain], -1)  # [M, D, K, 5]
    dist = np.stack(
        [
            prev_d[mm - 2, dd, c_m1],
            prev_d[mm - 1, dd, kk],
            next_d[mm, dd, kk],
            next_d[mm + 1, dd, c_p1],
        ],
        -1,
    )  # 2-D steps between consecutive chain points [M, D, K, 4]
    back = np.stack(
        [
            next_d[mm - 2, dd, c_m2],
            next_d[mm - 1, dd, c_m1],
            prev_d[mm, dd, c_p1],
            prev_d[mm + 1, dd, c_p2],
        ],
        -1,
    )  # [M, D, K, 4]: distance from each link's far end to ITS nearest candidate
    return TipChains(
        centres=m,
        prev_idx=prev_idx,
        prev_d=prev_d,
        next_idx=next_idx,
        next_d=next_d,
        extent=e,
        points=np.stack([pts[at] for at in chain], -2),  # [M, D, K, 5, 2]
        steps=np.diff(e, axis=-1),
        steps_2d=dist,
        back_2d=back,
        extent_m3=e_m3,
        step_2d_m3=d_m3,
    )


def coherent_links(chains: TipChains) -> np.ndarray:
    """[M, D, K, 4] bool: which of a chain's four links join one and the same point.

    A link is coherent when it is nearly straight along the direction (2-D step <=
    TIP_LINK_STRAIGHTNESS x the step along u + TIP_STEP_SLACK_PX), which rejects blobs
    appearing, splitting or merging, and nearly mutual (no candidate of the first frame nearer
    to the link's far end by more than TIP_LINK_SLACK + the point's previous step; the first
    link, with no previous step in the chain, is measured against its own length and so
    always passes).
    """
    dist, de = chains.steps_2d, chains.steps
    coh = dist <= TIP_LINK_STRAIGHTNESS * np.abs(de) + TIP_STEP_SLACK_PX
    # after the stop the striker may slide along the surface it met (a scratch): the step out
    # of m may go sideways, up to TIP_SLIDE x the step into m
    coh[..., 2] |= dist[..., 2] <= TIP_SLIDE * dist[..., 1] + TIP_STEP_SLACK_PX
    # each link must be nearly mutual: the point it reaches must have no other candidate much
    # nearer on the way back. A blob that appears beside the striker (an object shifted by the
    # hit, a piece split off) is the striker's nearest candidate in the next frame, but the
    # striker is not that blob's nearest: the rebounding striker is, far nearer.
    # A point that moved s px into this frame may be up to s px further than a nearer blob (a
    # trail left where it was): the allowance grows with the point's previous step
    prev_step = np.nan_to_num(np.concatenate([dist[..., :1], dist[..., :-1]], -1), posinf=0.0)
    coh &= dist <= chains.back_2d + TIP_LINK_SLACK + prev_step
    return coh


def chain_velocities(chains: TipChains, times: np.ndarray) -> np.ndarray:
    """[M, D, K, 4] velocity along the direction over each chain step, pixels per second.

    times : [T] frame times in seconds (intervals of at least 0.1 ms).
    """
    m = chains.centres
    dt = np.maximum(np.diff(times), 1e-4)
    tdt = np.stack([dt[m - 2], dt[m - 1], dt[m], dt[m + 1]], -1)[:, None, None]  # [M,1,1,4]
    return chains.steps / tdt


__all__ = [
    "TIP_CANDIDATES",
    "TIP_DIRECTIONS",
    "TipChains",
    "chain_velocities",
    "coherent_links",
    "follow_chains",
    "foreground_mask",
    "link_nearest",
    "tip_track",
]
