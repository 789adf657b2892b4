"""Pictures from the same physics: a tabletop scene, textured objects, a drumstick on its trajectory.

Everything is drawn with OpenCV on uint8 frames. The static scene (wall, table, clutter, the
objects with their material look and shadows) is drawn once per video; each frame then adds
the striker (a painted drumstick held by a hand) at its simulated position, an occasional
second hand passing in front, a slow lighting drift and colour cast, camera shake (sub-pixel
affine warp) and sensor noise. Geometry is in pixels of the un-shaken scene; the camera shake
of each frame is returned so ground truth can be given in image coordinates.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import cv2
import numpy as np

from physfoley.data.synthhits.materials import Material
from physfoley.data.synthhits.modes import ObjectPhysics

SIZE = 224
SKIN_RGB = ((224, 172, 140), (198, 134, 100), (150, 100, 70), (240, 200, 170), (110, 75, 55))
# Painted drumsticks: hues far from skin, wood and most object colours (see `_avoid_hue`).
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


@dataclass
class ObjectSprite:
    """One object as drawn: colour [H, W, 3] float32, alpha [H, W] float32, top edge per column."""

    color: np.ndarray
    alpha: np.ndarray
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (visible, inclusive-exclusive)
    top_y: np.ndarray  # [W] first covered row per column, -1 where the object is absent
    x_left_phys: float  # where the physical object starts (may lie outside its slot)
    length_px: float  # physical length in pixels
    look: dict = field(default_factory=dict)


@dataclass
class Scene:
    """Static part of a video and its nuisance parameters."""

    meters_per_pixel: float
    table_y: int
    background: np.ndarray  # [H, W, 3] uint8, without objects
    composite: np.ndarray  # [H, W, 3] uint8, with objects
    sprites: list[ObjectSprite]
    stick_rgb: tuple[int, int, int]
    stick_radius_px: float
    stick_length_px: float
    stick_angle_deg: float  # tilt from vertical; its sign follows the tip's side of pivot_x
    stick_pivot_x: float  # tip left of it: the hand is up-right; right of it: up-left
    skin_rgb: tuple[int, int, int]
    params: dict = field(default_factory=dict)


def _hue(rgb) -> tuple[float, float, float]:
    return colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))


def _avoid_hue(rgb, stick_rgb, rng: np.random.Generator):
    """Desaturate a colour whose hue is close to the stick's (keeps the stick identifiable)."""
    h, s, v = _hue(rgb)
    hs = _hue(stick_rgb)[0]
    d = min(abs(h - hs), 1 - abs(h - hs))
    if d < 0.15 and s > 0.2:
        s = float(rng.uniform(0.05, 0.15))
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h, s, v))


def _jitter_color(rgb, rng: np.random.Generator, amount: float = 0.12):
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


