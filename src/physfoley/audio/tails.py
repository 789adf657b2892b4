"""Ringing tails: continue a short impact clip for as long as its physics rings.

The diffusion model generates a fixed window (0.25 s) per impact; a metal or glass object rings
for seconds. `ring_time_s` reads from modal parameters how long the sound takes to decay by
`floor_db` (60 dB by default, capped at `MAX_TAIL_S`), and `extend_clips` continues each head
with the modal sum of eq. 4 (plus the residual noise bands of eq. 5-6) of those parameters, run
for the whole length: the continuation is level-matched to the head's last `CROSSFADE_S` and
joined with a level-preserving crossfade, so there is no click, level jump or change of timbre at
the seam. The parameters come either from analysing the head itself (`analyze`,
`physfoley.audio.analysis`) or from the retrieved neighbour's physics (the pipeline chooses).
Synthesis is the blocked matrix product of `modal_synthesis`: no loop per sample or per mode.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from physfoley.audio.params import ModalParams
from physfoley.audio.synthesis import resynthesize

#: Longest tail (seconds after the hit): a bell may ring longer, a soundtrack need not carry it.
MAX_TAIL_S = 4.0
#: Longest sound `physfoley resynth` / `edit` write when no --duration is given.
MAX_RESYNTH_S = 10.0
#: A tail ends when the sound has decayed this far below its start (T60).
TAIL_FLOOR_DB = 60.0
#: Length of the crossfade from the generated head into its continuation (seconds).
CROSSFADE_S = 0.025
#: Fade at the very end of a tail (seconds), once it is `TAIL_FLOOR_DB` down.
END_FADE_S = 0.02


def bounded_decays(
    params: ModalParams, *, floor_db: float = TAIL_FLOOR_DB, max_s: float
) -> ModalParams:
    """`params` with every mode decaying at least `floor_db` over `max_s` seconds.

    The analysis of a short clip fits a decay of 0 dB/s to bins whose envelope does not fall
    within the window (stationary noise, a rising skirt): continued for seconds they would
    be endless tones. No physical mode rings for ever; a tail ends by `max_s` anyway.
    """
    slowest = floor_db / max(max_s, 1e-3)
    decay = np.maximum(np.asarray(params.decay_db_per_s, np.float32), np.float32(slowest))
    return dataclasses.replace(params, decay_db_per_s=decay)


def ring_time_s(
    params: ModalParams, *, floor_db: float = TAIL_FLOOR_DB, max_s: float = MAX_TAIL_S
) -> np.ndarray:
    """Seconds until each clip's modes have all decayed `floor_db` below the loudest mode's start.

    params : batched `ModalParams` [B, K] (power in dB, decay in dB/s). A mode k that starts
    at p_k is below the floor max_k p - floor_db after (p_k - floor) / lambda_k seconds; the
    ring time is the latest of these, clipped to [params' own length, max_s]. Residual bands
    (weights in [0, 1], relative to the peak-normalised modes) count the same way. -> [B].
    """
    power = np.atleast_2d(np.asarray(params.power_db, np.float64))
    decay = np.maximum(np.atleast_2d(np.asarray(params.decay_db_per_s, np.float64)), 1e-3)
    floor = power.max(axis=-1, keepdims=True) - floor_db
    t = np.where(power > floor, (power - floor) / decay, 0.0).max(axis=-1)
    if params.has_residual:
        # band level relative to the modes' peak (resynthesize peak-normalises the modes to 1)
        band_db = 20 * np.log10(np.maximum(np.atleast_2d(params.band_weight), 1e-12))
        band_decay = np.maximum(np.atleast_2d(params.band_decay_db_per_s), 1e-3)
        t = np.maximum(
            t, np.where(band_db > -floor_db, (band_db + floor_db) / band_decay, 0).max(-1)
        )
    head_s = params.num_samples / params.sample_rate
    return np.clip(t, head_s, max(max_s, head_s))


def with_ring_length(
    params: ModalParams,
    duration_s: float | None = None,
    *,
    floor_db: float = TAIL_FLOOR_DB,
    max_s: float = MAX_RESYNTH_S,
) -> ModalParams:
    """`params` set to synthesise `duration_s` seconds, or (None) until the sound has decayed
    by `floor_db` (`ring_time_s`, at most `max_s`): what `physfoley resynth` and `edit` write."""
    params = bounded_decays(params, floor_db=floor_db, max_s=max_s)
    if duration_s is None:
        duration_s = float(np.max(ring_time_s(params, floor_db=floor_db, max_s=max_s)))
    return dataclasses.replace(
        params, num_samples=max(1, int(round(duration_s * params.sample_rate)))
    )


def fade_end(wave: np.ndarray, sample_rate: int, fade_s: float = END_FADE_S) -> np.ndarray:
    """`wave` [..., N] with a half-cosine fade over its last `fade_s`: a cut that does not click."""
    wave = np.array(wave, np.float32)
    n = min(wave.shape[-1], max(1, int(fade_s * sample_rate)))
    wave[..., -n:] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
    return wave


def extend_clips(
    heads: np.ndarray,
    params: ModalParams,
    *,
    floor_db: float = TAIL_FLOOR_DB,
    max_s: float = MAX_TAIL_S,
    crossfade_s: float = CROSSFADE_S,
) -> tuple[np.ndarray, np.ndarray]:
    """Continue each head with the sound of its parameters until it has decayed by `floor_db`.

    heads : np.ndarray[B, N] float32, the generated clips (not faded out at their end).
    params : batched `ModalParams` [B, K] describing each head's physics (any length).
    Returns (clips np.ndarray[B, L] float32, lengths np.ndarray[B] int64 samples): clip b is its
    head up to N - crossfade, a crossfade into the continuation scaled to the
    head's RMS over that crossfade (level-preserving for coherent and unrelated signals), then the continuation until `ring_time_s`, a short fade,
    and zeros. L is the longest length of the batch (>= N).
    """
    heads = np.atleast_2d(np.asarray(heads, np.float32))
    b, n = heads.shape
    sr = int(params.sample_rate)
    params = bounded_decays(params, floor_db=floor_db, max_s=max_s)
    ring_s = ring_time_s(params, floor_db=floor_db, max_s=max_s)
    lengths = np.maximum(np.round(ring_s * sr).astype(np.int64), n)
    total = int(lengths.max()) if b else n
    if b == 0 or total <= n:
        return heads.copy(), np.full(b, n, np.int64)
    longer = dataclasses.replace(params, num_samples=total, gain_db=0.0)
    tail = np.atleast_2d(resynthesize(longer, normalize=True)).astype(np.float32)  # [B, L]
    xf = max(1, min(int(round(crossfade_s * sr)), n // 2))
    seam = slice(n - xf, n)
    head_rms = np.sqrt(np.mean(heads[:, seam] ** 2, axis=1))
    tail_rms = np.sqrt(np.mean(tail[:, seam] ** 2, axis=1))
    tail *= (head_rms / np.maximum(tail_rms, 1e-12))[:, None]
    # A linear crossfade keeps the level of coherent signals and dips 3 dB for unrelated ones;
    # dividing by the expected RMS of the blend, sqrt((1-w)^2 + w^2 + 2 rho w (1-w)) with rho
    # the two signals' correlation over the seam, keeps it constant for both.
    h, c = heads[:, seam].astype(np.float64), tail[:, seam].astype(np.float64)
    rho = (h * c).sum(1) / np.maximum(np.sqrt((h**2).sum(1) * (c**2).sum(1)), 1e-20)
    w = ((np.arange(xf) + 0.5) / xf)[None, :]
    norm = np.sqrt((1 - w) ** 2 + w**2 + 2 * np.clip(rho, -0.5, 1.0)[:, None] * w * (1 - w))
    out = np.zeros((b, total), np.float32)
    out[:, : n - xf] = heads[:, : n - xf]
    out[:, seam] = ((h * (1 - w) + c * w) / norm).astype(np.float32)
    out[:, n:] = tail[:, n:]
    # each clip ends with a short fade at its own ring time, then silence
    fade = max(1, int(END_FADE_S * sr))
    pos = np.arange(total)[None, :] - (lengths[:, None] - fade)
    out *= np.clip(1.0 - (pos + 1) / fade, 0.0, 1.0).astype(np.float32)
    return out, lengths


def tail_level_db(
    wave: np.ndarray,
    sample_rate: int,
    times_s: np.ndarray,
    *,
    head_s=(0.0, 0.25),
    tail_s=(0.30, 0.60),
) -> np.ndarray:
    """Level (dB) of `tail_s` after each hit relative to the first `head_s`: mean power ratio.

    wave : [N] mono soundtrack; times_s : [E] hit times -> [E] (NaN where a window runs past the
    end or the head is silent). The measure of issue 15's tail criterion.
    """
    wave = np.asarray(wave, np.float64)
    start = np.round(np.asarray(times_s, np.float64) * sample_rate).astype(np.int64)

    def power(lo_s: float, hi_s: float) -> np.ndarray:
        lo, hi = start + int(lo_s * sample_rate), start + int(hi_s * sample_rate)
        ok = (lo >= 0) & (hi <= wave.size)
        csum = np.concatenate([[0.0], np.cumsum(wave**2)])
        p = np.where(
            ok, (csum[np.minimum(hi, wave.size)] - csum[np.clip(lo, 0, wave.size)]), np.nan
        )
        return p / max(hi_s - lo_s, 1e-9) / sample_rate

    head, tail = power(*head_s), power(*tail_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10 * np.log10(np.where(head > 0, np.maximum(tail, 1e-20) / head, np.nan))
