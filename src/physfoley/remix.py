"""Edit one impact of a synthesised soundtrack and mix it again, without redoing the others.

`ImpactPipeline.synthesize` generates every impact of a video in one batch. A sound designer
then changes one of them, and only that one is made again:

- its material: `synthesize_impact` runs the flow for that impact alone (its 22-frame window
  -> visual latent nu and search key -> the nearest training clip *of that material* in the
  physics bank -> physics latent mu -> diffusion -> Griffin-Lim), about half a second on a CPU;
- its pitch and ring time: `edit_impact` changes the generated log-spectrogram as eq. 4 says a
  mode changes (`edit_spectrogram`) and vocodes it again, a few tens of milliseconds (changing
  the physics *condition* instead was tried: the shipped model does not follow conditions that
  far from its training clips, a scaled frequency came out as noise);
- its level: gain, and the strength of the hit: speed and mass scale the impulse
  J = m (v_before + v_after), and the level follows the loudness law of
  `physfoley.audio.loudness` (peak ∝ J^LEVEL_EXPONENT), as `synthesize --speed-scale
  --mass-scale` does: twice the speed or twice the mass is +7.3 dB.

A clip made again keeps the pipeline's tail (to -60 dB, `physfoley.audio.tails`) and its
physics loudness: a new material's clip is brought to the level the impact's impulse gives,
an edited spectrogram's head too, and its tail is continued from the edited head's own modes.
`mix_impacts` then places the clips, of any lengths, on the video's timeline exactly as
`synthesize` does.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
import torch

from physfoley.audio import loudness as level_law
from physfoley.audio.params import PHYSICS_KEYS
from physfoley.audio.tails import extend_clips
from physfoley.errors import InputError
from physfoley.pipeline import (
    ImpactPipeline,
    ImpactSound,
    mix_without_clipping,
    place_on_timeline,
)
from physfoley.retrieval import BankLookup, PhysicsBank
from physfoley.video.io import VideoFrames
from physfoley.video.stream import frames_at
from physfoley.video.windows import onset_windows

#: The hit's fields of an `ImpactSound`, kept when its sound is made again.
HIT_FIELDS = (
    "speed_before_m_s",
    "speed_after_m_s",
    "mass_kg",
    "impulse_n_s",
    "kinetic_energy_change_j",
    "speed_source",
)


@dataclass(frozen=True)
class ImpactEdit:
    """How one impact's sound is changed; the defaults change nothing.

    freq_scale : every frequency times this (2 = an octave up)
    decay_scale : every decay rate times this (0.5 = rings twice as long)
    gain_db : level change in dB
    speed_scale, mass_scale : the hit's speed and the striker's mass times these; they scale
        its impulse and so the level, through the loudness law (peak ~ impulse^LEVEL_EXPONENT)
    material : borrow the physics of the nearest training clip of this material (None: of any
        material, as `ImpactPipeline.synthesize` does)
    """

    freq_scale: float = 1.0
    decay_scale: float = 1.0
    gain_db: float = 0.0
    speed_scale: float = 1.0
    mass_scale: float = 1.0
    material: str | None = None

    def __post_init__(self) -> None:
        for name in ("freq_scale", "decay_scale", "speed_scale", "mass_scale"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise InputError(f"{name} must be a positive number, got {value}")
        if not math.isfinite(self.gain_db):
            raise InputError(f"gain_db must be a finite number of dB, got {self.gain_db}")

    @property
    def level_db(self) -> float:
        """Total level change in dB: gain + LEVEL_EXPONENT * 20 log10(speed * mass), the
        loudness law's change for an impulse scaled by speed * mass."""
        hit = level_law.LEVEL_EXPONENT * 20.0 * math.log10(self.speed_scale * self.mass_scale)
        return self.gain_db + hit