def _object_mask(obj: ObjectPhysics, rng, x0: int, width_px: int, y_base: int, mpp: float):
    """Polygon mask [H, W] uint8 and front-face mask of an object sitting on the table."""
    mask = np.zeros((SIZE, SIZE), np.uint8)
    front = np.zeros((SIZE, SIZE), np.uint8)
    x1 = x0 + width_px
    if obj.kind in ("bar", "plate"):
        thick = int(np.clip(obj.thickness_m / mpp * rng.uniform(1.5, 3.0), 2, 12))
        depth = int(np.clip(obj.width_m / mpp * 0.55, 3, 110))
        skew = int(depth * rng.uniform(0.2, 0.6))
        top = y_base - thick
        depth = min(depth, max(3, top - 30))
        skew = min(skew, depth)
        poly = np.array([[x0, top], [x1, top], [x1 + skew, top - depth], [x0 + skew, top - depth]])
        cv2.fillPoly(mask, [poly.astype(np.int32)], 255)
        cv2.rectangle(mask, (x0, top), (x1, y_base), 255, -1)
        cv2.rectangle(front, (x0, top), (x1, y_base), 255, -1)
    elif obj.kind == "shell":
        r = width_px / 2
        cx = x0 + r
        hgt = int(np.clip(obj.height_m / mpp, 12, y_base - 30))
        rim_h = max(3, int(r * rng.uniform(0.2, 0.35)))
        top = y_base - hgt
        style = rng.choice(["cup", "bowl", "bottle"]) if obj.height_m < 3 * r * mpp else "bottle"
        if style == "bowl":
            cv2.ellipse(mask, (int(cx), top), (int(r), hgt), 0, 0, 180, 255, -1)
        elif style == "bottle":
            neck = max(3, int(r * 0.35))
            body_top = top + int(hgt * 0.4)
            cv2.rectangle(mask, (int(cx - r), body_top), (int(cx + r), y_base), 255, -1)
            cv2.ellipse(mask, (int(cx), body_top), (int(r), int(hgt * 0.15)), 0, 180, 360, 255, -1)
            cv2.rectangle(mask, (int(cx - neck), top), (int(cx + neck), body_top), 255, -1)
            rim_h = max(2, int(neck * 0.5))
            r = neck
        else:
            taper = r * rng.uniform(0.0, 0.25)
            poly = np.array(
                [[cx - r, top], [cx + r, top], [cx + r - taper, y_base], [cx - r + taper, y_base]]
            )
            cv2.fillPoly(mask, [poly.astype(np.int32)], 255)
        cv2.ellipse(mask, (int(cx), top), (int(r), rim_h), 0, 0, 360, 255, -1)
        front[:] = mask
        cv2.ellipse(front, (int(cx), top), (int(r), rim_h), 0, 0, 360, 0, -1)
    elif obj.kind == "lump":
        r = width_px / 2
        cx = x0 + r
        hgt = int(np.clip(obj.height_m / mpp, 8, y_base - 30))
        ang = np.linspace(0, np.pi, 11)
        rad = rng.uniform(0.75, 1.1, len(ang))
        pts = np.stack([cx + r * rad * np.cos(ang), y_base - hgt * rad * np.sin(ang)], 1)
        cv2.fillPoly(mask, [pts.astype(np.int32)], 255)
        front[:] = mask
    else:  # soft: cloth heap, carpet patch, paper stack
        thick = int(np.clip(obj.thickness_m / mpp * 2, 2, 14))
        depth = int(np.clip(obj.width_m / mpp * 0.55, 4, 110))
        xs = np.linspace(x0, x1, 12)
        wav = rng.normal(0, 2.5 if obj.material == "cloth" else 0.6, len(xs))
        top = y_base - thick
        depth = min(depth, max(4, top - 30))
        poly = np.concatenate(
            [
                np.stack([xs, top - depth + wav], 1),
                np.stack([xs[::-1], np.full(len(xs), y_base)], 1),
            ]
        )
        cv2.fillPoly(mask, [poly.astype(np.int32)], 255)
        cv2.rectangle(front, (x0, top), (x1, y_base), 255, -1)
        front &= mask
    return mask, front


