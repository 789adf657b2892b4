"""ImpactPipeline: from a silent video to a soundtrack of its impacts (Su et al. Fig. 2-3 at test time).

The one flow, composed from the library's parts:

    video -> frames -> impact times (given, or the detector's) -> 22-frame window per impact
    -> visual encoder -> nu [B, D] -> PhysicsBank (nearest training clip) -> its physics -> mu
    -> denoiser sampled for ALL impacts in one batch -> log-spectrogram [B, F, T]
    -> inverse normalisation -> Griffin-Lim -> 0.25 s waveform per impact
    -> each placed at its time on a timeline exactly as long as the video -> mix (no clipping).

`ImpactPipeline.from_pretrained(DIR)` loads a self-describing model directory (config, weights,
normalisation statistics and the physics bank; `physfoley.model_dir`); with no DIR it loads the
shipped `small` model. The bank itself is built by the diffusion training stage
(`physfoley.training.diffusion.build_physics_bank`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from physfoley.audio import loudness as level_law
from physfoley.audio.analysis import analyze
from physfoley.audio.params import PHYSICS_KEYS, ModalParams
from physfoley.audio.residual import mel_band_edges
from physfoley.audio.spectrogram import griffin_lim, log_spectrogram_inverse
from physfoley.audio.tails import MAX_TAIL_S, extend_clips
from physfoley.config import AudioConfig, ModelConfig
from physfoley.diffusion import samplers
from physfoley.errors import InputError, ModelError
from physfoley.model_dir import load_model_dir
from physfoley.models.factory import ImpactDiffusionModel
from physfoley.retrieval import PhysicsBank
from physfoley.video.events import DEFAULT_METHOD, ImpactEvent, detect_impacts
from physfoley.video.io import VideoFrames
from physfoley.video.speeds import impacts_at
from physfoley.video.stream import (
    TIP_FULL_DECODE_MAX_FRAMES,
    decode_for_detection,
    frames_at,
    tip_frames_near,
)
from physfoley.video.windows import onset_windows

#: The shipped default model (trained on SynthHits with the `small` preset).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "assets" / "models" / "small"
#: Peak the mix is brought down to when overlapping impacts would clip.
MIX_PEAK = 0.99
#: Length of the fade at the end of each generated clip (seconds).
FADE_OUT_S = 0.01
#: Where tails take their physics from: the generated head's own analysis, or the neighbour's.
TAIL_SOURCES = ("head", "neighbour")
#: How each impact's level is set: the calibrated impulse law, or as the model generated it.
LOUDNESS_MODES = ("physics", "model")
#: Adam steps of the residual fit when a head is analysed for its tail (60 for analysis).
TAIL_RESIDUAL_STEPS = 20


@dataclass
class ImpactSound:
    """One synthesised impact.

    time_s : where the clip starts on the soundtrack (the impact time)
    frame : index of the video frame nearest to time_s (centre of the visual window)
    neighbour, neighbour_material : clip id and material of the training clip whose physics
        was borrowed (retrieval, section 3.3); distance : its distance in nu space
    clip : np.ndarray[L] float32, the generated 0.25 s head, continued by its tail when tails are
        on, at its applied gain (before any mixing gain)
    spectrogram : np.ndarray[F, T] float32, the generated normalised log-spectrogram in [-1, 1]
    speed_before_m_s, speed_after_m_s : striker speeds measured in the picture at the hit
        (scaled by speed_scale; None when loudness is "model" and the speeds were not measured)
    mass_kg : striker mass (assumed STRIKER_MASS_KG times mass_scale), impulse_n_s : m (vb + va)
    kinetic_energy_change_j : 0.5 m (vb^2 - va^2)
    speed_source : "measured" by the tip tracker, or "assumed" (loudness.REF_SPEED_M_S) where
        it saw no motion
    gain : the linear gain applied to the generated clip (loudness law times the user's gain)
    """

    time_s: float
    frame: int
    neighbour: str
    neighbour_material: str
    distance: float
    clip: np.ndarray = field(repr=False)
    spectrogram: np.ndarray = field(repr=False)
    speed_before_m_s: float | None = None
    speed_after_m_s: float | None = None
    mass_kg: float | None = None
    impulse_n_s: float | None = None
    kinetic_energy_change_j: float | None = None
    gain: float = 1.0
    speed_source: str | None = None


@dataclass
class SynthesisResult:
    """Output of `ImpactPipeline.synthesize`.

    audio : np.ndarray[N] float32, the soundtrack, N = round(duration_s * sample_rate)
    sample_rate : Hz of `audio` (the model's)
    duration_s : the video's duration
    impacts : one `ImpactSound` per impact, in time order
    normalized : True when overlapping impacts would have clipped and the mix was scaled by
        `gain` (< 1) to a peak of MIX_PEAK; otherwise gain == 1
    sampler, steps, seed, guidance : the sampling settings actually used
    impact_events : the detector's `ImpactEvent`s (time, striker speed, mass, energy change)
        when it found the impact times; empty when the times were given
    video : the decoded video (frame times, frames decoded of those its container announced)
    """

    audio: np.ndarray = field(repr=False)
    sample_rate: int
    duration_s: float
    impacts: list[ImpactSound]
    normalized: bool
    gain: float
    sampler: str
    steps: int
    seed: int
    guidance: float
    impact_events: list[ImpactEvent] = field(default_factory=list)
    video: VideoFrames | None = field(default=None, repr=False)


def place_on_timeline(clips: np.ndarray, start_samples: np.ndarray, length: int) -> np.ndarray:
    """Sum clips [B, n] into a timeline [length], clip b starting at sample start_samples[b].

    Clips running past the end are cut there. One scatter-add, no loop over impacts.
    """
    clips = np.asarray(clips, dtype=np.float32)
    timeline = np.zeros(length, dtype=np.float32)
    if clips.size == 0:
        return timeline
    pos = np.asarray(start_samples, dtype=np.int64)[:, None] + np.arange(clips.shape[1])[None, :]
    inside = (pos >= 0) & (pos < length)
    np.add.at(timeline, pos[inside], clips[inside])
    return timeline


def mix_without_clipping(timeline: np.ndarray, peak: float = MIX_PEAK) -> tuple[np.ndarray, float]:
    """Scale `timeline` down to `peak` only if it would clip (|x| >= 1); returns (audio, gain)."""
    top = float(np.max(np.abs(timeline))) if timeline.size else 0.0
    if top < 1.0:
        return timeline, 1.0
    gain = peak / top
    return (timeline * gain).astype(np.float32), gain


def decode_video(path: str | os.PathLike, method: str = DEFAULT_METHOD) -> VideoFrames:
    """Decode a video for synthesis: the work frames of detector `method`, black bars cropped;
    the visual windows' colour frames are decoded again when needed (`physfoley.video.stream`),
    so memory stays flat in the video's length and size."""
    return decode_for_detection(path, method=method)


class ImpactPipeline:
    """A trained model + its physics bank, ready to give a video its impact sounds."""

    def __init__(
        self,
        model: ImpactDiffusionModel,
        config: ModelConfig,
        bank: PhysicsBank,
        *,
        device: str | torch.device = "cpu",
    ) -> None:
        self.model = model.to(device).eval()
        self.config = config
        self.bank = bank
        self.device = torch.device(device)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike | None = None, *, device: str | torch.device = "cpu"
    ) -> ImpactPipeline:
        """Load a model directory (default: the shipped `small` model).

        Raises `ModelError` (a clear one-line message) when the directory is missing, partial,
        corrupt, or lacks its physics bank.
        """
        directory = Path(directory) if directory is not None else DEFAULT_MODEL_DIR
        if not directory.is_dir():
            if directory == DEFAULT_MODEL_DIR:
                raise ModelError(
                    f"the shipped model is missing from {directory}; reinstall physfoley or "
                    "pass --model DIR"
                )
            raise ModelError(f"model directory {directory} does not exist")
        model, config = load_model_dir(directory)
        bank = PhysicsBank.load(directory)
        return cls(model, config, bank, device=device)

    # ------------------------------------------------------------------ properties
    @property
    def audio(self) -> AudioConfig:
        """The model's AudioConfig (sample rate, STFT, clip length, log-magnitude range)."""
        return self.config.audio

    @property
    def sample_rate(self) -> int:
        return int(self.audio.sample_rate)

    @property
    def image_size(self) -> int:
        """Side in pixels of the square frames the visual encoder gets (`VideoConfig`)."""
        return int(self.config.video.image_size)

    @property
    def frames_per_window(self) -> int:
        """Frames in the window around each impact (`VideoConfig`)."""
        return int(self.config.video.frames_per_window)

    # ------------------------------------------------------------------ stages
    @torch.no_grad()
    def encode_windows(self, windows: np.ndarray) -> torch.Tensor:
        """windows: uint8 [B, 22, S, S, 3] RGB -> visual latents nu: Tensor[B, D]."""
        frames = torch.from_numpy(np.ascontiguousarray(windows)).to(self.device)
        return self.model.visual_latent(frames)

    @torch.no_grad()
    def encode_windows_and_keys(self, windows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """windows: uint8 [B, 22, S, S, 3] RGB -> (nu Tensor[B, D] that conditions the denoiser,
        the PhysicsBank search key Tensor[B, D]; the same tensor unless the model's config asks
        for test-time augmentation, `visual.retrieval_tta`)."""
        frames = torch.from_numpy(np.ascontiguousarray(windows)).to(self.device)
        return self.model.latent_and_key(frames)

    @torch.no_grad()
    def physics_latent(self, physics: dict[str, np.ndarray]) -> torch.Tensor:
        """Physics inputs (name -> [B, K] / [B, M]) -> physics latent mu: Tensor[B, 256]."""
        tensors = {
            k: torch.as_tensor(np.asarray(v, dtype=np.float32), device=self.device)
            for k, v in physics.items()
        }
        return self.model.physics_latent(tensors)

    @torch.no_grad()
    def sample_spectrograms(
        self,
        mu: torch.Tensor,
        nu: torch.Tensor,
        *,
        sampler: str | None = None,
        steps: int | None = None,
        seed: int = 0,
        guidance: float | None = None,
    ) -> tuple[torch.Tensor, str, int]:
        """Sample one normalised log-spectrogram per condition, all in one batch.

        mu: Tensor[B, Dmu], nu: Tensor[B, D] -> (Tensor[B, F, T] in [-1, 1], sampler, steps).
        """
        d = self.config.diffusion
        # Resolved here (not only inside samplers.sample) so the result can report them.
        name, steps = samplers.resolve_sampler(d, sampler, steps)
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        spec = samplers.sample(
            self.model,
            {"mu": mu, "nu": nu},
            sampler=name,
            steps=int(steps),
            guidance=guidance,
            generator=generator,
        )
        num_steps = int(steps)
        if spec.ndim == 4:  # denoisers work on [B, 1, F, T] images
            spec = spec[:, 0]
        return spec, name, num_steps

    def vocode(self, spec: torch.Tensor, *, fade_out: bool = True) -> np.ndarray:
        """Normalised log-spectrogram Tensor[B, F, T] -> waveforms np.ndarray[B, num_samples]
        (faded out over their last FADE_OUT_S unless `fade_out` is False: a tail follows)."""
        magnitude = log_spectrogram_inverse(spec.float().cpu(), self.audio)
        wave = griffin_lim(magnitude, self.audio)
        wave = torch.as_tensor(wave)[..., : self.audio.num_samples]
        out = np.zeros((wave.shape[0], self.audio.num_samples), np.float32)
        out[:, : wave.shape[-1]] = wave.numpy()
        if not fade_out:
            return out
        # A clip is cut at 0.25 s while a ringing object may still sound; a short half-cosine
        # fade keeps that cut from clicking on the soundtrack.
        fade = max(1, int(FADE_OUT_S * self.sample_rate))
        out[:, -fade:] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, fade))).astype(np.float32)
        return out

    # ------------------------------------------------------------------ the hit's physics
    def hit_physics(
        self,
        frames: VideoFrames,
        times_s: np.ndarray,
        speed_scale: float = 1.0,
        mass_scale: float = 1.0,
        meters_per_pixel: float | None = None,
    ) -> dict[str, list]:
        """Striker speeds (m/s) measured in the picture at each time [E] by the tip tracker on
        `frames` (best its colour work frames, `decode_video(path, "tip")`), the assumed mass,
        the impulse m (vb + va) and the kinetic energy lost: name -> list of E floats, and
        "speed_source": "measured", or "assumed" where the tracker saw no motion at all (then
        the law's reference hit, loudness.REF_SPEED_M_S stopped dead).
        meters_per_pixel : metres per pixel of the ORIGINAL picture (default: its longer side
        is SCENE_LONG_SIDE_M)."""
        long_side_px = max(frames.width, frames.height) * frames.scale  # original pixels
        scale = meters_per_pixel or level_law.SCENE_LONG_SIDE_M / long_side_px
        events = impacts_at(frames, times_s, meters_per_pixel=scale * frames.scale)
        vb = np.asarray([ev.speed_before_m_s for ev in events], np.float64)
        va = np.asarray([ev.speed_after_m_s for ev in events], np.float64)
        # nothing tracked at all: the law's reference hit (REF_SPEED_M_S, stopped dead), not silence
        assumed = (vb <= 0) & (va <= 0)
        vb, va = np.where(assumed, level_law.REF_SPEED_M_S, vb), np.where(assumed, 0.0, va)
        vb, va = vb * speed_scale, va * speed_scale
        mass = np.full(len(events), level_law.STRIKER_MASS_KG * mass_scale)
        return {
            "speed_source": ["assumed" if a else "measured" for a in assumed],
            "speed_before_m_s": vb.tolist(),
            "speed_after_m_s": va.tolist(),
            "mass_kg": mass.tolist(),
            "impulse_n_s": level_law.impulse_n_s(mass, vb, va).tolist(),
            "kinetic_energy_change_j": (0.5 * mass * (vb**2 - va**2)).tolist(),
        }

    def tail_params(
        self, heads: np.ndarray, neighbour: dict[str, np.ndarray], source: str = "head"
    ) -> ModalParams:
        """Physics of each head's tail: heads [B, N] analysed ("head") or the retrieved
        neighbours' bank values name -> [B, K] / [B, M] ("neighbour") -> batched ModalParams."""
        sr = self.sample_rate
        if source == "head":
            return analyze(
                heads, sr, preset=self.audio, residual=True, residual_steps=TAIL_RESIDUAL_STEPS
            )
        bands = neighbour.get("band_weight")
        return ModalParams(
            freq_hz=np.asarray(neighbour["freq_hz"], np.float32),
            power_db=np.asarray(neighbour["power_db"], np.float32),
            decay_db_per_s=np.asarray(neighbour["decay_db_per_s"], np.float32),
            sample_rate=sr,
            num_samples=self.audio.num_samples,
            band_weight=None if bands is None else np.asarray(bands, np.float32),
            band_decay_db_per_s=neighbour.get("band_decay_db_per_s"),
            band_edges_hz=None if bands is None else mel_band_edges(sr, np.shape(bands)[-1]),
        )

    # ------------------------------------------------------------------ the whole flow
    def synthesize(
        self,
        video: str | os.PathLike | VideoFrames,
        *,
        times: list[float] | np.ndarray | None = None,
        steps: int | None = None,
        sampler: str | None = None,
        seed: int | None = None,
        guidance: float | None = None,
        tails: bool = True,
        tail_source: str = "neighbour",
        max_tail_s: float = MAX_TAIL_S,
        loudness: str = "physics",
        speed_scale: float = 1.0,
        mass_scale: float = 1.0,
        gains: list[float] | np.ndarray | None = None,
        meters_per_pixel: float | None = None,
        detector: str = DEFAULT_METHOD,
    ) -> SynthesisResult:
        """Give `video` the sound of its impacts.

        video : a path or decoded `VideoFrames`.
        times : impact times in seconds; None runs the impact detector.
        steps, sampler, guidance : diffusion sampling (defaults: the sampler module's).
        seed : makes the result reproducible (None: a random seed, reported in the result).
        tails : continue each generated 0.25 s head until it has decayed by 60 dB (at most
            `max_tail_s` s), from the physics of `tail_source`: "neighbour" (the retrieved
            clip's modes and residual bands; closer to recorded tails on SynthHits, docs/
            pipeline.md) or "head" (the generated clip's own, analysed).
        loudness : "physics" sets each impact's peak from its impulse m (v_before + v_after),
            the striker's speeds measured in the picture at each time (`impacts_at`) and the
            calibrated law of `physfoley.audio.loudness`; "model" keeps the generated level.
        speed_scale, mass_scale : multiply the measured speeds and the assumed striker mass.
        gains : per-impact linear gains (one per impact, in time order) applied on top.
        meters_per_pixel : the video's scale (default: its longer side is SCENE_LONG_SIDE_M).
        detector : the detector that finds the times when none are given ("swing", the
            default, "flow" or "tip": `physfoley.video.events.detect_impacts`).

        Raises `InputError` for an unreadable video, times outside it or bad options.
        """
        if tail_source not in TAIL_SOURCES:
            raise InputError(f"unknown tail source {tail_source!r}; use 'head' or 'neighbour'")
        if loudness not in LOUDNESS_MODES:
            raise InputError(f"unknown loudness {loudness!r}; use 'physics' or 'model'")
        for name, v in (("speed scale", speed_scale), ("mass scale", mass_scale)):
            if not (np.isfinite(v) and v > 0):
                raise InputError(f"{name} must be a positive number, got {v}")
        frames = video if isinstance(video, VideoFrames) else decode_video(video, detector)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**31)
        duration = float(frames.duration_s)
        impact_events: list[ImpactEvent] = []
        if times is None:
            impact_events = detect_impacts(frames, method=detector)
            times_s = np.asarray([ev.time_s for ev in impact_events], dtype=np.float64)
        else:
            times_s = np.asarray(times, dtype=np.float64).reshape(-1)
            bad = times_s[~np.isfinite(times_s) | (times_s < 0) | (times_s >= duration)]
            if bad.size:
                raise InputError(
                    f"impact time {bad[0]:g} s is outside the video (0 to {duration:.3f} s)"
                )
        times_s = np.sort(times_s)
        if gains is not None and len(gains) != times_s.size:
            raise InputError(
                f"{len(gains)} gains given for {times_s.size} impacts; give one per impact"
            )
        sr = self.sample_rate
        length = int(round(duration * sr))
        impacts: list[ImpactSound] = []
        clips = np.zeros((0, self.audio.num_samples), np.float32)
        name = sampler or ""
        num_steps = int(steps or 0)
        if times_s.size:
            # The same windows as the training data (video.windows.onset_windows): nearest frame
            # to each time, onset - 11 ... onset + 10, edge frames repeated.
            onset, idx, _ = onset_windows(frames.times_s, times_s, self.frames_per_window)
            windows = frames_at(frames, idx, self.image_size)
            nu, key = self.encode_windows_and_keys(windows)
            found = self.bank.lookup(key.float().cpu().numpy(), k=1)
            physics = {k: v for k, v in found.values.items() if k in PHYSICS_KEYS}
            mu = self.physics_latent(physics)
            spec, name, num_steps = self.sample_spectrograms(
                mu, nu, sampler=sampler, steps=steps, seed=seed, guidance=guidance
            )
            heads = self.vocode(spec, fade_out=not tails)
            spec_np = spec.float().cpu().numpy()
            # speeds come from the tip tracker, on its own colour work frames: grey work frames
            # (swing, flow; given or decoded here) are decoded again from their file for it
            tip_frames = frames
            if frames.frames.ndim == 3 and frames.path is not None:
                # the whole video when short (the figures of docs/results/pipeline.md were
                # measured so), else only the frames around each impact (memory bounded)
                if frames.num_frames <= TIP_FULL_DECODE_MAX_FRAMES:
                    tip_frames = decode_video(frames.path, "tip")
                else:
                    tip_frames = tip_frames_near(frames, times_s)
            hit = self.hit_physics(tip_frames, times_s, speed_scale, mass_scale, meters_per_pixel)
            if loudness == "physics":
                gain = level_law.impact_gains(heads, level_law.target_peak(hit["impulse_n_s"]), sr)
            else:
                gain = np.ones(len(heads))
            if gains is not None:
                gain = gain * np.asarray(gains, np.float64)
            clips = heads
            if tails:
                clips, _ = extend_clips(
                    heads, self.tail_params(heads, physics, tail_source), max_s=max_tail_s
                )
            # a lone impact never reaches full scale: the law's cap holds for the whole clip
            gain = level_law.limit_gains(clips, gain)
            clips = (clips * gain[:, None]).astype(np.float32)
            for b, t in enumerate(times_s):
                impacts.append(
                    ImpactSound(
                        time_s=float(t),
                        frame=int(onset[b]),
                        neighbour=found.clip_ids[b],
                        neighbour_material=found.materials[b],
                        distance=float(found.distances[b, 0]),
                        clip=clips[b],
                        spectrogram=spec_np[b],
                        gain=float(gain[b]),
                        **{k: v[b] for k, v in hit.items()},
                    )
                )
        starts = np.round(times_s * sr).astype(np.int64)
        audio, gain = mix_without_clipping(place_on_timeline(clips, starts, length))
        return SynthesisResult(
            audio=audio,
            sample_rate=sr,
            duration_s=duration,
            impacts=impacts,
            normalized=gain < 1.0,
            gain=gain,
            sampler=name,
            steps=num_steps,
            seed=seed,
            guidance=float(self.config.diffusion.guidance_scale if guidance is None else guidance),
            impact_events=impact_events,
            video=frames,
        )
