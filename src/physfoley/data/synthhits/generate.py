"""One SynthHits video -> Greatest Hits layout files; a whole dataset in parallel, per-seed deterministic.

Order of work for one video (one random generator, drawn from in a fixed order):
1. scene: scale (meters per pixel), 1-3 objects of different materials in slots on a table;
2. events: every 0.5-1.5 s the striker hits (or scratches) one object at a point on its top
   edge with a speed; rattles are chosen per hit;
3. sound: each event's dry sound from its physics; a hit masked by the ringing of earlier ones
   is struck harder (up to 3 times, then dropped) so every annotated hit is audible; then room
   reverberation, background noise at a drawn SNR, one gain;
4. picture: the striker's tip follows a trajectory through each contact point at its contact
   time (descent at speed_before, rebound at speed_after), frames drawn by `render`;
5. files: NAME_denoised.wav, NAME_times.txt, NAME_denoised.mp4, NAME_physics.json (last: its
   presence marks a finished video).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from physfoley.atomic import write_text_atomic
from physfoley.audio.io import write_audio
from physfoley.data.synthhits import render, sound
from physfoley.data.synthhits.materials import MATERIAL_TABLE, MATERIALS
from physfoley.data.synthhits.modes import ObjectPhysics, sample_object
from physfoley.errors import InputError
from physfoley.video.encode import NTSC_FPS, write_video

FORMAT_VERSION = 1
SAMPLE_RATE = 44100
FPS = NTSC_FPS
GRAVITY_M_S2 = 9.81


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
    t_up_s: float = 0.16
    scratch_s: float = 0.0
    drag_speed_m_s: float = 0.0
    drag_dir: int = 1
    normal_force_n: float = 0.0
    speed_bumps: int = 0
    info: dict = field(default_factory=dict)
    backswing: dict | None = None  # set by _tip_trajectory when the stroke has a back-swing


def video_name(seed: int, index: int) -> str:
    """File stem of video `index` of the dataset made with `seed`."""
    return f"synth_s{seed}_{index:05d}"


def _layout(rng: np.random.Generator, n_obj: int) -> list[tuple[int, int]]:
    edges = np.linspace(6, render.SIZE - 6, n_obj + 1)
    jitter = rng.uniform(-8, 8, n_obj + 1) * (np.arange(n_obj + 1) % n_obj != 0)
    edges = edges + jitter
    return [(int(edges[i]) + 3, int(edges[i + 1]) - 3) for i in range(n_obj)]


def _contact_columns(sprite: render.ObjectSprite) -> np.ndarray:
    cols = np.nonzero(sprite.top_y >= 0)[0]
    cols = cols[(cols > 10) & (cols < render.SIZE - 10) & (sprite.top_y[cols] >= 25)]
    if len(cols) > 8:
        lo, hi = np.percentile(cols, [8, 92])
        cols = cols[(cols >= lo) & (cols <= hi)]
    return cols


def _plan_events(rng, seconds, objects, scene, mpp) -> list[Event]:
    events: list[Event] = []
    t = float(rng.uniform(0.35, 0.9))
    prev = None
    while t < seconds - 0.3:
        j = prev if (prev is not None and rng.random() < 0.55) else int(rng.integers(len(objects)))
        obj, sp = objects[j], scene.sprites[j]
        mat = MATERIAL_TABLE[obj.material]
        cols = _contact_columns(sp)
        if len(cols) == 0:
            t += 0.5
            continue
        x = float(rng.choice(cols))
        y = float(sp.top_y[int(x)])
        u = float(np.clip((x - sp.x_left_phys) / max(sp.length_px, 1.0), 0.02, 0.98))
        action = (
            "scratch"
            if (rng.random() < 0.15 and t + 0.9 < seconds - 0.3 and len(cols) > 12)
            else "hit"
        )
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
            ev.speed_before_m_s = float(np.exp(rng.uniform(np.log(0.4), np.log(3.0))))
            ev.speed_after_m_s = float(
                ev.speed_before_m_s * obj.restitution * rng.uniform(0.8, 1.2)
            )
            if rng.random() < mat.rattle_prob:
                ev.reaction = "rattle"
        else:
            ev.speed_before_m_s = float(rng.uniform(0.15, 0.4))
            ev.speed_after_m_s = 0.0
            ev.drag_dir = 1 if (x - cols.min()) < (cols.max() - x) else -1
            room_px = (cols.max() - x) if ev.drag_dir > 0 else (x - cols.min())
            ev.drag_speed_m_s = float(rng.uniform(0.1, 0.4))
            ev.scratch_s = float(min(rng.uniform(0.25, 0.6), room_px * mpp / ev.drag_speed_m_s))
            ev.normal_force_n = float(rng.uniform(0.5, 3.0))
            if ev.scratch_s < 0.1:
                ev.action, ev.scratch_s = "hit", 0.0
                ev.speed_before_m_s = float(np.exp(rng.uniform(np.log(0.4), np.log(3.0))))
                ev.speed_after_m_s = float(ev.speed_before_m_s * obj.restitution)
        lift_m = rng.uniform(0.05, 0.15)
        ev.t_down_s = float(np.clip(lift_m / (0.7 * ev.speed_before_m_s), 0.06, 0.2))
        events.append(ev)
        prev = j
        t += ev.scratch_s + float(rng.uniform(0.5, 1.5))
    return events


def _event_audio(ev: Event, obj: ObjectPhysics, striker: dict, rng, sr: int) -> np.ndarray:
    dry, info = sound.strike(
        obj,
        u=ev.u,
        v=ev.v,
        striker_mass_kg=striker["mass_kg"],
        tip_radius_m=striker["tip_radius_m"],
        speed_before_m_s=ev.speed_before_m_s,
        speed_after_m_s=ev.speed_after_m_s,
        sample_rate=sr,
        striker_ring=striker["ring"],
        click_level=striker["click_level"],
    )
    ev.info = info
    if ev.action == "scratch":
        scr = sound.scratch(
            obj,
            rng,
            u=ev.u,
            v=ev.v,
            duration_s=ev.scratch_s,
            drag_speed_m_s=ev.drag_speed_m_s,
            normal_force_n=ev.normal_force_n,
            sample_rate=sr,
        )
        n = max(len(dry), len(scr))
        dry = np.pad(dry, (0, n - len(dry))) + np.pad(scr, (0, n - len(scr)))
    if ev.reaction == "rattle":
        rat, rinfo = sound.rattle(obj, rng, strength=float(np.abs(dry).max()), sample_rate=sr)
        ev.info["rattle"] = rinfo
        n = max(len(dry), len(rat))
        dry = np.pad(dry, (0, n - len(dry))) + np.pad(rat, (0, n - len(rat)))
    return dry


def _emphasis(x: np.ndarray) -> np.ndarray:
    """First difference: what onset detectors listen to (high frequencies weigh more)."""
    return np.diff(x, prepend=x[:1]) if len(x) else x


def _render_audio(events, objects, striker, rng, seconds, sr, noise, snr_db):
    """Place every event's dry sound over the background noise; strike masked hits harder.

    noise : np.ndarray[N] unit-RMS background; it is scaled so that, pre-emphasised, it lies
    `snr_db` below the median hit level (pre-emphasised RMS of the first 50 ms). A hit whose first 30 ms (pre-emphasised) is not 8 dB
    above the ringing of earlier hits plus noise is struck 1.6x faster (at most 3 times),
    then dropped. Returns the dry mix (without noise), the pieces, and the noise RMS.
    """
    n = int(round(seconds * sr))
    pieces = [_event_audio(ev, objects[ev.object_id], striker, rng, sr) for ev in events]
    win = int(0.03 * sr)
    noise_em = _emphasis(noise)
    noise_em_rms = max(float(np.sqrt(np.mean(noise_em**2))), 1e-12)
    noise_rms = 0.0
    while True:  # ends: each hit is bumped at most 3 times, then dropped
        dry = np.zeros(n + sr * 4, np.float32)
        starts = [int(round(ev.time_s * sr)) for ev in events]
        for s, p in zip(starts, pieces, strict=True):
            dry[s : s + len(p)] += p
        # SNR as an onset detector hears it: pre-emphasised hit (first 50 ms) over noise
        levels = [float(np.sqrt(np.mean(_emphasis(p[: int(0.05 * sr)]) ** 2))) for p in pieces]
        noise_rms = (
            float(np.median(levels)) / noise_em_rms * 10 ** (-snr_db / 20) if levels else 0.0
        )
        masked = []
        for k, (s, p) in enumerate(zip(starts, pieces, strict=True)):
            own_sig = _emphasis(p[:win])
            rest = dry[s : s + win] - np.pad(p[:win], (0, max(0, win - len(p))))
            rest = _emphasis(rest) + noise_em[s : s + win][: len(rest)] * noise_rms
            own = float(np.sqrt(np.mean(own_sig**2)))
            other = float(np.sqrt(np.mean(rest**2)))
            if own < 2.5 * other:
                masked.append(k)
        if not masked:
            break
        for k in reversed(masked):
            ev = events[k]
            if ev.speed_bumps >= 3 or ev.action == "scratch":
                del events[k], pieces[k]
                continue
            ev.speed_bumps += 1
            ev.speed_before_m_s = min(ev.speed_before_m_s * 1.6, 6.0)
            ev.speed_after_m_s = min(ev.speed_after_m_s * 1.6, 6.0)
            pieces[k] = _event_audio(ev, objects[ev.object_id], striker, rng, sr)
    return dry[:n], pieces, noise_rms


def _plan_backswing(ev, draws, vb, td, h0, prev_end_s, mpp, shake, fps, y_from) -> dict | None:
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
    pause = min(int(draws[1] * 3), 2)
    v_rise = float((0.4 + 0.6 * draws[2]) * vb)  # px/s at the top
    rise_s = float(0.1 + 0.1 * draws[3])
    t0 = ev.time_s - td
    top_frame = int(np.floor(t0 * fps + 1e-9)) - pause
    t_top = top_frame / fps
    room = h0 - 6.0  # the rise starts at least 6 px above the contact
    dist = 0.5 * v_rise * rise_s  # y ~ w^2: end speed = 2 dist / duration
    if dist > room:
        rise_s, dist = 2 * room / v_rise, room
    y_top = ev.y_px - h0
    if y_top + dist > y_from:  # the rise would start below the tip's glide: start it there
        dist = max(y_from - y_top, 0.0)
        rise_s = 2 * dist / v_rise
    if rise_s < 2 / fps or top_frame < 0 or t_top - rise_s < prev_end_s + 0.05:
        return None
    if shake is not None:
        for f in range(top_frame, min(top_frame + pause + 1, len(shake))):
            if render.shake_point(ev.x_px, y_top, shake[f])[1] < 6.0:
                return None
    elif y_top < 6.0:
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


def _tip_trajectory(
    events: list[Event],
    times: np.ndarray,
    mpp: float,
    rest: tuple[float, float],
    *,
    backswing_prob: float = 0.0,
    backswing_rng: np.random.Generator | None = None,
    shake: np.ndarray | None = None,
):
    """Tip x, y (scene px) at each frame time. Descent at constant deceleration-free approach
    (speed rises to speed_before at contact), rebound decelerating from speed_after.

    With backswing_rng, each hit (not scratch) gets with probability backswing_prob a
    back-swing before its descent (`_plan_backswing`; stored in `ev.backswing`); the
    generator gives 4 draws per event whatever happens, and nothing else changes."""
    xs = np.empty(len(times))
    ys = np.empty(len(times))
    spans = []  # (t_start, t_end, start_point, end_point, event)
    fps = float(FPS)
    for ev in events:
        vb, va = ev.speed_before_m_s / mpp, ev.speed_after_m_s / mpp  # px/s
        td, tu = ev.t_down_s, ev.t_up_s
        a_down = 0.6 * vb / td
        h0 = vb * td - 0.5 * a_down * td**2
        if h0 > ev.y_px - 4:  # would start above the frame's top: shorten the descent
            td = float(np.clip((ev.y_px - 4) / (0.7 * vb), 0.02, td))
            ev.t_down_s = td
            a_down = 0.6 * vb / td
            h0 = vb * td - 0.5 * a_down * td**2
        x_end = ev.x_px + ev.drag_dir * ev.drag_speed_m_s / mpp * ev.scratch_s
        rise = 0.6 / mpp * 0.16 if ev.action == "scratch" else va
        h1 = rise * tu - 0.5 * (rise / tu) * tu**2
        t_start, p_start = ev.time_s - td, (ev.x_px, ev.y_px - h0)
        ev.backswing = None
        if backswing_rng is not None:
            draws = backswing_rng.random(4)
            if ev.action == "hit" and draws[0] < backswing_prob:
                prev_end = spans[-1][1] if spans else 0.0
                y_from = spans[-1][3][1] if spans else rest[1]
                ev.backswing = _plan_backswing(
                    ev, draws, vb, td, h0, prev_end, mpp, shake, fps, y_from
                )
            if ev.backswing is not None:
                bs = ev.backswing
                t_start = bs["t_top"] - bs["rise_s"]
                p_start = (ev.x_px, ev.y_px - h0 + bs["dist_px"])
        spans.append(
            (
                t_start,
                ev.time_s + ev.scratch_s + tu,
                p_start,
                (x_end, ev.y_px_end - h1),
                ev,
                a_down,
                rise,
            )
        )
    for i, t in enumerate(times):
        done = False
        for t0, t1, _p0, _p1, ev, a_down, rise in spans:
            if t0 <= t < t1:
                vb = ev.speed_before_m_s / mpp
                bs = ev.backswing
                if bs is not None and t < ev.time_s - ev.t_down_s:  # rise, then hold at top
                    w = min((t - (bs["t_top"] - bs["rise_s"])) / bs["rise_s"], 1.0)
                    xs[i], ys[i] = ev.x_px, bs["y_top"] + bs["dist_px"] * (1 - w * w)
                elif t < ev.time_s:
                    dt = ev.time_s - t
                    xs[i], ys[i] = ev.x_px, ev.y_px - (vb * dt - 0.5 * a_down * dt * dt)
                elif t < ev.time_s + ev.scratch_s:
                    dt = t - ev.time_s
                    x = ev.x_px + ev.drag_dir * ev.drag_speed_m_s / mpp * dt
                    xs[i], ys[i] = x, ev.surface(x)
                else:
                    dt = t - ev.time_s - ev.scratch_s
                    xe = ev.x_px + ev.drag_dir * ev.drag_speed_m_s / mpp * ev.scratch_s
                    xs[i], ys[i] = (
                        xe,
                        ev.y_px_end - (rise * dt - 0.5 * (rise / ev.t_up_s) * dt * dt),
                    )
                done = True
                break
        if done:
            continue
        prev_span = next((s for s in reversed(spans) if s[1] <= t), None)
        next_span = next((s for s in spans if s[0] > t), None)
        p0 = prev_span[3] if prev_span else (next_span[2] if next_span else rest)
        p1 = next_span[2] if next_span else p0
        ta = prev_span[1] if prev_span else 0.0
        tb = next_span[0] if next_span else t + 1
        w = np.clip((t - ta) / max(tb - ta, 1e-6), 0, 1)
        w = w * w * (3 - 2 * w)
        # the glide arcs up on its way, except into a back-swing, which rises by itself (an
        # arc that comes down into the rise would turn downward motion around in mid-air)
        arc = prev_span and next_span and next_span[4].backswing is None
        lift = 25.0 * np.sin(np.pi * w) if arc else 0.0
        xs[i] = p0[0] + (p1[0] - p0[0]) * w
        ys[i] = p0[1] + (p1[1] - p0[1]) * w - lift
    return xs, ys


def generate_video(
    out_dir: str | os.PathLike,
    name: str,
    seed: int | Sequence[int],
    seconds: float = 10.0,
    *,
    force: bool = False,
    mp4_audio: bool = True,
    preset: str = "ultrafast",
    materials: Sequence[str] | None = None,
    primary_material: str | None = None,
    backswing_prob: float = 0.0,
) -> dict:
    """Write one SynthHits video in the Greatest Hits layout and return its physics record.

    materials : the objects' materials (1-3 names of `MATERIALS`); drawn at random when None.
    primary_material : when materials is None, the first object's material (the others and
        their number stay random); datasets use it to balance the classes.
    mp4_audio : also put the soundtrack in the mp4 (AAC), as the real dataset's files have.
    backswing_prob : probability (0-1) that a hit's descent is preceded by a back-swing (the
        tip rises fast, stops at once at the descent's start, holds 0-2 frames); drawn from a
        generator of its own, so the sound and every other draw are those of backswing_prob=0
        and only the picture changes. Hits that got one have a `backswing` key in the record.

    Files: NAME_denoised.mp4 (224x224, 30000/1001 fps, H.264), NAME_denoised.wav (44.1 kHz
    mono PCM16), NAME_times.txt, NAME_physics.json. The same seed gives the same wav, txt and
    json bytes. Raises InputError for a missing folder or (without force) existing files.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError(f"output folder {out_dir} does not exist; create it first")
    if seconds < 1.5:
        raise InputError(f"seconds must be >= 1.5 (got {seconds})")
    if primary_material is not None and primary_material not in MATERIAL_TABLE:
        raise InputError(
            f"unknown material {primary_material!r}; choose one of {', '.join(MATERIALS)}"
        )
    if not 0.0 <= backswing_prob <= 1.0:
        raise InputError(f"backswing probability must be in [0, 1] (got {backswing_prob})")
    if materials is not None:
        bad = [m for m in materials if m not in MATERIAL_TABLE]
        if bad or not 1 <= len(materials) <= 3:
            raise InputError(
                f"materials must be 1-3 of {', '.join(MATERIALS)} (got {', '.join(materials)})"
            )
    sr = SAMPLE_RATE
    rng = np.random.default_rng(seed)
    mpp = float(rng.uniform(0.0011, 0.0021))  # the frame spans 0.25-0.47 m: a close-up
    if materials is None:
        n_obj = int(rng.choice([1, 2, 3], p=[0.65, 0.28, 0.07]))
        mats = [MATERIALS[i] for i in rng.choice(len(MATERIALS), n_obj, replace=False)]
        if primary_material is not None:
            others = [m for m in MATERIALS if m != primary_material]
            mats = [primary_material] + [others[i] for i in rng.choice(9, n_obj - 1, replace=False)]
    else:
        n_obj, mats = len(materials), list(materials)
    slots = _layout(rng, n_obj)
    objects = [
        sample_object(MATERIAL_TABLE[m], rng, max_length_m=(s1 - s0) * mpp)
        for m, (s0, s1) in zip(mats, slots, strict=True)
    ]
    striker_mass = float(np.exp(rng.uniform(np.log(0.03), np.log(0.2))))
    f1 = rng.uniform(250, 500) * (0.06 / striker_mass) ** 0.15
    ring_f = f1 * np.array([1.0, 2.76, 5.40, 8.93])
    ring_amp = (
        0.04 * 2 * np.pi * ring_f / (striker_mass / 4) * sound.radiation_efficiency(ring_f, 0.4)
    )
    striker = {
        "mass_kg": striker_mass,
        "tip_radius_m": float(rng.uniform(0.004, 0.009)),
        "ring": (ring_f, ring_amp, rng.uniform(80, 250, 4)),  # damped by the hand
        "click_level": float(rng.uniform(0.05, 0.3)),
    }
    scene = render.build_scene(
        objects, [MATERIAL_TABLE[m] for m in mats], slots, mpp, rng, striker_mass_kg=striker_mass
    )
    events = _plan_events(rng, seconds, objects, scene, mpp)
    for ev in events:  # tip path along the object's top while scratching
        top = scene.sprites[ev.object_id].top_y

        def surface(x, top=top):
            c = int(np.clip(round(x), 0, render.SIZE - 1))
            return float(top[c]) if top[c] >= 0 else float(top[top >= 0].min())

        ev.surface = surface
        ev.y_px_end = surface(ev.x_px + ev.drag_dir * ev.drag_speed_m_s / mpp * ev.scratch_s)
    noise, noise_info = sound.background_noise(int(round(seconds * sr)), rng, sr)
    snr_db = float(rng.uniform(20, 45))
    planned = len(events)
    dry, pieces, noise_rms = _render_audio(
        events, objects, striker, rng, seconds, sr, noise, snr_db
    )
    rir, room = sound.room_impulse_response(rng, sr)
    n = len(dry)
    from scipy import signal

    wet = signal.oaconvolve(dry, rir)[:n].astype(np.float32)
    mix = wet + noise * noise_rms
    gain = float(10 ** (rng.uniform(-9, -2) / 20) / max(float(np.abs(mix).max()), 1e-12))
    mix = (mix * gain).astype(np.float32)

    # picture
    num_frames = int(np.floor(seconds * FPS))
    times = np.arange(num_frames) / float(FPS)
    rest = (render.SIZE * 0.5, float(scene.table_y - 60))
    light_base = rng.uniform(0.8, 1.15)
    tint = 1 + rng.normal(0, 0.05, 3)
    light_amp, light_f, light_ph = rng.uniform(0, 0.08), rng.uniform(0.05, 0.4), rng.uniform(0, 6.3)
    step_t = rng.uniform(0, seconds) if rng.random() < 0.2 else None
    step = rng.uniform(-0.15, 0.15)
    light = light_base * (1 + light_amp * np.sin(2 * np.pi * light_f * times + light_ph))
    if step_t is not None:
        light = light * np.where(times >= step_t, 1 + step, 1.0)
    light_gain = light[:, None] * tint[None, :]
    shake_amp = 0.0 if rng.random() < 0.3 else float(rng.uniform(0.3, 2.5))
    fr = rng.uniform(0.3, 3.0, 3)
    ph = rng.uniform(0, 6.3, 6)
    shake = np.stack(
        [
            shake_amp
            * (
                np.sin(2 * np.pi * fr[0] * times + ph[0])
                + 0.5 * np.sin(2 * np.pi * fr[1] * times + ph[1])
            )
            / 1.5,
            shake_amp
            * (
                np.sin(2 * np.pi * fr[1] * times + ph[2])
                + 0.5 * np.sin(2 * np.pi * fr[2] * times + ph[3])
            )
            / 1.5,
            shake_amp * 0.2 * np.sin(2 * np.pi * fr[2] * times + ph[4]),
        ],
        1,
    )
    # the path uses no draw of rng, so computing it after the shake changes nothing
    bs_rng = None
    if backswing_prob > 0:  # a generator of its own: rng's stream stays that of P = 0
        bs_rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), 7919])
    tip_x, tip_y = _tip_trajectory(
        events, times, mpp, rest, backswing_prob=backswing_prob, backswing_rng=bs_rng, shake=shake
    )
    tilt = scene.stick_angle_deg + 12 * np.clip((scene.table_y - tip_y) / 120, 0, 1)
    angle = tilt * np.tanh((scene.stick_pivot_x - tip_x) / 35.0)
    contact_frames = [int(round(ev.time_s * float(FPS))) for ev in events]
    jiggle: dict[int, dict[int, tuple[int, int]]] = {}
    for ev, cf in zip(events, contact_frames, strict=True):
        if ev.reaction != "rattle":
            continue
        amp_px = rng.uniform(1.0, 2.5)
        for f in range(cf + 1, min(cf + 11, num_frames)):
            dt = times[f] - ev.time_s
            dy = -int(round(amp_px * np.exp(-dt / 0.12) * abs(np.sin(2 * np.pi * 9 * dt))))
            if dy:
                jiggle.setdefault(f, {})[ev.object_id] = (0, dy)
    occluders = {}
    occlusion_info = []
    if rng.random() < 0.3:
        bounds = [0.0] + [ev.time_s for ev in events] + [seconds]
        gaps = [
            (a + 0.2, b - 0.2) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b - a > 0.8
        ]
        if gaps:
            a, b = gaps[int(rng.integers(len(gaps)))]
            b = min(b, a + 0.9)
            side = rng.choice([-1, 1])
            y0, y1 = rng.uniform(60, 200, 2)
            size = rng.uniform(25, 50)
            skin = render._jitter_color(
                render.SKIN_RGB[int(rng.integers(len(render.SKIN_RGB)))], rng, 0.08
            )
            for f in np.nonzero((times >= a) & (times < b))[0]:
                w = (times[f] - a) / max(b - a, 1e-6)
                x = render.SIZE / 2 + side * (render.SIZE / 2 + size) * (1 - 2 * w) * -1
                occluders[int(f)] = (
                    (x, y0 + (y1 - y0) * w),
                    size,
                    float(rng.uniform(-20, 20)),
                    skin,
                )
            occlusion_info.append({"start_s": round(a, 4), "end_s": round(b, 4)})
    noise_sigma = float(rng.uniform(1.0, 5.0))
    frames = render.render_frames(
        scene,
        tip_x,
        tip_y,
        angle,
        jiggle=jiggle,
        occluders=occluders,
        light_gain=light_gain,
        shake=shake,
        noise_sigma=noise_sigma,
        rng=rng,
    )

    # records
    hits = []
    for k, (ev, cf) in enumerate(zip(events, contact_frames, strict=True)):
        obj = objects[ev.object_id]
        sx, sy = render.shake_point(ev.x_px, ev.y_px, shake[min(cf, num_frames - 1)])
        modes = sound.mode_table(obj.freq_hz, ev.info["mode_amplitude"], obj.decay_per_s, gain)
        m = striker["mass_kg"]
        hits.append(
            {
                "index": k,
                "time_s": ev.time_s,
                "contact_frame": cf,
                "material": obj.material,
                "object_id": ev.object_id,
                "action": ev.action,
                "reaction": ev.reaction,
                "strike_position": {
                    "u": round(ev.u, 5),
                    "v": round(ev.v, 5),
                    "x_px": round(ev.x_px, 3),
                    "y_px": round(ev.y_px, 3),
                },
                "striker_px": {"x": round(sx, 3), "y": round(sy, 3)},
                "striker_mass_kg": round(m, 6),
                "tip_radius_m": round(striker["tip_radius_m"], 6),
                "speed_before_m_s": round(ev.speed_before_m_s, 5),
                "speed_after_m_s": round(ev.speed_after_m_s, 5),
                "speed_before_px_s": round(ev.speed_before_m_s / mpp, 3),
                "speed_after_px_s": round(ev.speed_after_m_s / mpp, 3),
                "kinetic_energy_change_j": round(
                    0.5 * m * (ev.speed_before_m_s**2 - ev.speed_after_m_s**2), 7
                ),
                "contact_time_s": round(ev.info["contact_time_s"], 7),
                "force_peak_n": round(ev.info["force_peak_n"], 4),
                "impulse_n_s": round(ev.info["impulse_n_s"], 7),
                "speed_bumps": ev.speed_bumps,
                "modes": modes,
                "scratch": (
                    {
                        "duration_s": round(ev.scratch_s, 5),
                        "end_time_s": round(ev.time_s + ev.scratch_s, 5),
                        "drag_speed_m_s": round(ev.drag_speed_m_s, 5),
                        "drag_speed_px_s": round(ev.drag_speed_m_s / mpp, 3),
                        "normal_force_n": round(ev.normal_force_n, 4),
                    }
                    if ev.action == "scratch"
                    else None
                ),
                "rattle": ev.info.get("rattle"),
            }
        )
        if ev.backswing is not None:
            hits[-1]["backswing"] = {
                "top_frame": ev.backswing["top_frame"],
                "pause_frames": ev.backswing["pause_frames"],
                "rise_speed_m_s": round(ev.backswing["rise_speed_m_s"], 5),
                "rise_s": round(ev.backswing["rise_s"], 5),
            }
    record = {
        "format": "synthhits",
        "version": FORMAT_VERSION,
        "name": name,
        "seed": list(np.atleast_1d(seed).tolist()),
        "duration_s": round(n / sr, 6),
        "sample_rate": sr,
        "fps": [FPS.numerator, FPS.denominator],
        "num_frames": num_frames,
        "image_size": render.SIZE,
        "meters_per_pixel": round(mpp, 7),
        "striker": {
            "mass_kg": round(striker["mass_kg"], 6),
            "tip_radius_m": round(striker["tip_radius_m"], 6),
            "color_rgb": list(scene.stick_rgb),
            "radius_px": round(scene.stick_radius_px, 3),
            "length_px": round(scene.stick_length_px, 3),
            "ring_freq_hz": [round(float(f), 3) for f in ring_f],
        },
        "objects": [
            {
                "id": j,
                **obj.summary(),
                "bbox_px": list(sp.bbox),
                "look": sp.look,
            }
            for j, (obj, sp) in enumerate(zip(objects, scene.sprites, strict=True))
        ],
        "room": room,
        "noise": {"snr_db": round(snr_db, 3), **noise_info},
        "gain": float(f"{gain:.6g}"),
        "hits_dropped_inaudible": planned - len(events),
        "picture": {
            "setting": scene.params["setting"],
            "table_y": scene.table_y,
            "light_base": round(float(light_base), 4),
            "light_tint": [round(float(x), 4) for x in tint],
            "shake_amp_px": round(shake_amp, 4),
            "sensor_noise_sigma": round(noise_sigma, 3),
            "occlusions": occlusion_info,
        },
        "hits": hits,
    }
    stem = out_dir / name
    write_audio(f"{stem}_denoised.wav", mix, sr, force=force)
    lines = [f"{h['time_s']:.6f} {h['material']} {h['action']} {h['reaction']}" for h in hits]
    write_text_atomic(f"{stem}_times.txt", "\n".join(lines) + ("\n" if lines else ""), force=force)
    write_video(
        f"{stem}_denoised.mp4",
        frames,
        FPS,
        audio=mix if mp4_audio else None,
        sample_rate=sr,
        force=force,
        preset=preset,
    )
    write_text_atomic(f"{stem}_physics.json", json.dumps(record, indent=1) + "\n", force=force)
    return record


