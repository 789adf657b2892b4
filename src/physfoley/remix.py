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
- its level: gain, and the strength of the hit, whose kinetic energy E = m v^2 / 2 sets the
  level: the radiated amplitude is taken as proportional to sqrt(E), so twice the speed is
  +6 dB and twice the mass +3 dB (a stated first-order assumption: the per-impact model has no
  speed or mass condition of its own).

`mix_impacts` then places the clips on the video's timeline exactly as `synthesize` does.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
import torch

from physfoley.audio.params import PHYSICS_KEYS
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


@dataclass(frozen=True)
class ImpactEdit:
    """How one impact's sound is changed; the defaults change nothing.

    freq_scale : every frequency times this (2 = an octave up)
    decay_scale : every decay rate times this (0.5 = rings twice as long)
    gain_db : level change in dB
    speed_scale, mass_scale : the hit's speed and the striker's mass times these; they set the
        level through the kinetic energy (amplitude ~ speed * sqrt(mass))
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
        """Total level change in dB: gain + 20 log10(speed) + 10 log10(mass)."""
        return (
            self.gain_db + 20.0 * math.log10(self.speed_scale) + 10.0 * math.log10(self.mass_scale)
        )


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
    pipeline's vocoder turns back into sound; with neither, the clip itself is kept. The
    material of `edit` is not looked at here (see `synthesize_impact`).
    """
    clip = sound.clip
    if edit.freq_scale != 1.0 or edit.decay_scale != 1.0:
        spec = edit_spectrogram(
            sound.spectrogram, freq_scale=edit.freq_scale, decay_scale=edit.decay_scale
        )
        clip = pipe.vocode(torch.from_numpy(spec[None]))[0]
    return (clip * np.float32(10.0 ** (edit.level_db / 20.0))).astype(np.float32)


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
) -> ImpactSound:
    """Generate the sound of the one impact at `time_s`, borrowing the physics of the nearest
    training clip of `material` (None: of any material, as `ImpactPipeline.synthesize` does).

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
    return ImpactSound(
        time_s=float(time_s),
        frame=int(onset[0]),
        neighbour=found.clip_ids[0],
        neighbour_material=found.materials[0],
        distance=float(found.distances[0, 0]),
        clip=pipe.vocode(spec)[0],
        spectrogram=spec.float().cpu().numpy()[0],
    )


def mix_impacts(
    clips: np.ndarray, times_s, *, duration_s: float, sample_rate: int
) -> tuple[np.ndarray, float]:
    """Clips [B, n] placed at times_s [B] on a timeline of duration_s, mixed without clipping.

    Returns (audio np.ndarray[round(duration_s * sample_rate)] float32, gain <= 1), the same
    mix as `ImpactPipeline.synthesize`.
    """
    starts = np.round(np.asarray(times_s, np.float64) * sample_rate).astype(np.int64)
    length = int(round(duration_s * sample_rate))
    return mix_without_clipping(place_on_timeline(clips, starts, length))
