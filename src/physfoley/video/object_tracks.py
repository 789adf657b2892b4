"""From moving pixels to moving objects: blobs per frame, tracks through time, mask translations.

The middle of the physical parameter estimator (`physfoley.video.objects`): `frame_blobs` cuts a
frame's motion mask (`physfoley.video.segment`) into connected blobs; `BlobTracker` links them
frame to frame into tracks (a constant-velocity prediction, a size-scaled gate and one optimal
assignment per frame, so a fast striker that jumps tens of pixels between frames stays one
track, and a track survives a few frames of occlusion); `track_masks` paints a track back into
per-frame masks; `mask_translations` measures how far an object's mask moved between two
frames by matching the masks' shapes, which, unlike the centroid, is not fooled by a part of
the object entering or leaving the picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Radius (pixels at working size) of the closing that groups the pieces of one blob.
CLOSE_PX = 5
#: Blobs smaller than this fraction of the frame are noise.
MIN_BLOB_FRACTION = 0.0008
#: A blob joins a track when it lies within this gate of the track's predicted centroid:
#: GATE_SIZE x the square root of the larger area + GATE_SPEED x the track's speed (pixels per
#: frame) + GATE_PX pixels.
GATE_SIZE, GATE_SPEED, GATE_PX = 0.75, 0.75, 4.0
#: Weight of |log area ratio| in the assignment cost (the distance over the gate is the rest).
AREA_COST = 0.3
#: Two tracks are pieces of one thing when seen together in >= SPLIT_MIN_FRAMES frames and, in
#: SPLIT_FRACTION of them, their boxes lie within SPLIT_GAP_PX pixels of each other.
SPLIT_MIN_FRAMES, SPLIT_FRACTION, SPLIT_GAP_PX = 3, 0.8, 4.0
#: A track continues another only if their median colours differ by at most this many grey
#: levels in every channel.
LINK_COLOR = 40.0
#: Gaussian blur (pixels) of the masks before their shapes are matched.
MATCH_BLUR_PX = 1.0
#: M1 this many pixels beyond M0's box still counts against a shift (the ends of an object).
MATCH_MARGIN_PX = 4
#: A translation is accepted only where at least this fraction of the earlier mask stays in
#: the picture.
MATCH_MIN_INSIDE = 0.5


@dataclass
class Blob:
    """A connected region of one frame's motion mask (pixels at working size).

    frame : frame index; box : (x0, y0, x1, y1) exclusive; crop : [y1 - y0, x1 - x0] uint8
    mask of the region within its box; area : pixels; centroid : (x, y); color : mean RGB.
    """

    frame: int
    box: tuple[int, int, int, int]
    crop: np.ndarray
    area: int
    centroid: tuple[float, float]
    color: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def edges(self, height: int, width: int, margin: int = 2) -> np.ndarray:
        """[4] bool: the blob touches the picture's left, right, top, bottom edge."""
        x0, y0, x1, y1 = self.box
        return np.array([x0 <= margin, x1 >= width - margin, y0 <= margin, y1 >= height - margin])


def frame_blobs(
    mask: np.ndarray, frame: int, min_area_px: float, rgb: np.ndarray | None = None
) -> list[Blob]:
    """The blobs of one frame's motion mask [H, W] uint8 (rgb : [H, W, 3] for their colour).

    The mask is opened (specks removed); pieces closer than about 2 CLOSE_PX pixels form one
    blob (a hand and the stick it holds, a stick cut by a similar-coloured background), whose
    mask is the opened mask's pixels, not the gaps between them.
    """
    import cv2

    clean = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * CLOSE_PX + 1,) * 2)
    groups = cv2.morphologyEx(clean, cv2.MORPH_CLOSE, disk)
    n, labels = cv2.connectedComponents(groups, connectivity=8)
    labels = np.where(clean > 0, labels, 0).ravel()
    area = np.bincount(labels, minlength=n)
    colors = np.zeros((n, 3))
    if rgb is not None:
        flat = rgb.reshape(-1, 3).astype(float)
        colors = np.stack([np.bincount(labels, flat[:, c], n) for c in range(3)], 1)
        colors /= np.maximum(area, 1)[:, None]
    labels = labels.reshape(mask.shape)
    blobs = []
    for c in np.flatnonzero(area >= min_area_px):  # a loop over the few blobs of a frame
        if c == 0:
            continue
        ys, xs = np.nonzero(labels == c)
        x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        crop = (labels[y0:y1, x0:x1] == c).astype(np.uint8)
        blobs.append(
            Blob(frame, (x0, y0, x1, y1), crop, int(ys.size), (xs.mean(), ys.mean()),
                 tuple(colors[c]))
        )  # fmt: skip
    return blobs


