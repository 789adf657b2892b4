"""Frames of a SynthHits video (end of step 4, the picture): the static scene plus what moves.

Each frame starts from the scene `scene.draw_scene` painted once (objects shifted where they
rattle), adds the striker (a painted drumstick held by a hand) at its simulated position and
an occasional second hand passing in front, then a lighting drift and colour cast, camera
shake (sub-pixel affine warp) and sensor noise. Everything is drawn with OpenCV on uint8
frames. `shake_point` maps a scene point into the image under one frame's shake, so ground
truth can be given in image coordinates.
"""

from __future__ import annotations

import cv2
import numpy as np

from physfoley.data.synthhits.scene import Scene
from physfoley.data.synthhits.spec import IMAGE_SIZE_PX


def composite_with_offsets(scene: Scene, offsets: dict[int, tuple[int, int]]) -> np.ndarray:
    """The scene with some objects shifted by (dx, dy) pixels (rattling), uint8 [H, W, 3]."""
    comp = scene.background.astype(np.float32)
    for j, sp in enumerate(scene.sprites):
        color, alpha = sp.color, sp.alpha
        if j in offsets:
            dx, dy = offsets[j]
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            color = cv2.warpAffine(color, m, (IMAGE_SIZE_PX, IMAGE_SIZE_PX))
            alpha = cv2.warpAffine(alpha, m, (IMAGE_SIZE_PX, IMAGE_SIZE_PX))
        comp = comp * (1 - alpha[..., None]) + color * alpha[..., None]
    return np.clip(comp, 0, 255).astype(np.uint8)


def draw_striker(img: np.ndarray, scene: Scene, x: float, y: float, angle_deg: float) -> None:
    """Draw the drumstick with its tip's lowest point at (x, y), and the hand holding it.

    angle_deg : signed tilt from vertical (positive: the hand is up-right of the tip).
    """
    r = scene.stick_radius_px
    a = np.deg2rad(angle_deg)
    d = np.array([np.sin(a), -np.cos(a)])
    n = np.array([-d[1], d[0]])
    tip = np.array([x, y - r])
    butt = tip + d * scene.stick_length_px
    r_butt = r * 1.5
    poly = np.array([tip + n * r, butt + n * r_butt, butt - n * r_butt, tip - n * r])
    shift = 4  # sub-pixel drawing
    color = scene.stick_rgb
    cv2.fillConvexPoly(
        img, np.round(poly * (1 << shift)).astype(np.int32), color, cv2.LINE_AA, shift
    )
    cv2.circle(
        img,
        tuple(np.round(tip * (1 << shift)).astype(int)),
        int(round(r * (1 << shift))),
        color,
        -1,
        cv2.LINE_AA,
        shift,
    )
    hi = tuple(int(min(255, c * 1.35 + 30)) for c in color)
    p0, p1 = tip + d * 4 + n * r * 0.4, butt + n * r_butt * 0.4
    cv2.line(
        img,
        tuple(np.round(p0 * (1 << shift)).astype(int)),
        tuple(np.round(p1 * (1 << shift)).astype(int)),
        hi,
        1,
        cv2.LINE_AA,
        shift,
    )
    hand = tip + d * scene.stick_length_px * 0.82
    hr = max(10.0, 0.045 / scene.meters_per_pixel)
    cv2.ellipse(
        img,
        (int(hand[0]), int(hand[1])),
        (int(hr), int(hr * 0.7)),
        float(np.rad2deg(np.arctan2(d[1], d[0]))),
        0,
        360,
        scene.skin_rgb,
        -1,
        cv2.LINE_AA,
    )
    dark = tuple(int(c * 0.8) for c in scene.skin_rgb)
    for k in range(3):  # knuckles
        p = hand + n * (k - 1) * hr * 0.35 - d * hr * 0.5
        cv2.circle(img, (int(p[0]), int(p[1])), max(2, int(hr * 0.22)), dark, -1, cv2.LINE_AA)


