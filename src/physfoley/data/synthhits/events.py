"""Step 2 of a SynthHits video: when, where and how hard the striker meets the objects.

`plan_events` walks through the video drawing a stroke every 0.5-1.5 s: which object (often
the same as before), where on its top edge, hit or scratch, the speeds before and after
contact, a rattle or not, and how long the descent takes. Each `Event` is then filled in by
the later steps: its sound's physics (`info`), its back-swing, its speed bumps when masked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from physfoley.data.synthhits.materials import MATERIAL_TABLE
from physfoley.data.synthhits.modes import ObjectPhysics
from physfoley.data.synthhits.scene import ObjectSprite, Scene
from physfoley.data.synthhits.spec import IMAGE_SIZE_PX

FIRST_CONTACT_S = (0.35, 0.9)  # the first contact is drawn in this range
END_MARGIN_S = 0.3  # no contact in the video's last 0.3 s
STROKE_GAP_S = (0.5, 1.5)  # from one stroke's end to the next contact
NO_CONTACT_RETRY_S = 0.5  # an object with no reachable top edge: try again later
SAME_OBJECT_PROB = 0.55  # the next stroke strikes the same object again
SCRATCH_PROB = 0.15
SCRATCH_ROOM_S = 0.9  # a scratch needs this long before the end margin ...
SCRATCH_MIN_COLUMNS = 12  # ... and a top edge wider than this (px)
MIN_SCRATCH_S = 0.1  # a shorter scratch is struck as a hit instead
HIT_SPEED_M_S = (0.4, 3.0)  # log-uniform speed just before contact
REBOUND_JITTER = (0.8, 1.2)  # speed after = speed before x restitution x this
SCRATCH_APPROACH_M_S = (0.15, 0.4)  # a scratch's tip comes down slowly
DRAG_SPEED_M_S = (0.1, 0.4)
SCRATCH_S = (0.25, 0.6)  # shortened to the room left on the top edge
NORMAL_FORCE_N = (0.5, 3.0)
LIFT_M = (0.05, 0.15)  # height the descent starts from
DESCENT_MEAN_SPEED = 0.7  # mean descent speed / speed at contact (see stroke.DESCENT_SPEEDUP)
DESCENT_S = (0.06, 0.2)
LIFT_OFF_S = 0.16  # the rebound's rise
STRIKE_U = (0.02, 0.98)  # strike position along the object, off its very ends
EDGE_MARGIN_PX = 10  # no contact this close to the image's sides ...
MIN_TOP_Y_PX = 25  # ... or to its top
CONTACT_PERCENTILES = (8, 92)  # a wide top edge is struck away from its corners


@dataclass
class Event:
    """One striker contact, in scene pixels and SI units."""

    time_s: float
    object_id: int
    action: str  # hit | scratch
    reaction: str  # static | rattle
    x_px: float
    y_px: float
    u: float
    v: float
    speed_before_m_s: float
    speed_after_m_s: float
    t_down_s: float = 0.15
    t_up_s: float = LIFT_OFF_S
    scratch_s: float = 0.0
    drag_speed_m_s: float = 0.0
    drag_dir: int = 1
    normal_force_n: float = 0.0
    speed_bumps: int = 0
    info: dict = field(default_factory=dict)
    backswing: dict | None = None  # set by `stroke.tip_trajectory` when the stroke has one
    # the object's top edge, y (px) at x (px): the tip's path while scratching
    surface: Callable[[float], float] | None = None
    y_px_end: float = 0.0  # the tip's height where the stroke leaves the surface


def contact_columns(sprite: ObjectSprite) -> np.ndarray:
    """Image columns [K] where the striker may meet the object's top edge."""
    cols = np.nonzero(sprite.top_y >= 0)[0]
    inside = (cols > EDGE_MARGIN_PX) & (cols < IMAGE_SIZE_PX - EDGE_MARGIN_PX)
    cols = cols[inside & (sprite.top_y[cols] >= MIN_TOP_Y_PX)]
    if len(cols) > 8:
        lo, hi = np.percentile(cols, CONTACT_PERCENTILES)
        cols = cols[(cols >= lo) & (cols <= hi)]
    return cols


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def plan_events(
    rng: np.random.Generator,
    seconds: float,
    objects: list[ObjectPhysics],
    scene: Scene,
    mpp: float,
) -> list[Event]:
    """Step 2: the contacts of one video in time order (draws from `rng` in a fixed order).

    mpp : meters per pixel of the scene. Each event gets the object's top edge as its
    `surface` and the height where its stroke leaves it (`y_px_end`).
    """
    events: list[Event] = []
    t = float(rng.uniform(*FIRST_CONTACT_S))
    prev = None
    while t < seconds - END_MARGIN_S:
        again = prev is not None and rng.random() < SAME_OBJECT_PROB
        j = prev if again else int(rng.integers(len(objects)))
        obj, sp = objects[j], scene.sprites[j]
        mat = MATERIAL_TABLE[obj.material]
        cols = contact_columns(sp)
        if len(cols) == 0:
            t += NO_CONTACT_RETRY_S
            continue
        x = float(rng.choice(cols))
        y = float(sp.top_y[int(x)])
        u = float(np.clip((x - sp.x_left_phys) / max(sp.length_px, 1.0), *STRIKE_U))
        scratch = (
            rng.random() < SCRATCH_PROB
            and t + SCRATCH_ROOM_S < seconds - END_MARGIN_S
            and len(cols) > SCRATCH_MIN_COLUMNS
        )
        action = "scratch" if scratch else "hit"
        ev = Event(
            time_s=round(t, 6),
            object_id=j,
            action=action,
            reaction="static",
            x_px=x,
            y_px=y,
            u=u,
            v=float(rng.uniform(0, 1)),
            speed_before_m_s=0.0,
            speed_after_m_s=0.0,
        )
        if action == "hit":
            ev.speed_before_m_s = _log_uniform(rng, HIT_SPEED_M_S)
            ev.speed_after_m_s = float(
                ev.speed_before_m_s * obj.restitution * rng.uniform(*REBOUND_JITTER)
            )
            if rng.random() < mat.rattle_prob:
                ev.reaction = "rattle"
        else:
            ev.speed_before_m_s = float(rng.uniform(*SCRATCH_APPROACH_M_S))
            ev.speed_after_m_s = 0.0
            ev.drag_dir = 1 if (x - cols.min()) < (cols.max() - x) else -1
            room_px = (cols.max() - x) if ev.drag_dir > 0 else (x - cols.min())
            ev.drag_speed_m_s = float(rng.uniform(*DRAG_SPEED_M_S))
            ev.scratch_s = float(min(rng.uniform(*SCRATCH_S), room_px * mpp / ev.drag_speed_m_s))
            ev.normal_force_n = float(rng.uniform(*NORMAL_FORCE_N))
            if ev.scratch_s < MIN_SCRATCH_S:
                ev.action, ev.scratch_s = "hit", 0.0
                ev.speed_before_m_s = _log_uniform(rng, HIT_SPEED_M_S)
                ev.speed_after_m_s = float(ev.speed_before_m_s * obj.restitution)
        lift_m = rng.uniform(*LIFT_M)
        ev.t_down_s = float(
            np.clip(lift_m / (DESCENT_MEAN_SPEED * ev.speed_before_m_s), *DESCENT_S)
        )
        events.append(ev)
        prev = j
        t += ev.scratch_s + float(rng.uniform(*STROKE_GAP_S))
    for ev in events:  # the tip's path along the object's top while scratching
        ev.surface = _top_edge(scene.sprites[ev.object_id].top_y)
        ev.y_px_end = ev.surface(ev.x_px + ev.drag_dir * ev.drag_speed_m_s / mpp * ev.scratch_s)
    return events


def _top_edge(top: np.ndarray) -> Callable[[float], float]:
    def surface(x: float) -> float:
        c = int(np.clip(round(x), 0, IMAGE_SIZE_PX - 1))
        return float(top[c]) if top[c] >= 0 else float(top[top >= 0].min())

    return surface