@dataclass
class Track:
    """Blobs of one moving thing, in frame order; `velocity` in pixels per frame."""

    blobs: list[Blob] = field(default_factory=list)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))

    @property
    def last(self) -> Blob:
        return self.blobs[-1]

    def predict(self, frame: int) -> np.ndarray:
        return np.asarray(self.last.centroid) + self.velocity * (frame - self.last.frame)

    def add(self, blob: Blob) -> None:
        gap = blob.frame - self.last.frame
        self.velocity = (np.asarray(blob.centroid) - np.asarray(self.last.centroid)) / gap
        self.blobs.append(blob)


class BlobTracker:
    """Links each frame's blobs to the tracks alive (frame-by-frame, optimal assignment).

    max_gap_frames : a track not seen for more frames than this ends.
    """

    def __init__(self, max_gap_frames: int = 6):
        self.max_gap_frames = max_gap_frames
        self.tracks: list[Track] = []  # every track, in the order they began
        self._alive: list[Track] = []

    def update(self, frame: int, blobs: list[Blob]) -> None:
        """Assign the blobs of `frame` (frames in increasing order) to the tracks alive."""
        from scipy.optimize import linear_sum_assignment  # heavy: not at CLI start-up

        gap = self.max_gap_frames + 1
        self._alive = alive = [tr for tr in self._alive if frame - tr.last.frame <= gap]
        taken = np.zeros(len(blobs), bool)
        if alive and blobs:
            pred = np.stack([tr.predict(frame) for tr in alive])  # [A, 2]
            cen = np.array([b.centroid for b in blobs])  # [B, 2]
            a_trk = np.array([tr.last.area for tr in alive], float)
            a_blb = np.array([b.area for b in blobs], float)
            speed = np.hypot(*np.stack([tr.velocity for tr in alive]).T)
            gate = (
                GATE_SIZE * np.sqrt(np.maximum(a_trk[:, None], a_blb[None]))
                + GATE_SPEED * speed[:, None]
                + GATE_PX
            )
            dist = np.linalg.norm(pred[:, None] - cen[None], axis=-1)  # [A, B]
            cost = dist / gate + AREA_COST * np.abs(np.log(a_blb[None] / a_trk[:, None]))
            cost = np.where(dist <= gate, cost, 1e6)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                if cost[r, c] < 1e6:
                    alive[r].add(blobs[c])
                    taken[c] = True
        for b, t in zip(blobs, taken, strict=True):
            if not t:
                self.tracks.append(Track([b]))
                self._alive.append(self.tracks[-1])


def _box_gap(a: Blob, b: Blob) -> float:
    """Pixels between two blobs' boxes (0 when they touch or overlap)."""
    dx = max(a.box[0] - b.box[2], b.box[0] - a.box[2], 0)
    dy = max(a.box[1] - b.box[3], b.box[1] - a.box[3], 0)
    return float(np.hypot(dx, dy))


def _color(track: Track) -> np.ndarray:
    return np.median(np.array([b.color for b in track.blobs]), axis=0)