def edit_spectrogram(
    spec: np.ndarray, *, freq_scale: float = 1.0, decay_scale: float = 1.0
) -> np.ndarray:
    """Change the physics of a generated sound in its normalised log-spectrogram.

    spec : np.ndarray[F, T] (or [B, F, T]) in [-1, 1], linear in ln|STFT| (the model's output)
    -> the same shape. A mode of eq. 4 is a line P - lambda t in its bin of the log-spectrogram,
    so the two edits are exact for the modes: `freq_scale` moves every bin's content to scale x
    its frequency (interpolated between bins; what would land above Nyquist is dropped, bins
    left empty are silent) and `decay_scale` multiplies the fall of every bin after its own
    peak frame (0.5 = every mode rings twice as long). The noise around the modes is moved
    and stretched with them.
    """
    spec = np.asarray(spec, np.float32)
    out = spec
    if freq_scale != 1.0:
        num_bins = spec.shape[-2]
        source = np.arange(num_bins) / freq_scale  # fractional bin each bin now takes from
        lower = np.minimum(np.floor(source).astype(np.int64), num_bins - 1)
        upper = np.minimum(lower + 1, num_bins - 1)
        frac = (source - lower)[:, None].astype(np.float32)
        moved = (1.0 - frac) * out[..., lower, :] + frac * out[..., upper, :]
        out = np.where((source <= num_bins - 1)[:, None], moved, np.float32(-1.0))
    if decay_scale != 1.0:
        peak_frame = np.argmax(out, axis=-1)[..., None]  # [..., F, 1]
        peak = np.take_along_axis(out, peak_frame, axis=-1)
        after = np.arange(out.shape[-1]) >= peak_frame
        out = np.where(after, peak + decay_scale * (out - peak), out)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def edit_impact(pipe: ImpactPipeline, sound: ImpactSound, edit: ImpactEdit) -> np.ndarray:
    """The clip of `sound` with `edit`'s frequency, decay and level changes: np.ndarray[n].

    Frequency and decay edit the generated spectrogram (`edit_spectrogram`), which the
    pipeline's vocoder turns back into a head, continued by a tail from its own modes; the head
    gets the level the impact's impulse gives (`sound.gain` when it has none). With neither,
    the clip itself is kept. The level changes by `edit.level_db`, no clip peaking above the
    law's MAX_IMPACT_PEAK. The material of `edit` is not looked at here (`synthesize_impact`).
    """
    clip = sound.clip
    if edit.freq_scale != 1.0 or edit.decay_scale != 1.0:
        spec = edit_spectrogram(
            sound.spectrogram, freq_scale=edit.freq_scale, decay_scale=edit.decay_scale
        )
        head = pipe.vocode(torch.from_numpy(spec[None]), fade_out=False)
        clip, _ = extend_clips(head, pipe.tail_params(head, {}, "head"))
        clip = clip[0] * _hit_gain(pipe, head, sound)
    factor = 10.0 ** (edit.level_db / 20.0)
    if factor == 1.0 and clip is sound.clip:
        return clip
    factor = level_law.limit_gains(clip[None], np.array([factor]))[0]
    return (clip * np.float32(factor)).astype(np.float32)


def _hit_gain(pipe: ImpactPipeline, heads: np.ndarray, like: ImpactSound) -> float:
    """The gain that gives heads [1, N] the level of `like`'s impulse (its gain without one)."""
    if like.impulse_n_s is None:
        return float(like.gain)
    target = level_law.target_peak(np.array([like.impulse_n_s]))
    return float(level_law.impact_gains(heads, target, pipe.sample_rate)[0])


#: Per bank, one sub-bank per material (built on first use).
_MATERIAL_BANKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _material_banks(bank: PhysicsBank) -> dict[str, PhysicsBank]:
    """One sub-bank per material, built once per bank (a flat index over its rows)."""
    cached = _MATERIAL_BANKS.get(bank)
    if cached is None:
        cached = {}
        for material in np.unique(bank.materials):
            rows = np.flatnonzero(bank.materials == material)
            cached[str(material)] = PhysicsBank.build(
                bank.keys[rows],
                {k: v[rows] for k, v in bank.values.items()},
                clip_ids=bank.clip_ids[rows],
                materials=bank.materials[rows],
                metric=bank.metric,
            )
        _MATERIAL_BANKS[bank] = cached
    return cached


def bank_materials(bank: PhysicsBank) -> list[str]:
    """The materials of a physics bank's training clips, sorted."""
    return sorted(str(m) for m in np.unique(bank.materials))