def _one(job):
    out_dir, name, seed, seconds, force, kw = job
    if not force and (Path(out_dir) / f"{name}_physics.json").exists():
        return name, "skipped"
    # no finished record: files of a crashed earlier run may be there; replace them
    generate_video(out_dir, name, seed, seconds, force=True, **kw)
    return name, "made"


def generate_dataset(
    out_dir: str | os.PathLike,
    videos: int = 100,
    seconds: float = 10.0,
    seed: int = 0,
    workers: int = 1,
    *,
    force: bool = False,
    on_video: Callable[[str, str], None] | None = None,
    backswing_prob: float = 0.0,
    **video_kwargs,
) -> dict:
    """Generate `videos` SynthHits videos into out_dir (created if missing), in parallel.

    Video i uses the generator seeded with (seed, i) and has an object of material
    MATERIALS[(seed + i) % 10] (classes balanced), so any subset can be regenerated alone and
    the result does not depend on `workers`. Resumable: a video whose NAME_physics.json
    exists is skipped unless `force`. on_video(name, "made"|"skipped") is called as each ends.
    backswing_prob : see `generate_video` (recorded in synthhits.json when > 0).
    Writes synthhits.json (the settings) and returns it with counts.
    """
    if videos < 1:
        raise InputError(f"--videos must be >= 1 (got {videos})")
    if not 0.0 <= backswing_prob <= 1.0:
        raise InputError(f"--backswing must be in [0, 1] (got {backswing_prob})")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {"format": "synthhits", "version": FORMAT_VERSION, "seed": seed, "seconds": seconds}
    if backswing_prob > 0:  # absent at 0, so the manifests of existing datasets stay valid
        settings["backswing_prob"] = backswing_prob
    manifest = out_dir / "synthhits.json"
    if manifest.exists() and not force:
        old = json.loads(manifest.read_text())
        if {k: old.get(k) for k in settings} != settings or old.get(
            "backswing_prob", 0.0
        ) != settings.get("backswing_prob", 0.0):
            raise InputError(
                f"{out_dir} holds a SynthHits dataset made with other settings ({manifest}); "
                "use another --out or pass --force"
            )
    names = [video_name(seed, i) for i in range(videos)]
    jobs = [
        (
            str(out_dir),
            nm,
            [seed, i],
            seconds,
            force,
            {
                "primary_material": MATERIALS[(seed + i) % len(MATERIALS)],
                **({"backswing_prob": backswing_prob} if backswing_prob > 0 else {}),
                **video_kwargs,
            },
        )
        for i, nm in enumerate(names)
    ]
    counts = {"made": 0, "skipped": 0}
    if workers <= 1:
        results = map(_one, jobs)
        for nm, status in results:
            counts[status] += 1
            if on_video:
                on_video(nm, status)
    else:
        import multiprocessing as mp

        from physfoley.numba_cache import warm

        warm()  # numba's cache is unsafe for concurrent first compiles
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        with mp.get_context(method).Pool(workers) as pool:
            for nm, status in pool.imap_unordered(_one, jobs):
                counts[status] += 1
                if on_video:
                    on_video(nm, status)
    all_names = sorted(
        set(names)
        | set(json.loads(manifest.read_text()).get("names", []) if manifest.exists() else set())
    )
    doc = {**settings, "videos": len(all_names), "names": all_names}
    write_text_atomic(manifest, json.dumps(doc, indent=1) + "\n", force=True)
    return {**doc, **counts}
