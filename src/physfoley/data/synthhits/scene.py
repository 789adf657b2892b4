"""Step 1 of a SynthHits video: the scene (scale, objects, striker) and its static picture.

`make_scene` draws, from the video's one generator, the scale (meters per pixel), 1-3
objects of different materials in slots side by side on a table, and the striker (a
drumstick: mass, tip, its own ring); `draw_scene` paints the static part of the picture
(wall, table, clutter, the objects with their material look and shadows) once per video.
The moving parts (the striker on its path, rattles, a passing hand, light, camera shake)
are added per frame by `picture` and `render`. Geometry is in pixels of the un-shaken scene.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from physfoley.data.synthhits import sound
from physfoley.data.synthhits.look import (
    SETTINGS,
    SKIN_RGB,
    STICK_RGB,
    avoid_hue,
    jitter_color,
    texture,
)
from physfoley.data.synthhits.materials import MATERIAL_TABLE, MATERIALS, Material
from physfoley.data.synthhits.modes import ObjectPhysics, sample_object
from physfoley.data.synthhits.spec import IMAGE_SIZE_PX

METERS_PER_PIXEL = (0.0011, 0.0021)  # the frame spans 0.25-0.47 m: a close-up
OBJECT_COUNTS = (1, 2, 3)
OBJECT_COUNT_PROBS = (0.65, 0.28, 0.07)
SLOT_MARGIN_PX = 6  # slots span the width less this at each side
SLOT_JITTER_PX = 8  # inner slot edges move by up to this
SLOT_GAP_PX = 3  # empty pixels at each side of a slot


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


def _object_mask(obj: ObjectPhysics, rng, x0: int, width_px: int, y_base: int, mpp: float):
    """Polygon mask [H, W] uint8 and front-face mask of an object sitting on the table."""
    mask = np.zeros((IMAGE_SIZE_PX, IMAGE_SIZE_PX), np.uint8)
    front = np.zeros((IMAGE_SIZE_PX, IMAGE_SIZE_PX), np.uint8)
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


def draw_scene(
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
    stick_rgb = jitter_color(STICK_RGB[int(rng.integers(len(STICK_RGB)))], rng, 0.1)
    skin = jitter_color(SKIN_RGB[int(rng.integers(len(SKIN_RGB)))], rng, 0.08)
    table_y = int(rng.integers(60, 120))
    # where things are hit: usually a setting that suits the first object (carpet on a floor,
    # rocks outdoors, mugs in a kitchen), sometimes any
    fitting = [k for k, v in SETTINGS.items() if materials[0].name in v["materials"]]
    names = list(SETTINGS)
    setting = str(rng.choice(fitting if fitting and rng.random() < 0.75 else names))
    st = SETTINGS[setting]
    wall_rgb = avoid_hue(
        jitter_color(st["walls"][int(rng.integers(len(st["walls"])))], rng, 0.15), stick_rgb, rng
    )
    table_rgb = avoid_hue(
        jitter_color(st["grounds"][int(rng.integers(len(st["grounds"])))], rng, 0.15),
        stick_rgb,
        rng,
    )
    bg = np.zeros((IMAGE_SIZE_PX, IMAGE_SIZE_PX, 3), np.float32)
    bg[:table_y] = texture(
        "matte" if rng.random() < 0.6 else "speckle", wall_rgb, table_y, IMAGE_SIZE_PX, rng
    )
    tex = st["textures"][int(rng.integers(len(st["textures"])))]
    bg[table_y:] = texture(tex, table_rgb, IMAGE_SIZE_PX - table_y, IMAGE_SIZE_PX, rng)
    bg_u8 = np.ascontiguousarray(np.clip(bg, 0, 255).astype(np.uint8))
    # clutter behind the objects (boxes, books, cups, cables), out of focus
    for _ in range(int(rng.integers(3, 12))):
        c = tuple(int(x) for x in rng.integers(20, 235, 3))
        c = avoid_hue(
            jitter_color(
                tuple(int(0.5 * a + 0.5 * b) for a, b in zip(c, wall_rgb, strict=True))
                if rng.random() < 0.6
                else c,
                rng,
            ),
            stick_rgb,
            rng,
        )
        x, y = int(rng.integers(0, IMAGE_SIZE_PX)), int(rng.integers(0, table_y + 10))
        kind = rng.integers(4)
        if kind == 0:
            w, h = int(rng.integers(10, 60)), int(rng.integers(10, 60))
            cv2.rectangle(bg_u8, (x, y), (x + w, min(y + h, table_y + 5)), c, -1)
        elif kind == 1:
            cv2.circle(bg_u8, (x, y), int(rng.integers(5, 25)), c, -1)
        elif kind == 2:
            x2, y2 = int(rng.integers(0, IMAGE_SIZE_PX)), int(rng.integers(0, table_y))
            cv2.line(bg_u8, (x, y), (x2, y2), c, int(rng.integers(1, 4)), cv2.LINE_AA)
        else:
            w = int(rng.integers(15, 50))
            cv2.rectangle(bg_u8, (x, y), (x + w, y + 4), c, -1)
    cv2.line(
        bg_u8, (0, table_y), (IMAGE_SIZE_PX, table_y), tuple(int(v * 0.7) for v in table_rgb), 1
    )
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
        y_base = int(np.clip(table_y + rng.integers(40, 110), table_y + 8, IMAGE_SIZE_PX - 4))
        mask, front = _object_mask(obj, rng, x0, max(width_px, 6), y_base, mpp)
        # shadow
        shadow = np.zeros((IMAGE_SIZE_PX, IMAGE_SIZE_PX), np.float32)
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
        rgb = avoid_hue(
            jitter_color(mat.colors[int(rng.integers(len(mat.colors)))], rng), stick_rgb, rng
        )
        color = texture(mat.texture, rgb, IMAGE_SIZE_PX, IMAGE_SIZE_PX, rng)
        color[front > 0] *= rng.uniform(0.7, 0.85)
        if mat.sheen > 0:
            ys, xs = np.nonzero(mask)
            if len(xs):
                hl = np.zeros((IMAGE_SIZE_PX, IMAGE_SIZE_PX), np.float32)
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
        stick_length_px=float(np.clip(sound.STICK_LENGTH_M / mpp, 100, 170)),
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


@dataclass
class Stage:
    """Step 1's result: what is in the video and how it looks before anything moves."""

    meters_per_pixel: float
    objects: list[ObjectPhysics]
    striker: sound.Striker
    scene: Scene