def build_scene(
    objects: list[ObjectPhysics],
    materials: list[Material],
    slots: list[tuple[int, int]],
    meters_per_pixel: float,
    rng: np.random.Generator,
    *,
    striker_mass_kg: float,
) -> Scene:
    """Draw the static scene and choose the striker's look. slots: (x0, x1) pixel range per object."""
    mpp = meters_per_pixel
    stick_rgb = _jitter_color(STICK_RGB[int(rng.integers(len(STICK_RGB)))], rng, 0.1)
    skin = _jitter_color(SKIN_RGB[int(rng.integers(len(SKIN_RGB)))], rng, 0.08)
    table_y = int(rng.integers(60, 120))
    # where things are hit: usually a setting that suits the first object (carpet on a floor,
    # rocks outdoors, mugs in a kitchen), sometimes any
    fitting = [k for k, v in SETTINGS.items() if materials[0].name in v["materials"]]
    names = list(SETTINGS)
    setting = str(rng.choice(fitting if fitting and rng.random() < 0.75 else names))
    st = SETTINGS[setting]
    wall_rgb = _avoid_hue(
        _jitter_color(st["walls"][int(rng.integers(len(st["walls"])))], rng, 0.15), stick_rgb, rng
    )
    table_rgb = _avoid_hue(
        _jitter_color(st["grounds"][int(rng.integers(len(st["grounds"])))], rng, 0.15),
        stick_rgb,
        rng,
    )
    bg = np.zeros((SIZE, SIZE, 3), np.float32)
    bg[:table_y] = texture(
        "matte" if rng.random() < 0.6 else "speckle", wall_rgb, table_y, SIZE, rng
    )
    tex = st["textures"][int(rng.integers(len(st["textures"])))]
    bg[table_y:] = texture(tex, table_rgb, SIZE - table_y, SIZE, rng)
    bg_u8 = np.ascontiguousarray(np.clip(bg, 0, 255).astype(np.uint8))
    # clutter behind the objects (boxes, books, cups, cables), out of focus
    for _ in range(int(rng.integers(3, 12))):
        c = tuple(int(x) for x in rng.integers(20, 235, 3))
        c = _avoid_hue(
            _jitter_color(
                tuple(int(0.5 * a + 0.5 * b) for a, b in zip(c, wall_rgb, strict=True))
                if rng.random() < 0.6
                else c,
                rng,
            ),
            stick_rgb,
            rng,
        )
        x, y = int(rng.integers(0, SIZE)), int(rng.integers(0, table_y + 10))
        kind = rng.integers(4)
        if kind == 0:
            w, h = int(rng.integers(10, 60)), int(rng.integers(10, 60))
            cv2.rectangle(bg_u8, (x, y), (x + w, min(y + h, table_y + 5)), c, -1)
        elif kind == 1:
            cv2.circle(bg_u8, (x, y), int(rng.integers(5, 25)), c, -1)
        elif kind == 2:
            x2, y2 = int(rng.integers(0, SIZE)), int(rng.integers(0, table_y))
            cv2.line(bg_u8, (x, y), (x2, y2), c, int(rng.integers(1, 4)), cv2.LINE_AA)
        else:
            w = int(rng.integers(15, 50))
            cv2.rectangle(bg_u8, (x, y), (x + w, y + 4), c, -1)
    cv2.line(bg_u8, (0, table_y), (SIZE, table_y), tuple(int(v * 0.7) for v in table_rgb), 1)
    k = int(rng.choice([1, 3, 5]))
    if k > 1:
        bg_u8 = cv2.GaussianBlur(bg_u8, (k, k), 0)
    background = bg_u8.copy()
    comp = bg_u8.astype(np.float32)
    sprites = []
    for obj, mat, (sx0, sx1) in zip(objects, materials, slots, strict=True):
        length_px = obj.length_m / mpp
        slot_w = sx1 - sx0
        width_px = int(min(length_px, slot_w))
        if width_px < length_px:  # runs out of its slot: we see only part of it
            x0 = sx0
            x_left_phys = sx0 - rng.uniform(0, length_px - width_px)
        else:
            x0 = int(sx0 + (slot_w - width_px) * rng.uniform(0.25, 0.75))
            x_left_phys = x0
        y_base = int(np.clip(table_y + rng.integers(40, 110), table_y + 8, SIZE - 4))
        mask, front = _object_mask(obj, rng, x0, max(width_px, 6), y_base, mpp)
        # shadow
        shadow = np.zeros((SIZE, SIZE), np.float32)
        cv2.ellipse(
            shadow,
            (x0 + width_px // 2 + int(rng.integers(-6, 7)), y_base),
            (width_px // 2 + 4, 5),
            0,
            0,
            360,
            1.0,
            -1,
        )
        shadow = cv2.GaussianBlur(shadow, (9, 9), 0) * rng.uniform(0.2, 0.45)
        comp *= 1 - shadow[..., None]
        rgb = _avoid_hue(
            _jitter_color(mat.colors[int(rng.integers(len(mat.colors)))], rng), stick_rgb, rng
        )
        color = texture(mat.texture, rgb, SIZE, SIZE, rng)
        color[front > 0] *= rng.uniform(0.7, 0.85)
        if mat.sheen > 0:
            ys, xs = np.nonzero(mask)
            if len(xs):
                hl = np.zeros((SIZE, SIZE), np.float32)
                cx, cy = int(rng.choice(xs)), int(np.percentile(ys, rng.uniform(10, 60)))
                cv2.ellipse(
                    hl,
                    (cx, cy),
                    (int(rng.integers(2, 8)), int(rng.integers(4, 20))),
                    float(rng.uniform(-30, 30)),
                    0,
                    360,
                    1.0,
                    -1,
                )
                hl = cv2.GaussianBlur(hl, (7, 7), 0)
                color += (hl * mat.sheen * rng.uniform(80, 170))[..., None]
        alpha = mask.astype(np.float32) / 255.0
        alpha = cv2.GaussianBlur(alpha, (3, 3), 0)
        if mat.transparency > 0:
            edge = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
            alpha = alpha * (1 - mat.transparency * rng.uniform(0.6, 1.0))
            alpha[edge] = np.maximum(alpha[edge], 0.85)
        color = np.clip(color, 0, 255)
        comp = comp * (1 - alpha[..., None]) + color * alpha[..., None]
        cover = mask > 127
        has = cover.any(axis=0)
        top_y = np.where(has, cover.argmax(axis=0), -1)
        ys, xs = np.nonzero(cover)
        bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        sprites.append(
            ObjectSprite(
                color=color,
                alpha=alpha,
                bbox=bbox,
                top_y=top_y,
                x_left_phys=float(x_left_phys),
                length_px=float(length_px),
                look={"rgb": list(rgb), "texture": mat.texture},
            )
        )
    composite = np.clip(comp, 0, 255).astype(np.uint8)
    radius = float(np.clip(0.0065 / mpp * (striker_mass_kg / 0.06) ** 0.25, 1.6, 5.0))
    return Scene(
        meters_per_pixel=mpp,
        table_y=table_y,
        background=background,
        composite=composite,
        sprites=sprites,
        stick_rgb=stick_rgb,
        stick_radius_px=radius,
        stick_length_px=float(np.clip(0.4 / mpp, 100, 170)),
        stick_angle_deg=float(rng.uniform(15, 50)),
        stick_pivot_x=float(rng.uniform(70, 154)),
        skin_rgb=skin,
        params={
            "setting": setting,
            "wall_rgb": list(wall_rgb),
            "table_rgb": list(table_rgb),
            "table_y": table_y,
            "blur": k,
        },
    )


def composite_with_offsets(scene: Scene, offsets: dict[int, tuple[int, int]]) -> np.ndarray:
    """The scene with some objects shifted by (dx, dy) pixels (rattling), uint8 [H, W, 3]."""
    comp = scene.background.astype(np.float32)
    for j, sp in enumerate(scene.sprites):
        color, alpha = sp.color, sp.alpha
        if j in offsets:
            dx, dy = offsets[j]
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            color = cv2.warpAffine(color, m, (SIZE, SIZE))
            alpha = cv2.warpAffine(alpha, m, (SIZE, SIZE))
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
        (int(cx + size * 0.6), SIZE + 40),
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
    frames = np.empty((num, SIZE, SIZE, 3), np.uint8)
    noise_bank = [rng.normal(0, noise_sigma, (SIZE, SIZE, 3)).astype(np.float32) for _ in range(4)]
    noise_pos = [np.clip(n, 0, 255).astype(np.uint8) for n in noise_bank]
    noise_neg = [np.clip(-n, 0, 255).astype(np.uint8) for n in noise_bank]
    center = (SIZE / 2, SIZE / 2)
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
                img, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
            )
        k = int(rng.integers(4))
        img = cv2.subtract(cv2.add(img, noise_pos[k]), noise_neg[k])
        frames[i] = img
    return frames


def shake_point(x: float, y: float, shake_row: np.ndarray) -> tuple[float, float]:
    """Where scene point (x, y) lands in the image under one frame's camera shake."""
    m = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), float(shake_row[2]), 1.0)
    m[:, 2] += shake_row[:2]
    p = m @ np.array([x, y, 1.0])
    return float(p[0]), float(p[1])