def merge_split_tracks(tracks: list[Track]) -> list[Track]:
    """Tracks of the pieces of one thing (a hand and its stick) joined into one track.

    Two tracks seen together in at least SPLIT_MIN_FRAMES frames are pieces of one thing when,
    in SPLIT_FRACTION of those frames, their boxes lie within SPLIT_GAP_PX of each other.
    """
    tracks = sorted(tracks, key=lambda tr: -len(tr.blobs))
    merged: list[Track] = []
    for tr in tracks:  # a loop over tracks, each against the kept ones it overlaps in time
        by_frame = {b.frame: b for b in tr.blobs}
        first, last = tr.blobs[0].frame, tr.blobs[-1].frame
        for big in merged:
            if big.blobs[0].frame > last or big.blobs[-1].frame < first:
                continue
            shared = [(b, by_frame[b.frame]) for b in big.blobs if b.frame in by_frame]
            if len(shared) < SPLIT_MIN_FRAMES:
                continue
            near = np.mean([_box_gap(a, b) <= SPLIT_GAP_PX for a, b in shared])
            if near >= SPLIT_FRACTION:
                big.blobs = sorted(big.blobs + tr.blobs, key=lambda b: b.frame)
                break
        else:
            merged.append(tr)
    return merged


def link_tracks(tracks: list[Track], max_gap_frames: int, height: int, width: int) -> list[Track]:
    """Tracks of one thing that left the picture (or was lost) and came back, joined.

    Track B continues track A when B begins at most `max_gap_frames` after A ends, their
    median colours differ by at most LINK_COLOR levels, and either both touch the same picture
    edge where A ends and B begins (out and back in) or B begins within the tracking gate of
    where A ended. Each track gets at most one successor; the shortest gaps are linked first.
    """
    tracks = sorted(tracks, key=lambda tr: tr.blobs[0].frame)
    starts = np.array([tr.blobs[0].frame for tr in tracks])
    colors = [_color(tr) for tr in tracks]
    cands = []
    for i, a in enumerate(tracks):  # each track against those that begin soon after it ends
        lo, hi = np.searchsorted(starts, [a.last.frame + 1, a.last.frame + max_gap_frames + 1])
        for j in range(lo, hi):
            b = tracks[j]
            gap = b.blobs[0].frame - a.last.frame
            if np.abs(colors[i] - colors[j]).max() > LINK_COLOR:
                continue
            end, start = a.last, b.blobs[0]
            same_edge = (end.edges(height, width) & start.edges(height, width)).any()
            dist = float(np.hypot(*(np.subtract(start.centroid, end.centroid))))
            gate = GATE_SIZE * np.sqrt(max(end.area, start.area)) + GATE_PX
            if same_edge or dist <= gate:
                cands.append((gap, dist, i, j))
    succ: dict[int, int] = {}
    pred: dict[int, int] = {}
    for _, _, i, j in sorted(cands):
        if i not in succ and j not in pred:
            succ[i], pred[j] = j, i
    out = []
    for i in range(len(tracks)):
        if i in pred:
            continue
        chain = Track(list(tracks[i].blobs), tracks[i].velocity)
        k = i
        while k in succ:
            k = succ[k]
            chain.blobs += tracks[k].blobs
        out.append(chain)
    return out


def track_masks(track: Track, num_frames: int, height: int, width: int) -> np.ndarray:
    """A track's blobs painted into per-frame masks [T, H, W] uint8 (zeros where unseen)."""
    masks = np.zeros((num_frames, height, width), np.uint8)
    for b in track.blobs:
        x0, y0, x1, y1 = b.box
        masks[b.frame, y0:y1, x0:x1] |= b.crop
    return masks


def _subpixel(score: np.ndarray, iy: int, ix: int) -> tuple[float, float]:
    """Parabolic refinement of a 2-D maximum, each axis on its own (score [Y, X])."""
    out = []
    for axis, i, n in ((1, ix, score.shape[1]), (0, iy, score.shape[0])):
        if 0 < i < n - 1:
            lo, mid, hi = (
                score[iy, i - 1 : i + 2] if axis == 1 else score[i - 1 : i + 2, ix]
            ).astype(float)
            den = lo - 2 * mid + hi
            out.append(i + (0.5 * (lo - hi) / den if den < 0 else 0.0))
        else:
            out.append(float(i))
    return out[0], out[1]


