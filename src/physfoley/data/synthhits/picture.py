"""Step 4 of a SynthHits video: the picture, frames np.ndarray[T, H, W, 3] uint8.

Draws, from the video's one generator in a fixed order, the nuisances of a real recording
(lighting drift, colour cast and an occasional lamp switched, camera shake), then the
striker's path through each contact point at its contact time (`stroke.tip_trajectory`),
the jiggle of rattling objects, a second hand passing in front now and then, and the sensor
noise; `render.render_frames` draws the frames. Back-swings come from a generator of their
own, so a dataset with back-swings has the sound and every other draw of one without.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from physfoley.data.synthhits import render
from physfoley.data.synthhits.events import Event
from physfoley.data.synthhits.look import SKIN_RGB, jitter_color
from physfoley.data.synthhits.scene import Stage
from physfoley.data.synthhits.spec import FPS, IMAGE_SIZE_PX
from physfoley.data.synthhits.stroke import tip_trajectory

LIGHT_BASE = (0.8, 1.15)  # overall brightness
TINT_SIGMA = 0.05  # colour cast: per-channel gain 1 + N(0, sigma)
LIGHT_DRIFT = (0, 0.08)  # relative amplitude of a slow sinusoidal drift ...
LIGHT_DRIFT_HZ = (0.05, 0.4)  # ... at this rate
PHASE_RAD = (0, 6.3)
LIGHT_STEP_PROB = 0.2  # a lamp switched once in the video ...
LIGHT_STEP = (-0.15, 0.15)  # ... changing the brightness by this (drawn in any case)
STILL_CAMERA_PROB = 0.3  # a tripod: no shake
SHAKE_AMP_PX = (0.3, 2.5)
SHAKE_HZ = (0.3, 3.0)  # three rates shared by x, y and rotation
SHAKE_HARMONIC = 0.5  # weight of each shake axis' second sinusoid
SHAKE_ROTATION_DEG_PER_PX = 0.2
REST_HEIGHT_PX = 60  # with no stroke to come, the tip waits this far above the table
STICK_EXTRA_TILT_DEG = 12  # the stick tilts up to this much more as the tip rises ...
STICK_TILT_RISE_PX = 120  # ... this far above the table
STICK_SIDE_PX = 35.0  # the tilt turns over as the tip passes under the hand (tanh scale)
BACKSWING_STREAM = 7919  # appended to the video's seed for the back-swing generator
RATTLE_JIGGLE_PX = (1.0, 2.5)  # a rattling object hops up by up to this ...
RATTLE_DECAY_S = 0.12
RATTLE_HZ = 9
RATTLE_FRAMES = 10  # ... for this many frames after contact
OCCLUSION_PROB = 0.3  # a second hand passes in front of the camera ...
OCCLUSION_MARGIN_S = 0.2  # ... between two contacts, this far from each
OCCLUSION_MIN_GAP_S = 0.8
OCCLUSION_MAX_S = 0.9
OCCLUDER_Y_PX = (60, 200)  # heights it enters and leaves at
OCCLUDER_SIZE_PX = (25, 50)
OCCLUDER_ANGLE_DEG = (-20, 20)  # drawn per frame: the hand wobbles
SENSOR_NOISE_SIGMA = (1.0, 5.0)  # grey levels


@dataclass
class Picture:
    """Step 4's result: the frames and the nuisances drawn for them."""

    frames: np.ndarray  # [T, H, W, 3] uint8 RGB
    shake: np.ndarray  # [T, 3] camera dx, dy (px) and rotation (deg) per frame
    contact_frames: list[int]  # per event, the frame nearest its contact
    light_base: float
    tint: np.ndarray  # [3]
    shake_amp_px: float
    sensor_noise_sigma: float
    occlusions: list[dict]  # {"start_s", "end_s"} of the passing hand


def _lighting(
    rng: np.random.Generator, times: np.ndarray, seconds: float
) -> tuple[np.ndarray, float, np.ndarray]:
    """Per-frame, per-channel gain [T, 3], and the base brightness and tint drawn for it."""
    light_base = rng.uniform(*LIGHT_BASE)
    tint = 1 + rng.normal(0, TINT_SIGMA, 3)
    light_amp, light_f, light_ph = (
        rng.uniform(*LIGHT_DRIFT),
        rng.uniform(*LIGHT_DRIFT_HZ),
        rng.uniform(*PHASE_RAD),
    )
    step_t = rng.uniform(0, seconds) if rng.random() < LIGHT_STEP_PROB else None
    step = rng.uniform(*LIGHT_STEP)
    light = light_base * (1 + light_amp * np.sin(2 * np.pi * light_f * times + light_ph))
    if step_t is not None:
        light = light * np.where(times >= step_t, 1 + step, 1.0)
    return light[:, None] * tint[None, :], light_base, tint


def _camera_shake(rng: np.random.Generator, times: np.ndarray) -> tuple[np.ndarray, float]:
    """Camera dx, dy (px) and rotation (deg) per frame [T, 3], and its amplitude (px)."""
    shake_amp = 0.0 if rng.random() < STILL_CAMERA_PROB else float(rng.uniform(*SHAKE_AMP_PX))
    fr = rng.uniform(*SHAKE_HZ, 3)
    ph = rng.uniform(*PHASE_RAD, 6)

    def axis(f0: int, f1: int, p0: int, p1: int) -> np.ndarray:
        first = np.sin(2 * np.pi * fr[f0] * times + ph[p0])
        second = SHAKE_HARMONIC * np.sin(2 * np.pi * fr[f1] * times + ph[p1])
        return shake_amp * (first + second) / (1 + SHAKE_HARMONIC)

    rotation = shake_amp * SHAKE_ROTATION_DEG_PER_PX * np.sin(2 * np.pi * fr[2] * times + ph[4])
    return np.stack([axis(0, 1, 0, 1), axis(1, 2, 2, 3), rotation], 1), shake_amp