def layout_slots(rng: np.random.Generator, n_obj: int) -> list[tuple[int, int]]:
    """(x0, x1) pixel range per object, side by side across the image; inner edges jittered."""
    edges = np.linspace(SLOT_MARGIN_PX, IMAGE_SIZE_PX - SLOT_MARGIN_PX, n_obj + 1)
    inner = np.arange(n_obj + 1) % n_obj != 0
    jitter = rng.uniform(-SLOT_JITTER_PX, SLOT_JITTER_PX, n_obj + 1) * inner
    edges = edges + jitter
    return [(int(edges[i]) + SLOT_GAP_PX, int(edges[i + 1]) - SLOT_GAP_PX) for i in range(n_obj)]


def make_scene(
    rng: np.random.Generator,
    *,
    materials: Sequence[str] | None = None,
    primary_material: str | None = None,
) -> Stage:
    """Step 1: scale, objects (materials drawn unless given), slots, striker, static picture.

    materials : 1-3 names of `MATERIALS`, or None to draw 1-3 different ones (the first
        `primary_material` when that is given). Draws from `rng` in a fixed order.
    """
    mpp = float(rng.uniform(*METERS_PER_PIXEL))
    if materials is None:
        n_obj = int(rng.choice(OBJECT_COUNTS, p=OBJECT_COUNT_PROBS))
        mats = [MATERIALS[i] for i in rng.choice(len(MATERIALS), n_obj, replace=False)]
        if primary_material is not None:
            others = [m for m in MATERIALS if m != primary_material]
            picks = rng.choice(len(others), n_obj - 1, replace=False)
            mats = [primary_material] + [others[i] for i in picks]
    else:
        n_obj, mats = len(materials), list(materials)
    slots = layout_slots(rng, n_obj)
    objects = [
        sample_object(MATERIAL_TABLE[m], rng, max_length_m=(s1 - s0) * mpp)
        for m, (s0, s1) in zip(mats, slots, strict=True)
    ]
    striker = sound.sample_striker(rng)
    scene = draw_scene(
        objects,
        [MATERIAL_TABLE[m] for m in mats],
        slots,
        mpp,
        rng,
        striker_mass_kg=striker.mass_kg,
    )
    return Stage(meters_per_pixel=mpp, objects=objects, striker=striker, scene=scene)