def _crop(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """image[y0:y1, x0:x1] as float32, zeros where the box runs outside the image."""
    h, w = image.shape
    out = np.zeros((y1 - y0, x1 - x0), np.float32)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def mask_shift(m0: np.ndarray, m1: np.ndarray, radius: int) -> np.ndarray:
    """Translation (dx, dy) in pixels that best carries mask m0 onto mask m1.

    m0, m1 : [H, W] uint8 masks of one object in two frames; radius : largest shift searched.
    The score of a shift d is the Dice overlap of the blurred masks, 2 |M0 ∩ M1| / (|M0| +
    |M1 near M0|), where "near" is M0's box grown by MATCH_MARGIN_PX (so that M1 reaching
    past M0's ends counts against d) and both terms count only what both frames could see:
    M0's part that d carries out of the picture, and M1's part that d brings in from outside
    the earlier picture, are no evidence either way (an object entering or leaving the
    picture). Returns [2] float, NaN when m0 is empty or no shift keeps MATCH_MIN_INSIDE of
    M0 in the picture.
    """
    import cv2

    h, w = m0.shape
    ys, xs = np.nonzero(m0)
    if ys.size == 0:
        return np.full(2, np.nan)
    m = int(np.ceil(2 * MATCH_BLUR_PX)) + MATCH_MARGIN_PX
    x0, x1, y0, y1 = xs.min() - m, xs.max() + m + 1, ys.min() - m, ys.max() + m + 1
    picture = np.ones((h, w), np.float32)
    b0 = cv2.GaussianBlur(m0.astype(np.float32), (0, 0), MATCH_BLUR_PX)
    b1 = cv2.GaussianBlur(m1.astype(np.float32), (0, 0), MATCH_BLUR_PX)
    tmpl = _crop(b0, x0, y0, x1, y1)  # M0 around its box
    seen0 = _crop(picture, x0, y0, x1, y1)  # that window's part inside the earlier picture
    r = int(radius)
    img = _crop(b1, x0 - r, y0 - r, x1 + r, y1 + r)  # M1 over every shifted window
    seen1 = _crop(picture, x0 - r, y0 - r, x1 + r, y1 + r)
    overlap = cv2.matchTemplate(img, tmpl, cv2.TM_CCORR)
    kept = cv2.matchTemplate(seen1, tmpl, cv2.TM_CCORR)  # |M0| still in the picture
    near = cv2.matchTemplate(img, seen0, cv2.TM_CCORR)  # |M1| near M0, seen in both frames
    total = float(tmpl.sum())
    dice = np.where(kept >= MATCH_MIN_INSIDE * total, 2 * overlap / (kept + near + 1e-6), -1.0)
    iy, ix = np.unravel_index(int(np.argmax(dice)), dice.shape)
    if dice[iy, ix] <= 0:
        return np.full(2, np.nan)
    fx, fy = _subpixel(dice, int(iy), int(ix))
    return np.array([fx - r, fy - r])


def mask_translations(
    masks: np.ndarray, pairs: np.ndarray, centroids: np.ndarray, *, min_radius: int = 6
) -> np.ndarray:
    """Shifts [P, 2] (pixels) of an object's mask between the frames of each pair.

    masks : [T, H, W] uint8; pairs : [P, 2] frame indices (earlier, later), both present;
    centroids : [T, 2] mask centroids. The search radius is twice the centroid's step plus
    `min_radius` (a centroid moves at half the speed of an object entering the picture).
    """
    out = np.full((len(pairs), 2), np.nan)
    for k, (a, b) in enumerate(pairs):  # one shape match per frame pair
        step = float(np.hypot(*(centroids[b] - centroids[a])))
        radius = min(int(2 * step) + min_radius, max(masks.shape[1:]))
        out[k] = mask_shift(masks[a], masks[b], radius)
    return out


__all__ = [
    "AREA_COST",
    "CLOSE_PX",
    "GATE_PX",
    "GATE_SIZE",
    "GATE_SPEED",
    "LINK_COLOR",
    "MATCH_BLUR_PX",
    "MATCH_MARGIN_PX",
    "MATCH_MIN_INSIDE",
    "MIN_BLOB_FRACTION",
    "SPLIT_FRACTION",
    "SPLIT_GAP_PX",
    "SPLIT_MIN_FRAMES",
    "Blob",
    "BlobTracker",
    "Track",
    "frame_blobs",
    "link_tracks",
    "mask_shift",
    "mask_translations",
    "merge_split_tracks",
    "track_masks",
]
