"""The look of a SynthHits scene: settings (walls, grounds), palettes and material textures.

Used by `scene.draw_scene` (step 1 of `generate_video`) and by the picture step for the
colour of a passing hand. Colours are RGB 0-255; textures are float32 images (0-255) drawn
around a base colour with a random generator, so a seed gives the same pixels.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

SKIN_RGB = ((224, 172, 140), (198, 134, 100), (150, 100, 70), (240, 200, 170), (110, 75, 55))
# Painted drumsticks: hues far from skin, wood and most object colours (see `avoid_hue`).
STICK_RGB = ((40, 70, 200), (30, 150, 70), (120, 50, 170), (20, 150, 160))
# Settings: walls (or hedges, sky) and the surface things stand on, and the materials at home there.
SETTINGS = {
    "kitchen": {
        "walls": ((235, 232, 222), (210, 220, 225), (225, 215, 195), (200, 200, 200)),
        "grounds": ((225, 225, 220), (205, 200, 190), (130, 130, 128), (185, 145, 100)),
        "textures": ("matte", "smooth", "grain"),
        "materials": ("ceramic", "glass", "plastic", "metal"),
    },
    "workshop": {
        "walls": ((190, 190, 190), (150, 150, 155), (200, 180, 150), (120, 140, 160)),
        "grounds": ((150, 105, 65), (110, 80, 55), (95, 95, 100), (130, 130, 128)),
        "textures": ("grain", "speckle"),
        "materials": ("wood", "metal", "drywall", "plastic"),
    },
    "living room": {
        "walls": ((214, 205, 185), (175, 190, 165), (160, 175, 190), (235, 232, 222)),
        "grounds": ((150, 70, 60), (120, 100, 80), (90, 90, 120), (170, 160, 140)),
        "textures": ("fuzz", "grain"),
        "materials": ("cloth", "carpet", "paper", "drywall"),
    },
    "outdoors": {
        "walls": ((60, 95, 55), (150, 90, 75), (120, 150, 190), (90, 90, 95)),
        "grounds": ((80, 110, 50), (110, 90, 65), (130, 120, 105), (100, 100, 95)),
        "textures": ("speckle", "fuzz"),
        "materials": ("rock", "wood", "metal", "glass"),
    },
}


def _hue(rgb) -> tuple[float, float, float]:
    return colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))


def avoid_hue(rgb, stick_rgb, rng: np.random.Generator):
    """Desaturate a colour whose hue is close to the stick's (keeps the stick identifiable)."""
    h, s, v = _hue(rgb)
    hs = _hue(stick_rgb)[0]
    d = min(abs(h - hs), 1 - abs(h - hs))
    if d < 0.15 and s > 0.2:
        s = float(rng.uniform(0.05, 0.15))
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h, s, v))


def jitter_color(rgb, rng: np.random.Generator, amount: float = 0.12):
    """`rgb` with its brightness and each channel scaled at random by up to +-amount."""
    base = np.array(rgb, np.float32)
    scale = rng.uniform(1 - amount, 1 + amount) * rng.uniform(1 - amount / 2, 1 + amount / 2, 3)
    return tuple(int(x) for x in np.clip(base * scale, 0, 255))


def _blotches(h: int, w: int, rng: np.random.Generator, cells: int, amp: float) -> np.ndarray:
    small = rng.normal(0, 1, (cells, cells)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * amp


def texture(kind: str, rgb, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Material texture [h, w, 3] float32 (0-255) around base colour `rgb`."""
    base = np.array(rgb, np.float32)[None, None, :]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mod = 1.0 + _blotches(h, w, rng, 4, 0.04)
    add = np.zeros((h, w), np.float32)
    if kind == "grain":
        warp = _blotches(h, w, rng, 3, 6.0)
        period = rng.uniform(3, 8)
        mod = mod + 0.12 * np.sin(2 * np.pi * (yy + warp + 0.05 * xx) / period)
        add += rng.normal(0, 4, (h, w))
    elif kind == "brushed":
        streak = cv2.resize(rng.normal(0, 1, (h, max(w // 12, 2))).astype(np.float32), (w, h))
        mod = mod + 0.05 * streak + 0.12 * (xx / max(w, 1) - 0.5)
    elif kind == "speckle":
        mod = mod + _blotches(h, w, rng, 6, 0.1)
        add += rng.normal(0, 14, (h, w))
    elif kind == "weave":
        k = rng.uniform(1.2, 2.5)
        mod = mod + 0.06 * np.sin(xx * k) * np.sin(yy * k) + _blotches(h, w, rng, 5, 0.12)
    elif kind == "fuzz":
        add += cv2.GaussianBlur(rng.normal(0, 16, (h, w)).astype(np.float32), (3, 3), 0)
        mod = mod + _blotches(h, w, rng, 6, 0.06)
    elif kind == "sheet":
        spacing = rng.uniform(3, 9)
        mod = mod - 0.05 * (np.mod(yy, spacing) < 1.0) + _blotches(h, w, rng, 3, 0.03)
    elif kind == "matte":
        add += rng.normal(0, 3, (h, w))
    elif kind == "smooth":
        add += rng.normal(0, 1.5, (h, w))
    elif kind == "clear":
        mod = mod + 0.1 * (xx / max(w, 1))
    shade = 1.08 - 0.16 * yy / max(h, 1)  # lit from above
    img = base * (mod * shade)[..., None] + add[..., None]
    return np.clip(img, 0, 255).astype(np.float32)
