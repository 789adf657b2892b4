"""The striker's path in a SynthHits video (part of step 4, the picture): tip x, y per frame.

Each stroke descends onto its contact point at its contact time, speeding up to
`speed_before` (or drags along the top edge, for a scratch), then rebounds decelerating from
`speed_after`; between strokes the tip glides, arcing up. A hit may get a back-swing: the tip
rises fast and stops at once at the descent's start, which impact detectors must not take
for a tap. The path draws nothing from the video's generator (back-swings have their own).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from physfoley.data.synthhits import render
from physfoley.data.synthhits.events import DESCENT_MEAN_SPEED, Event
from physfoley.data.synthhits.spec import FPS

DESCENT_SPEEDUP = 0.6  # over its descent the tip gains 60% of its speed at contact
TOP_MARGIN_PX = 4  # a descent starts at least this far below the image's top ...
MIN_DESCENT_S = 0.02  # ... shortened to no less than this
SCRATCH_LIFT_M_S = 0.6  # after a scratch the tip lifts off at this speed x SCRATCH_LIFT_SCALE
SCRATCH_LIFT_SCALE = 0.16
GLIDE_ARC_PX = 25.0  # between strokes the tip arcs up by this at mid-way
BACKSWING_DRAWS = 4  # uniforms drawn per event from the back-swing generator, used or not
BACKSWING_MAX_PAUSE_FRAMES = 2  # held at the top for 0, 1 or 2 frames
BACKSWING_SPEED = (0.4, 0.6)  # rise speed at the top / descent speed: 0.4 + 0.6 x uniform
BACKSWING_RISE_S = (0.1, 0.1)  # rise duration: 0.1 + 0.1 x uniform
BACKSWING_CLEARANCE_PX = 6.0  # the rise starts this far above the contact; the top stays
#                               this far below the image's top edge
BACKSWING_MIN_RISE_FRAMES = 2
BACKSWING_GLIDE_S = 0.05  # at least this long between the previous stroke and the rise


def plan_backswing(
    ev: Event,
    draws: np.ndarray,
    vb: float,
    td: float,
    h0: float,
    prev_end_s: float,
    mpp: float,
    shake: np.ndarray | None,
    fps: float,
    y_from: float,
) -> dict | None:
    """Back-swing before hit `ev` (descent from height h0 px over td s), or None if none fits.

    draws : 4 uniforms from the back-swing generator (always 4 per event, used or not).
    The tip rises straight up to the descent's start point (x, y - h0), accelerating (y ~ w^2)
    to `rise_speed` = 0.4-1.0 x vb at the top, where it stops at once (the top is a frame
    time), holds 0/1/2 frames, then the unchanged descent begins. The rise lasts 0.1-0.2 s,
    shortened so that it starts at least 6 px above the contact, and so that it starts no
    lower than where the tip glides in from (`y_from`, the previous stroke's end or the rest
    point: a glide down into the rise would be a downward stop and turn in mid-air, which
    looks like a light tap); none when that leaves fewer than 2 frames of rise, when it would
    start before the previous stroke's rise has ended (plus 50 ms of glide), or when the top
    would lie within 6 px of the image's top edge under the camera shake (shake : [T, 3] or
    None).
    """
    pause = min(int(draws[1] * (BACKSWING_MAX_PAUSE_FRAMES + 1)), BACKSWING_MAX_PAUSE_FRAMES)
    v_rise = float((BACKSWING_SPEED[0] + BACKSWING_SPEED[1] * draws[2]) * vb)  # px/s at the top
    rise_s = float(BACKSWING_RISE_S[0] + BACKSWING_RISE_S[1] * draws[3])
    t0 = ev.time_s - td
    top_frame = int(np.floor(t0 * fps + 1e-9)) - pause
    t_top = top_frame / fps
    room = h0 - BACKSWING_CLEARANCE_PX  # the rise starts at least 6 px above the contact
    dist = 0.5 * v_rise * rise_s  # y ~ w^2: end speed = 2 dist / duration
    if dist > room:
        rise_s, dist = 2 * room / v_rise, room
    y_top = ev.y_px - h0
    if y_top + dist > y_from:  # the rise would start below the tip's glide: start it there
        dist = max(y_from - y_top, 0.0)
        rise_s = 2 * dist / v_rise
    if (
        rise_s < BACKSWING_MIN_RISE_FRAMES / fps
        or top_frame < 0
        or t_top - rise_s < prev_end_s + BACKSWING_GLIDE_S
    ):
        return None
    if shake is not None:
        for f in range(top_frame, min(top_frame + pause + 1, len(shake))):
            if render.shake_point(ev.x_px, y_top, shake[f])[1] < BACKSWING_CLEARANCE_PX:
                return None
    elif y_top < BACKSWING_CLEARANCE_PX:
        return None
    return {
        "top_frame": top_frame,
        "pause_frames": pause,
        "rise_speed_m_s": v_rise * mpp,
        "rise_s": rise_s,
        "t_top": t_top,
        "y_top": y_top,
        "dist_px": dist,
    }


class _Span(NamedTuple):
    """One stroke in time: from its descent's (or back-swing's) start to its rebound's end."""

    t_start: float
    t_end: float
    p_start: tuple[float, float]
    p_end: tuple[float, float]
    event: Event
    a_down: float  # px/s^2, the descent's deceleration-free speed-up
    rise: float  # px/s, the rebound's starting speed


