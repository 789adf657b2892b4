"""Loudness of an impact from the hit that made it: a calibrated law, amplitude ∝ impulse^gamma.

A strike is a Hertz contact (SynthHits `data/synthhits/sound.py`; Su et al.'s Greatest Hits
drumstick): a half-sine force whose integral is the striker's momentum change, the impulse
J = m (v_before + v_after). The object answers linearly, so the amplitude of its response, and
of the sound, is proportional to J; the contact time (and with it the spectrum) changes only
as v^(-1/5). The level law is therefore

    peak_db = LEVEL_REF_DB + LEVEL_EXPONENT * 20 log10(J / REF_IMPULSE_N_S)

with the exponent (1 for the sound's energy; 6/5 for its peak, which follows the peak force
J / tau, tau ∝ v^(-1/5)) and the reference level fitted on a SynthHits training split that no test split shares
(`benchmarks/calibrate_loudness.py`, docs/pipeline.md). The striker's mass cannot be seen in
a picture: `STRIKER_MASS_KG` (a usual drumstick, SynthHits' reference) is assumed and
`mass_scale` scales it; speeds in m/s need a scale, which is `SCENE_LONG_SIDE_M` across the
picture's longer side unless given. `impact_gains` turns target peaks into per-clip gains
(the peak over the first `PEAK_WINDOW_S` of each generated head). Pure numpy.
"""

from __future__ import annotations

import numpy as np

#: Assumed striker mass (kg): a usual drumstick; `mass_scale` multiplies it.
STRIKER_MASS_KG = 0.06
#: Assumed size of the picture's longer side (m) when the scale is unknown (a tabletop scene).
SCENE_LONG_SIDE_M = 0.4
#: The reference hit's striker speed (m/s); also assumed where the picture shows no motion.
REF_SPEED_M_S = 1.0
#: Impulse (N s) at which the law gives LEVEL_REF_DB: the striker at 1 m/s, stopped dead.
REF_IMPULSE_N_S = STRIKER_MASS_KG * REF_SPEED_M_S
#: Calibrated (benchmarks/calibrate_loudness.py on SynthHits seed 516, 20 videos, 162 hits):
#: the fitted exponent 1.22 is Hertz's own 6/5, the peak force J / tau with tau ∝ v^(-1/5).
LEVEL_REF_DB = -19.7
LEVEL_EXPONENT = 1.22
#: No single impact is louder than this peak (-1 dBFS): headroom for the mix.
MAX_IMPACT_PEAK = 10 ** (-1.0 / 20)
#: The window after the hit whose peak the law sets (and that the evaluation measures).
PEAK_WINDOW_S = 0.03


def impulse_n_s(
    mass_kg: np.ndarray | float, speed_before_m_s: np.ndarray, speed_after_m_s: np.ndarray
) -> np.ndarray:
    """Momentum the striker hands the object, J = m (v_before + v_after), N s -> [E]."""
    vb = np.maximum(np.asarray(speed_before_m_s, np.float64), 0.0)
    va = np.maximum(np.asarray(speed_after_m_s, np.float64), 0.0)
    return np.asarray(mass_kg, np.float64) * (vb + va)


def target_peak(
    impulse: np.ndarray,
    *,
    ref_db: float = LEVEL_REF_DB,
    exponent: float = LEVEL_EXPONENT,
    ref_impulse_n_s: float = REF_IMPULSE_N_S,
    max_peak: float = MAX_IMPACT_PEAK,
) -> np.ndarray:
    """Peak amplitude of each impact's first PEAK_WINDOW_S from its impulse: [E] -> [E].

    A zero impulse (the tracker saw no motion) gets the level of a 5 % reference impulse
    rather than silence: a sound was heard, the picture just could not say how loud.
    """
    j = np.maximum(np.asarray(impulse, np.float64), 0.05 * ref_impulse_n_s)
    db = ref_db + exponent * 20.0 * np.log10(j / ref_impulse_n_s)
    return np.minimum(10.0 ** (db / 20.0), max_peak)


def head_peak(clips: np.ndarray, sample_rate: int, window_s: float = PEAK_WINDOW_S) -> np.ndarray:
    """Peak |x| of each clip's first `window_s`: clips [B, N] -> [B]."""
    clips = np.atleast_2d(np.asarray(clips))
    n = max(1, min(clips.shape[1], int(round(window_s * sample_rate))))
    return np.abs(clips[:, :n]).max(axis=1) if clips.size else np.zeros(clips.shape[0])


def impact_gains(clips: np.ndarray, targets: np.ndarray, sample_rate: int) -> np.ndarray:
    """Gains that bring each clip's head peak to its target: [B, N], [B] -> [B]."""
    peak = head_peak(clips, sample_rate)
    return np.where(peak > 0, np.asarray(targets, np.float64) / np.maximum(peak, 1e-12), 0.0)


def limit_gains(
    clips: np.ndarray, gains: np.ndarray, max_peak: float = MAX_IMPACT_PEAK
) -> np.ndarray:
    """Lower any gain that would lift its whole clip above `max_peak`: [B, N], [B] -> [B]."""
    top = np.abs(np.atleast_2d(np.asarray(clips))).max(axis=1) if np.size(clips) else np.zeros(0)
    gains = np.asarray(gains, np.float64)
    return np.where(top * gains > max_peak, max_peak / np.maximum(top, 1e-12), gains)