def _rattle_jiggle(
    rng: np.random.Generator,
    events: list[Event],
    contact_frames: list[int],
    times: np.ndarray,
) -> dict[int, dict[int, tuple[int, int]]]:
    """frame -> {object index: (dx, dy) px}: rattling objects hop after their contact."""
    jiggle: dict[int, dict[int, tuple[int, int]]] = {}
    for ev, cf in zip(events, contact_frames, strict=True):
        if ev.reaction != "rattle":
            continue
        amp_px = rng.uniform(*RATTLE_JIGGLE_PX)
        for f in range(cf + 1, min(cf + RATTLE_FRAMES + 1, len(times))):
            dt = times[f] - ev.time_s
            decay = np.exp(-dt / RATTLE_DECAY_S)
            dy = -int(round(amp_px * decay * abs(np.sin(2 * np.pi * RATTLE_HZ * dt))))
            if dy:
                jiggle.setdefault(f, {})[ev.object_id] = (0, dy)
    return jiggle


def _passing_hand(
    rng: np.random.Generator, events: list[Event], times: np.ndarray, seconds: float
) -> tuple[dict, list[dict]]:
    """frame -> (center, size, angle, skin rgb) of a hand crossing the image between two
    contacts (sometimes; never near a contact), and its {"start_s", "end_s"}."""
    occluders = {}
    occlusion_info = []
    if rng.random() < OCCLUSION_PROB:
        bounds = [0.0] + [ev.time_s for ev in events] + [seconds]
        gaps = [
            (a + OCCLUSION_MARGIN_S, b - OCCLUSION_MARGIN_S)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            if b - a > OCCLUSION_MIN_GAP_S
        ]
        if gaps:
            a, b = gaps[int(rng.integers(len(gaps)))]
            b = min(b, a + OCCLUSION_MAX_S)
            side = rng.choice([-1, 1])
            y0, y1 = rng.uniform(*OCCLUDER_Y_PX, 2)
            size = rng.uniform(*OCCLUDER_SIZE_PX)
            skin = jitter_color(SKIN_RGB[int(rng.integers(len(SKIN_RGB)))], rng, 0.08)
            half = IMAGE_SIZE_PX / 2
            for f in np.nonzero((times >= a) & (times < b))[0]:
                w = (times[f] - a) / max(b - a, 1e-6)
                x = half + side * (half + size) * (1 - 2 * w) * -1
                angle = float(rng.uniform(*OCCLUDER_ANGLE_DEG))
                occluders[int(f)] = ((x, y0 + (y1 - y0) * w), size, angle, skin)
            occlusion_info.append({"start_s": round(a, 4), "end_s": round(b, 4)})
    return occluders, occlusion_info


def make_picture(
    rng: np.random.Generator,
    stage: Stage,
    events: list[Event],
    seconds: float,
    *,
    seed: int | Sequence[int],
    backswing_prob: float = 0.0,
) -> Picture:
    """Step 4: lighting, shake, the striker's path, rattles, a passing hand, noise, frames.

    seed : the video's seed; with backswing_prob > 0 the back-swings draw from a generator
    seeded with (seed, BACKSWING_STREAM), so `rng`'s stream stays that of backswing_prob = 0.
    May shorten events' descents (`t_down_s`) and sets their `backswing`.
    """
    scene = stage.scene
    num_frames = int(np.floor(seconds * FPS))
    times = np.arange(num_frames) / float(FPS)
    rest = (IMAGE_SIZE_PX * 0.5, float(scene.table_y - REST_HEIGHT_PX))
    light_gain, light_base, tint = _lighting(rng, times, seconds)
    shake, shake_amp = _camera_shake(rng, times)
    # the path uses no draw of rng, so computing it after the shake changes nothing
    bs_rng = None
    if backswing_prob > 0:  # a generator of its own: rng's stream stays that of P = 0
        bs_rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), BACKSWING_STREAM])
    tip_x, tip_y = tip_trajectory(
        events,
        times,
        stage.meters_per_pixel,
        rest,
        backswing_prob=backswing_prob,
        backswing_rng=bs_rng,
        shake=shake,
    )
    rise = np.clip((scene.table_y - tip_y) / STICK_TILT_RISE_PX, 0, 1)
    tilt = scene.stick_angle_deg + STICK_EXTRA_TILT_DEG * rise
    angle = tilt * np.tanh((scene.stick_pivot_x - tip_x) / STICK_SIDE_PX)
    contact_frames = [int(round(ev.time_s * float(FPS))) for ev in events]
    jiggle = _rattle_jiggle(rng, events, contact_frames, times)
    occluders, occlusion_info = _passing_hand(rng, events, times, seconds)
    noise_sigma = float(rng.uniform(*SENSOR_NOISE_SIGMA))
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
    return Picture(
        frames=frames,
        shake=shake,
        contact_frames=contact_frames,
        light_base=float(light_base),
        tint=tint,
        shake_amp_px=shake_amp,
        sensor_noise_sigma=noise_sigma,
        occlusions=occlusion_info,
    )