def tip_trajectory(
    events: list[Event],
    times: np.ndarray,
    mpp: float,
    rest: tuple[float, float],
    *,
    backswing_prob: float = 0.0,
    backswing_rng: np.random.Generator | None = None,
    shake: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Tip x, y (scene px) at each frame time, np.ndarray[T] each. Descent at constant
    acceleration (speed rises to speed_before at contact), rebound decelerating from
    speed_after; `rest` is where the tip waits before the first stroke when there is none.

    times : [T] frame times (s); mpp : meters per pixel; shake : [T, 3] camera shake or None.
    With backswing_rng, each hit (not scratch) gets with probability backswing_prob a
    back-swing before its descent (`plan_backswing`; stored in `ev.backswing`); the
    generator gives 4 draws per event whatever happens, and nothing else changes.
    May shorten an event's `t_down_s` so that its descent starts inside the image.
    """
    spans: list[_Span] = []
    for ev in events:
        spans.append(_plan_span(ev, spans, mpp, rest, backswing_prob, backswing_rng, shake))
    xs = np.empty(len(times))
    ys = np.empty(len(times))
    for i, t in enumerate(times):
        span = next((s for s in spans if s.t_start <= t < s.t_end), None)
        if span is not None:
            xs[i], ys[i] = _stroke_point(span, t, mpp)
        else:
            xs[i], ys[i] = _glide_point(spans, t, rest)
    return xs, ys


def _plan_span(
    ev: Event,
    spans: list[_Span],
    mpp: float,
    rest: tuple[float, float],
    backswing_prob: float,
    backswing_rng: np.random.Generator | None,
    shake: np.ndarray | None,
) -> _Span:
    """The stroke of `ev` after the strokes `spans`; shortens its descent to fit the image."""
    fps = float(FPS)
    vb, va = ev.speed_before_m_s / mpp, ev.speed_after_m_s / mpp  # px/s
    td, tu = ev.t_down_s, ev.t_up_s
    a_down = DESCENT_SPEEDUP * vb / td
    h0 = vb * td - 0.5 * a_down * td**2
    if h0 > ev.y_px - TOP_MARGIN_PX:  # would start above the frame's top: shorten the descent
        td = float(
            np.clip((ev.y_px - TOP_MARGIN_PX) / (DESCENT_MEAN_SPEED * vb), MIN_DESCENT_S, td)
        )
        ev.t_down_s = td
        a_down = DESCENT_SPEEDUP * vb / td
        h0 = vb * td - 0.5 * a_down * td**2
    x_end = ev.x_px + ev.drag_dir * ev.drag_speed_m_s / mpp * ev.scratch_s
    rise = SCRATCH_LIFT_M_S / mpp * SCRATCH_LIFT_SCALE if ev.action == "scratch" else va
    h1 = rise * tu - 0.5 * (rise / tu) * tu**2
    t_start, p_start = ev.time_s - td, (ev.x_px, ev.y_px - h0)
    ev.backswing = None
    if backswing_rng is not None:
        draws = backswing_rng.random(BACKSWING_DRAWS)
        if ev.action == "hit" and draws[0] < backswing_prob:
            prev_end = spans[-1].t_end if spans else 0.0
            y_from = spans[-1].p_end[1] if spans else rest[1]
            ev.backswing = plan_backswing(ev, draws, vb, td, h0, prev_end, mpp, shake, fps, y_from)
        if ev.backswing is not None:
            bs = ev.backswing
            t_start = bs["t_top"] - bs["rise_s"]
            p_start = (ev.x_px, ev.y_px - h0 + bs["dist_px"])
    return _Span(
        t_start=t_start,
        t_end=ev.time_s + ev.scratch_s + tu,
        p_start=p_start,
        p_end=(x_end, ev.y_px_end - h1),
        event=ev,
        a_down=a_down,
        rise=rise,
    )


def _stroke_point(span: _Span, t: float, mpp: float) -> tuple[float, float]:
    """The tip at time t inside its stroke: back-swing, descent, scratch or rebound."""
    ev, a_down, rise = span.event, span.a_down, span.rise
    vb = ev.speed_before_m_s / mpp
    bs = ev.backswing
    if bs is not None and t < ev.time_s - ev.t_down_s:  # rise, then hold at top
        w = min((t - (bs["t_top"] - bs["rise_s"])) / bs["rise_s"], 1.0)
        return ev.x_px, bs["y_top"] + bs["dist_px"] * (1 - w * w)
    if t < ev.time_s:
        dt = ev.time_s - t
        return ev.x_px, ev.y_px - (vb * dt - 0.5 * a_down * dt * dt)
    if t < ev.time_s + ev.scratch_s:
        dt = t - ev.time_s
        x = ev.x_px + ev.drag_dir * ev.drag_speed_m_s / mpp * dt
        return x, ev.surface(x)
    dt = t - ev.time_s - ev.scratch_s
    xe = ev.x_px + ev.drag_dir * ev.drag_speed_m_s / mpp * ev.scratch_s
    return xe, ev.y_px_end - (rise * dt - 0.5 * (rise / ev.t_up_s) * dt * dt)


def _glide_point(spans: list[_Span], t: float, rest: tuple[float, float]) -> tuple[float, float]:
    """The tip at time t between strokes: a smooth glide from one stroke's end to the next's
    start, arcing up on its way, except into a back-swing, which rises by itself (an arc that
    comes down into the rise would turn downward motion around in mid-air)."""
    prev_span = next((s for s in reversed(spans) if s.t_end <= t), None)
    next_span = next((s for s in spans if s.t_start > t), None)
    p0 = prev_span.p_end if prev_span else (next_span.p_start if next_span else rest)
    p1 = next_span.p_start if next_span else p0
    ta = prev_span.t_end if prev_span else 0.0
    tb = next_span.t_start if next_span else t + 1
    w = np.clip((t - ta) / max(tb - ta, 1e-6), 0, 1)
    w = w * w * (3 - 2 * w)  # smoothstep
    arc = prev_span and next_span and next_span.event.backswing is None
    lift = GLIDE_ARC_PX * np.sin(np.pi * w) if arc else 0.0
    return p0[0] + (p1[0] - p0[0]) * w, p0[1] + (p1[1] - p0[1]) * w - lift