def retrieve_physics(bank: PhysicsBank, keys: np.ndarray, material: str | None) -> BankLookup:
    """Nearest training clip of each search key [B, D], among those of `material` if given."""
    if material is None:
        return bank.lookup(keys, k=1)
    banks = _material_banks(bank)
    if material not in banks:
        raise InputError(
            f"the physics bank has no {material!r} clips; it has {', '.join(sorted(banks))}"
        )
    return banks[material].lookup(keys, k=1)


def impact_windows(
    pipe: ImpactPipeline, frames: VideoFrames, times_s
) -> tuple[np.ndarray, np.ndarray]:
    """The visual encoder's input around each time, as `ImpactPipeline.synthesize` builds it.

    times_s [B] -> (frame nearest each time [B] int, windows uint8 [B, frames_per_window, S, S, 3]).
    """
    onset, idx, _ = onset_windows(
        frames.times_s, np.asarray(times_s, np.float64).reshape(-1), pipe.frames_per_window
    )
    return onset, frames_at(frames, idx, pipe.image_size)


def synthesize_impact(
    pipe: ImpactPipeline,
    frames: VideoFrames,
    time_s: float,
    *,
    material: str | None = None,
    seed: int = 0,
    steps: int | None = None,
    sampler: str | None = None,
    guidance: float | None = None,
    like: ImpactSound | None = None,
) -> ImpactSound:
    """Generate the sound of the one impact at `time_s`, borrowing the physics of the nearest
    training clip of `material` (None: of any material, as `ImpactPipeline.synthesize` does).

    The clip is the generated head continued by its tail (the neighbour's physics, as
    `synthesize` does by default). like : the impact this one replaces; its hit (speeds, mass,
    impulse, speed source) is kept and sets the level through the loudness law (None: the
    generated level, gain 1).

    Raises `InputError` for a time outside the video or a material the bank does not hold.
    """
    if not (math.isfinite(time_s) and 0.0 <= time_s < frames.duration_s):
        raise InputError(
            f"impact time {time_s:g} s is outside the video (0 to {frames.duration_s:.3f} s)"
        )
    onset, windows = impact_windows(pipe, frames, [time_s])
    nu, key = pipe.encode_windows_and_keys(windows)
    found = retrieve_physics(pipe.bank, key.float().cpu().numpy(), material)
    physics = {k: v for k, v in found.values.items() if k in PHYSICS_KEYS}
    mu = pipe.physics_latent(physics)
    spec, _, _ = pipe.sample_spectrograms(
        mu, nu, sampler=sampler, steps=steps, seed=seed, guidance=guidance
    )
    heads = pipe.vocode(spec, fade_out=False)
    clips, _ = extend_clips(heads, pipe.tail_params(heads, physics, "neighbour"))
    hit = {k: getattr(like, k) for k in HIT_FIELDS} if like is not None else {}
    gain = 1.0 if like is None else _hit_gain(pipe, heads, like)
    gain = float(level_law.limit_gains(clips, np.array([gain]))[0])
    return ImpactSound(
        time_s=float(time_s),
        frame=int(onset[0]),
        neighbour=found.clip_ids[0],
        neighbour_material=found.materials[0],
        distance=float(found.distances[0, 0]),
        clip=(clips[0] * gain).astype(np.float32),
        spectrogram=spec.float().cpu().numpy()[0],
        gain=gain,
        **hit,
    )


def mix_impacts(clips, times_s, *, duration_s: float, sample_rate: int) -> tuple[np.ndarray, float]:
    """Clips (B arrays of any lengths, or [B, n]) placed at times_s [B] on a timeline of
    duration_s, mixed without clipping.

    Returns (audio np.ndarray[round(duration_s * sample_rate)] float32, gain <= 1), the same
    mix as `ImpactPipeline.synthesize`.
    """
    longest = max((np.size(c) for c in clips), default=0)
    padded = np.zeros((len(clips), longest), np.float32)
    for row, clip in zip(padded, clips, strict=True):
        row[: np.size(clip)] = clip
    clips = padded
    starts = np.round(np.asarray(times_s, np.float64) * sample_rate).astype(np.int64)
    length = int(round(duration_s * sample_rate))
    return mix_without_clipping(place_on_timeline(clips, starts, length))
