"""Impact sound from physics: Hertz contact force -> modal response, rattles, scratches, room, noise.

A strike is a drumstick (mass m_s, rounded tip of radius R) meeting an object at speed v.
Hertz contact gives the contact time tau = 2.87 (m_eff^2 / (R E*^2 v))^(1/5): faster or
stiffer -> shorter -> more high frequencies; heavier striker -> longer. The force is a half
sine of that duration whose impulse is the striker's momentum change m_s (v_before + v_after).
The object answers with its modes (impulse response sum_k A_k e^(-sigma_k t) sin(2 pi f_k t),
A_k = shape_k^2 / modal mass * radiation efficiency), convolved with the force. Scratches
drive the same modes with friction noise (stick-slip pulses + rough-surface noise). The room
is a statistical impulse response (direct path, a few early reflections, exponentially
decaying noise with a frequency-dependent RT60), and the microphone adds pink noise and hum. `sample_striker` draws the drumstick of a video
(step 1 of `generate.generate_video`); the soundtrack step calls the rest per event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from physfoley.data.synthhits.modes import DB_PER_NEPER, ObjectPhysics, strike_shape

STRIKER_YOUNGS_PA = 12e9  # hickory drumstick
POISSON = 0.3
SPEED_OF_SOUND_M_S = 343.0
_BLOCK = 1024
# the drumstick that `sample_striker` draws
STRIKER_MASS_KG = (0.03, 0.2)  # log-uniform
STRIKER_TIP_RADIUS_M = (0.004, 0.009)
STRIKER_REFERENCE_MASS_KG = 0.06  # a usual drumstick; lighter ones ring higher
STRIKER_RING_F1_HZ = (250, 500)  # first ring mode at the reference mass
STRIKER_RING_MASS_EXPONENT = 0.15
STRIKER_RING_RATIOS = (1.0, 2.76, 5.40, 8.93)  # free-free beam modes
STRIKER_RING_LEVEL = 0.04
STRIKER_RING_DECAY_PER_S = (80, 250)  # fast: the hand damps the stick
STRIKER_CLICK_LEVEL = (0.05, 0.3)  # acceleration noise, relative to the hit's peak
STICK_LENGTH_M = 0.4  # drumstick length


def hertz_contact_time(
    striker_mass_kg: float,
    tip_radius_m: float,
    object_mass_kg: float,
    object_youngs_pa: float,
    speed_m_s: float,
) -> float:
    """Hertz impact duration (s) of a sphere-tipped striker on a flat surface."""
    e_star = 1.0 / ((1 - POISSON**2) / STRIKER_YOUNGS_PA + (1 - POISSON**2) / object_youngs_pa)
    m_eff = striker_mass_kg * object_mass_kg / (striker_mass_kg + object_mass_kg)
    tau = 2.87 * (m_eff**2 / (tip_radius_m * e_star**2 * max(speed_m_s, 1e-3))) ** 0.2
    return float(np.clip(tau, 6e-5, 5e-3))


def half_sine_force(tau_s: float, impulse_n_s: float, sample_rate: int) -> np.ndarray:
    """Force pulse np.ndarray[L] (N) of duration tau whose integral is the impulse.

    Hertz contact force is close to sin^(3/2) of the phase; real surfaces are rough, so the
    pulse is a blend of that shape over two slightly different durations. (A single ideal
    half sine has spectral nulls every 1/tau, which would stripe every hit's spectrum.)
    """
    n = max(int(np.ceil(tau_s * sample_rate)), 1)
    t = (np.arange(n) + 0.5) / sample_rate
    pulse = np.sin(np.pi * np.clip(t / tau_s, 0, 1)) ** 1.5
    pulse = pulse + 0.5 * np.sin(np.pi * np.clip(t / (0.72 * tau_s), 0, 1)) ** 1.5
    return pulse * (impulse_n_s / (pulse.sum() / sample_rate))


def force_spectrum(force: np.ndarray, freq_hz: np.ndarray, sample_rate: int) -> np.ndarray:
    """|F(omega)| (N s) of a sampled force pulse at each frequency, np.ndarray[K]."""
    t = np.arange(len(force)) / sample_rate
    phase = np.exp(-2j * np.pi * freq_hz[:, None] * t[None, :])
    return np.abs(phase @ force) / sample_rate


def modal_sum(
    freq_hz: np.ndarray,
    amp: np.ndarray,
    decay_per_s: np.ndarray,
    num_samples: int,
    sample_rate: int,
) -> np.ndarray:
    """sum_k amp_k e^(-decay_k t) sin(2 pi f_k t) for t = n / sr, np.ndarray[num_samples] float32.

    Vectorised as one complex matrix product: exact within a block of samples times the
    per-block start value of each mode ([block, K] @ [K, blocks]); no loop over modes or blocks.
    """
    if len(freq_hz) == 0 or num_samples <= 0:
        return np.zeros(max(num_samples, 0), np.float32)
    s = -decay_per_s + 2j * np.pi * freq_hz  # [K]
    t_in = np.arange(_BLOCK) / sample_rate
    within = np.exp(t_in[:, None] * s[None, :])  # [B, K]
    nblocks = -(-num_samples // _BLOCK)
    starts = (
        np.exp((np.arange(nblocks) * _BLOCK / sample_rate)[None, :] * s[:, None]) * amp[:, None]
    )
    out = (within.astype(np.complex64) @ starts.astype(np.complex64)).imag  # [B, nblocks]
    return out.T.reshape(-1)[:num_samples].astype(np.float32)


def radiation_efficiency(freq_hz: np.ndarray, size_m: float) -> np.ndarray:
    """Small objects radiate their low modes poorly: (ka)^2 / (1 + (ka)^2), k = 2 pi f / c."""
    ka = 2 * np.pi * freq_hz * size_m / SPEED_OF_SOUND_M_S
    return ka**2 / (1 + ka**2)


def object_response(obj: ObjectPhysics, u: float, v: float) -> np.ndarray:
    """Impulse-response amplitude A_k of each mode (sound pressure per unit impulse), [K]."""
    shape = strike_shape(obj, u, v)
    modal_mass = obj.mass_kg / 4.0
    size = max(obj.length_m, obj.width_m, obj.height_m)
    if obj.kind == "soft":
        size = obj.shape_params["support"]["a_m"]
    return shape**2 / modal_mass * radiation_efficiency(obj.freq_hz, size) * 2 * np.pi * obj.freq_hz


def ir_length(decay_per_s: np.ndarray, sample_rate: int, max_s: float) -> int:
    """Samples until the slowest mode has decayed by 60 dB (capped at max_s)."""
    if len(decay_per_s) == 0:
        return int(0.05 * sample_rate)
    t60 = 6.91 / max(float(decay_per_s.min()), 1e-3)
    return int(min(max(t60, 0.05), max_s) * sample_rate)


def _fade_tail(x: np.ndarray, sample_rate: int, fade_s: float = 0.15) -> np.ndarray:
    n = min(len(x), int(fade_s * sample_rate))
    if n > 1:
        x[-n:] *= np.linspace(1.0, 0.0, n, dtype=x.dtype)
    return x


def strike(
    obj: ObjectPhysics,
    *,
    u: float,
    v: float,
    striker_mass_kg: float,
    tip_radius_m: float,
    speed_before_m_s: float,
    speed_after_m_s: float,
    sample_rate: int,
    max_s: float = 3.0,
    striker_ring: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    click_level: float = 0.0,
) -> tuple[np.ndarray, dict]:
    """One impact: dry pressure signal np.ndarray[L] starting at contact, and its physics.

    The returned dict has contact_time_s, force_peak_n, impulse_n_s and the excited modes
    (freq_hz, amplitude = A_k |F(omega_k)|, decay_db_per_s) before the video's gain.
    """
    tau = hertz_contact_time(
        striker_mass_kg, tip_radius_m, obj.mass_kg, obj.contact_youngs_pa, speed_before_m_s
    )
    impulse = striker_mass_kg * (speed_before_m_s + speed_after_m_s)
    force = half_sine_force(tau, impulse, sample_rate)
    amp = object_response(obj, u, v)
    n = ir_length(obj.decay_per_s, sample_rate, max_s)
    ir = modal_sum(obj.freq_hz, amp, obj.decay_per_s, n, sample_rate)
    if striker_ring is not None:  # the drumstick itself rings briefly (same for all materials)
        rf, ra, rd = striker_ring
        ring = modal_sum(rf, ra, rd, min(n, int(0.1 * sample_rate)), sample_rate)
        ir[: len(ring)] += ring
    dry = signal.oaconvolve(ir, force)[: n + len(force)].astype(np.float32)
    _fade_tail(dry, sample_rate)
    if click_level > 0:  # acceleration noise: the striker's sudden stop radiates dF/dt
        click = np.diff(force, prepend=0.0, append=0.0)
        peak = float(np.abs(dry[: int(0.02 * sample_rate)]).max())
        dry[: len(click)] += (
            click * (click_level * peak / max(float(np.abs(click).max()), 1e-12))
        ).astype(np.float32)
    eff = amp * force_spectrum(force, obj.freq_hz, sample_rate)
    info = {
        "contact_time_s": tau,
        "force_peak_n": float(force.max()),
        "impulse_n_s": float(impulse),
        "mode_amplitude": eff,
    }
    return dry, info


def rattle(
    obj: ObjectPhysics,
    rng: np.random.Generator,
    *,
    strength: float,
    sample_rate: int,
) -> tuple[np.ndarray, dict]:
    """Secondary impacts of an object knocked loose (bouncing on its support), dry [L].

    strength : peak amplitude of the hit that set it off; bounces are 25-60 % of it, decaying.
    """
    count = int(rng.integers(2, 6))
    gaps = rng.uniform(0.025, 0.09) * 0.75 ** np.arange(count)
    delays = np.cumsum(gaps)
    levels = strength * rng.uniform(0.25, 0.6) * 0.65 ** np.arange(count)
    n_total = int((delays[-1] + 0.6) * sample_rate)
    out = np.zeros(n_total, np.float32)
    for d, lev in zip(delays, levels, strict=True):  # 2-5 bounces; each is vectorised inside
        piece, _ = strike(
            obj,
            u=float(rng.uniform(0.05, 0.95)),
            v=float(rng.uniform(0, 1)),
            striker_mass_kg=obj.mass_kg * 0.3,
            tip_radius_m=0.02,
            speed_before_m_s=0.15,
            speed_after_m_s=0.05,
            sample_rate=sample_rate,
            max_s=0.5,
        )
        start = int(d * sample_rate)
        piece = piece[: n_total - start] * (lev / max(float(np.abs(piece).max()), 1e-12))
        out[start : start + len(piece)] += piece
    return out, {"bounces_s": [round(float(d), 5) for d in delays]}


def scratch(
    obj: ObjectPhysics,
    rng: np.random.Generator,
    *,
    u: float,
    v: float,
    duration_s: float,
    drag_speed_m_s: float,
    normal_force_n: float,
    sample_rate: int,
) -> np.ndarray:
    """Friction noise filtered by the object's modes, dry [L] starting at the first contact.

    Excitation: a stick-slip pulse train (spacing = surface roughness / drag speed) plus rough
    noise, both scaled by the friction force mu N and shaped by a fast attack, slow release.
    """
    n = int(duration_s * sample_rate)
    roughness_m = rng.uniform(2e-4, 2e-3)
    mean_gap = roughness_m / max(drag_speed_m_s, 0.02) * sample_rate
    count = int(n / max(mean_gap, 1.0)) + 1
    pos = np.cumsum(rng.exponential(mean_gap, count)).astype(np.int64)
    pos = pos[pos < n]
    excite = rng.normal(0, 0.4, n).astype(np.float32)
    excite[pos] += rng.uniform(0.5, 1.5, len(pos)).astype(np.float32)
    env = np.ones(n, np.float32)
    attack, release = int(0.003 * sample_rate), int(0.03 * sample_rate)
    env[:attack] = np.linspace(0, 1, attack)
    env[-release:] *= np.linspace(1, 0, release)
    wobble = 1 + 0.4 * np.sin(2 * np.pi * rng.uniform(2, 8) * np.arange(n) / sample_rate)
    mu = rng.uniform(0.2, 0.6)
    excite = excite * env * wobble.astype(np.float32) * (mu * normal_force_n / sample_rate)
    amp = object_response(obj, u, v)
    ir = modal_sum(
        obj.freq_hz, amp, obj.decay_per_s, ir_length(obj.decay_per_s, sample_rate, 0.6), sample_rate
    )
    out = signal.oaconvolve(excite, ir)
    scrape = signal.sosfilt(
        signal.butter(2, 3000, "highpass", fs=sample_rate, output="sos"), excite
    )
    out[:n] += scrape * (0.02 * float(np.abs(ir).max()) * sample_rate / 100)
    return _fade_tail(out.astype(np.float32), sample_rate, 0.05)


def room_impulse_response(rng: np.random.Generator, sample_rate: int) -> tuple[np.ndarray, dict]:
    """Statistical room impulse response np.ndarray[L], direct path at sample 0, and its params.

    Early reflections (2-25 ms) plus exponentially decaying noise whose high band dies twice as
    fast as the low band (air and wall absorption); scaled to a direct-to-reverberant ratio.
    """
    rt60 = float(rng.uniform(0.1, 0.5))
    drr_db = float(rng.uniform(3.0, 15.0))
    n = int(rt60 * 1.1 * sample_rate)
    t = np.arange(n) / sample_rate
    noise = rng.normal(0, 1, n)
    sos_lo = signal.butter(2, 1500, "lowpass", fs=sample_rate, output="sos")
    low = signal.sosfilt(sos_lo, noise)
    high = noise - low
    tail = low * np.exp(-6.91 * t / rt60) + high * np.exp(-6.91 * t / (rt60 * 0.5))
    onset = int(rng.uniform(0.002, 0.006) * sample_rate)
    tail[:onset] = 0
    refl_t = rng.uniform(0.002, 0.025, int(rng.integers(3, 8)))
    refl = np.zeros(n)
    np.add.at(
        refl,
        (refl_t * sample_rate).astype(int),
        rng.uniform(0.1, 0.5, len(refl_t)) * rng.choice([-1, 1], len(refl_t)),
    )
    reverb = tail + refl
    reverb *= np.sqrt(10 ** (-drr_db / 10) / max(np.sum(reverb**2), 1e-12))
    rir = reverb
    rir[0] += 1.0
    return rir.astype(np.float32), {"rt60_s": round(rt60, 4), "drr_db": round(drr_db, 3)}


def background_noise(n: int, rng: np.random.Generator, sample_rate: int) -> tuple[np.ndarray, dict]:
    """Microphone/room noise np.ndarray[n] of unit RMS: pink noise, sometimes mains hum."""
    spec = np.fft.rfft(rng.normal(0, 1, n))
    f = np.fft.rfftfreq(n, 1 / sample_rate)
    slope = float(rng.uniform(0.6, 1.2))  # 1 = pink
    spec *= 1.0 / np.maximum(f, 30.0) ** (slope / 2)
    noise = np.fft.irfft(spec, n)
    hum_hz = None
    if rng.random() < 0.3:
        hum_hz = float(rng.choice([50.0, 60.0]))
        t = np.arange(n) / sample_rate
        hum = sum(np.sin(2 * np.pi * hum_hz * k * t + rng.uniform(0, 6.3)) / k for k in (1, 2, 3))
        noise = noise / noise.std() + hum * rng.uniform(0.2, 1.0)
    noise = noise / max(noise.std(), 1e-12)
    return noise.astype(np.float32), {"noise_slope": round(slope, 3), "hum_hz": hum_hz}


def mode_table(
    freq_hz: np.ndarray, amplitude: np.ndarray, decay_per_s: np.ndarray, gain: float
) -> dict:
    """Modes as eq. 4 of Su et al. (power in dB of the amplitude in the wav, decay in dB/s)."""
    power = 20 * np.log10(np.maximum(amplitude * gain, 1e-12))
    return {
        "freq_hz": [round(float(x), 3) for x in freq_hz],
        "power_db": [round(float(x), 3) for x in power],
        "decay_db_per_s": [round(float(x) * DB_PER_NEPER, 3) for x in decay_per_s],
    }


@dataclass(frozen=True)
class Striker:
    """The drumstick's physics: what it sounds like on contact and on its own."""

    mass_kg: float
    tip_radius_m: float
    ring_freq_hz: np.ndarray  # [4] the stick's own brief ring
    ring_amplitude: np.ndarray  # [4]
    ring_decay_per_s: np.ndarray  # [4]
    click_level: float

    @property
    def ring(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(freq_hz, amplitude, decay_per_s), as `strike` takes it."""
        return self.ring_freq_hz, self.ring_amplitude, self.ring_decay_per_s


def sample_striker(rng: np.random.Generator) -> Striker:
    """A drumstick: log-uniform mass; its ring's pitch falls with its mass."""
    lo, hi = STRIKER_MASS_KG
    mass_kg = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    f1 = (
        rng.uniform(*STRIKER_RING_F1_HZ)
        * (STRIKER_REFERENCE_MASS_KG / mass_kg) ** STRIKER_RING_MASS_EXPONENT
    )
    ring_freq_hz = f1 * np.array(STRIKER_RING_RATIOS)
    ring_amplitude = (
        STRIKER_RING_LEVEL
        * 2
        * np.pi
        * ring_freq_hz
        / (mass_kg / 4)  # a quarter of the stick's mass moves in each mode
        * radiation_efficiency(ring_freq_hz, STICK_LENGTH_M)
    )
    tip_radius_m = float(rng.uniform(*STRIKER_TIP_RADIUS_M))
    ring_decay_per_s = rng.uniform(*STRIKER_RING_DECAY_PER_S, len(STRIKER_RING_RATIOS))
    return Striker(
        mass_kg=mass_kg,
        tip_radius_m=tip_radius_m,
        ring_freq_hz=ring_freq_hz,
        ring_amplitude=ring_amplitude,
        ring_decay_per_s=ring_decay_per_s,
        click_level=float(rng.uniform(*STRIKER_CLICK_LEVEL)),
    )
