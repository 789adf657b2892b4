"""Step 3 of a SynthHits video: the soundtrack, every annotated hit audible in it.

Each event's dry sound comes from its physics (`sound.strike`, plus a scratch's friction and
a rattle); a hit masked by the ringing of earlier ones is struck harder (up to 3 times, then
dropped), so the annotation holds only hits an onset detector can hear. Then the room's
reverberation, background noise at a drawn SNR, and one gain for the whole video.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from physfoley.data.synthhits import sound
from physfoley.data.synthhits.events import Event
from physfoley.data.synthhits.modes import ObjectPhysics

SNR_DB = (20, 45)  # median hit level over the noise, both pre-emphasised
GAIN_DB = (-9, -2)  # peak level of the finished mix
ONSET_WINDOW_S = 0.03  # a hit must stand out over what rings in its first 30 ms ...
AUDIBLE_RATIO = 2.5  # ... by this factor in RMS (8 dB)
LEVEL_WINDOW_S = 0.05  # a hit's level: pre-emphasised RMS of its first 50 ms
BUMP_FACTOR = 1.6  # a masked hit is struck this much faster ...
MAX_BUMPS = 3  # ... at most this often, then dropped
MAX_SPEED_M_S = 6.0
TAIL_S = 4  # room after the video's end for the last hit's ring


@dataclass
class Soundtrack:
    """Step 3's result: the finished mix and what went into it."""

    mix: np.ndarray  # [N] float32, the video's sound (N = seconds x sample rate)
    gain: float  # applied to dry + noise; the modes' power in the record includes it
    snr_db: float
    noise_info: dict
    room: dict
    hits_dropped: int  # planned hits struck 3 times harder and still inaudible


def event_sound(
    ev: Event, obj: ObjectPhysics, striker: sound.Striker, rng: np.random.Generator, sr: int
) -> np.ndarray:
    """Dry sound np.ndarray[L] of one event from contact on; sets `ev.info` (its physics)."""
    dry, info = sound.strike(
        obj,
        u=ev.u,
        v=ev.v,
        striker_mass_kg=striker.mass_kg,
        tip_radius_m=striker.tip_radius_m,
        speed_before_m_s=ev.speed_before_m_s,
        speed_after_m_s=ev.speed_after_m_s,
        sample_rate=sr,
        striker_ring=striker.ring,
        click_level=striker.click_level,
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


def pre_emphasis(x: np.ndarray) -> np.ndarray:
    """First difference: what onset detectors listen to (high frequencies weigh more)."""
    return np.diff(x, prepend=x[:1]) if len(x) else x


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def mix_audible(
    events: list[Event],
    objects: list[ObjectPhysics],
    striker: sound.Striker,
    rng: np.random.Generator,
    seconds: float,
    sr: int,
    noise: np.ndarray,
    snr_db: float,
) -> tuple[np.ndarray, float]:
    """Place every event's dry sound on the timeline; strike masked hits harder.

    noise : np.ndarray[N] unit-RMS background; it is scaled so that, pre-emphasised, it lies
    `snr_db` below the median hit level (pre-emphasised RMS of the first 50 ms). A hit whose
    first 30 ms (pre-emphasised) is not 8 dB above the ringing of earlier hits plus noise is
    struck 1.6x faster (at most 3 times), then dropped (removed from `events`). Returns the
    dry mix np.ndarray[N] (without noise) and the noise's RMS in it.
    """
    n = int(round(seconds * sr))
    pieces = [event_sound(ev, objects[ev.object_id], striker, rng, sr) for ev in events]
    win = int(ONSET_WINDOW_S * sr)
    noise_em = pre_emphasis(noise)
    noise_em_rms = max(_rms(noise_em), 1e-12)
    noise_rms = 0.0
    while True:  # ends: each hit is bumped at most MAX_BUMPS times, then dropped
        dry = np.zeros(n + sr * TAIL_S, np.float32)
        starts = [int(round(ev.time_s * sr)) for ev in events]
        for s, p in zip(starts, pieces, strict=True):
            dry[s : s + len(p)] += p
        # SNR as an onset detector hears it: pre-emphasised hit (first 50 ms) over noise
        levels = [_rms(pre_emphasis(p[: int(LEVEL_WINDOW_S * sr)])) for p in pieces]
        noise_rms = (
            float(np.median(levels)) / noise_em_rms * 10 ** (-snr_db / 20) if levels else 0.0
        )
        masked = []
        for k, (s, p) in enumerate(zip(starts, pieces, strict=True)):
            own_sig = pre_emphasis(p[:win])
            rest = dry[s : s + win] - np.pad(p[:win], (0, max(0, win - len(p))))
            rest = pre_emphasis(rest) + noise_em[s : s + win][: len(rest)] * noise_rms
            if _rms(own_sig) < AUDIBLE_RATIO * _rms(rest):
                masked.append(k)
        if not masked:
            break
        for k in reversed(masked):
            ev = events[k]
            if ev.speed_bumps >= MAX_BUMPS or ev.action == "scratch":
                del events[k], pieces[k]
                continue
            ev.speed_bumps += 1
            ev.speed_before_m_s = min(ev.speed_before_m_s * BUMP_FACTOR, MAX_SPEED_M_S)
            ev.speed_after_m_s = min(ev.speed_after_m_s * BUMP_FACTOR, MAX_SPEED_M_S)
            pieces[k] = event_sound(ev, objects[ev.object_id], striker, rng, sr)
    return dry[:n], noise_rms


def make_soundtrack(
    rng: np.random.Generator,
    events: list[Event],
    objects: list[ObjectPhysics],
    striker: sound.Striker,
    seconds: float,
    sr: int,
) -> Soundtrack:
    """Step 3: noise, the audible mix of `events` (drops the inaudible ones), room, gain."""
    noise, noise_info = sound.background_noise(int(round(seconds * sr)), rng, sr)
    snr_db = float(rng.uniform(*SNR_DB))
    planned = len(events)
    dry, noise_rms = mix_audible(events, objects, striker, rng, seconds, sr, noise, snr_db)
    rir, room = sound.room_impulse_response(rng, sr)
    wet = signal.oaconvolve(dry, rir)[: len(dry)].astype(np.float32)
    mix = wet + noise * noise_rms
    gain = float(10 ** (rng.uniform(*GAIN_DB) / 20) / max(float(np.abs(mix).max()), 1e-12))
    return Soundtrack(
        mix=(mix * gain).astype(np.float32),
        gain=gain,
        snr_db=snr_db,
        noise_info=noise_info,
        room=room,
        hits_dropped=planned - len(events),
    )