def draw_occluder(
    img: np.ndarray, skin, center: tuple[float, float], size: float, angle: float
) -> None:
    """A second hand passing in front of the camera (palm + fingers)."""
    cx, cy = center
    cv2.ellipse(
        img, (int(cx), int(cy)), (int(size), int(size * 0.8)), angle, 0, 360, skin, -1, cv2.LINE_AA
    )
    for k in range(4):
        a = np.deg2rad(angle - 60 + k * 25)
        p = (int(cx + np.cos(a) * size * 1.5), int(cy + np.sin(a) * size * 1.5))
        cv2.line(img, (int(cx), int(cy)), p, skin, max(3, int(size * 0.3)), cv2.LINE_AA)
    cv2.rectangle(
        img,
        (int(cx - size * 0.6), int(cy)),
        (int(cx + size * 0.6), IMAGE_SIZE_PX + 40),
        tuple(int(c * 0.9) for c in skin),
        -1,
    )


def render_frames(
    scene: Scene,
    tip_x: np.ndarray,
    tip_y: np.ndarray,
    angle_deg: np.ndarray,
    *,
    jiggle: dict[int, dict[int, tuple[int, int]]],
    occluders: dict[int, tuple[tuple[float, float], float, float, tuple[int, int, int]]],
    light_gain: np.ndarray,
    shake: np.ndarray,
    noise_sigma: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Frames np.ndarray[T, H, W, 3] uint8 RGB.

    tip_x, tip_y, angle_deg : [T] striker tip (scene pixels) and stick angle per frame.
    jiggle : frame -> {object index: (dx, dy)} for rattling objects.
    occluders : frame -> (center, size, angle, skin rgb) of a hand in front of the camera.
    light_gain : [T, 3] per-channel gain (lighting drift and colour cast).
    shake : [T, 3] camera dx, dy (pixels) and rotation (degrees).
    """
    num = len(tip_x)
    frames = np.empty((num, IMAGE_SIZE_PX, IMAGE_SIZE_PX, 3), np.uint8)
    noise_bank = [
        rng.normal(0, noise_sigma, (IMAGE_SIZE_PX, IMAGE_SIZE_PX, 3)).astype(np.float32)
        for _ in range(4)
    ]
    noise_pos = [np.clip(n, 0, 255).astype(np.uint8) for n in noise_bank]
    noise_neg = [np.clip(-n, 0, 255).astype(np.uint8) for n in noise_bank]
    center = (IMAGE_SIZE_PX / 2, IMAGE_SIZE_PX / 2)
    for i in range(num):  # per-frame drawing; each step is one OpenCV call
        img = composite_with_offsets(scene, jiggle[i]) if i in jiggle else scene.composite.copy()
        draw_striker(img, scene, float(tip_x[i]), float(tip_y[i]), float(angle_deg[i]))
        if i in occluders:
            c, s, a, skin = occluders[i]
            draw_occluder(img, skin, c, s, a)
        img = cv2.transform(img, np.diag(light_gain[i]).astype(np.float32))
        if np.any(shake[i] != 0):
            m = cv2.getRotationMatrix2D(center, float(shake[i, 2]), 1.0)
            m[:, 2] += shake[i, :2]
            img = cv2.warpAffine(
                img,
                m,
                (IMAGE_SIZE_PX, IMAGE_SIZE_PX),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT101,
            )
        k = int(rng.integers(4))
        img = cv2.subtract(cv2.add(img, noise_pos[k]), noise_neg[k])
        frames[i] = img
    return frames


def shake_point(x: float, y: float, shake_row: np.ndarray) -> tuple[float, float]:
    """Where scene point (x, y) lands in the image under one frame's camera shake."""
    m = cv2.getRotationMatrix2D((IMAGE_SIZE_PX / 2, IMAGE_SIZE_PX / 2), float(shake_row[2]), 1.0)
    m[:, 2] += shake_row[:2]
    p = m @ np.array([x, y, 1.0])
    return float(p[0]), float(p[1])
