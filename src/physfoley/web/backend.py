"""The web app's one door into the physfoley library: every call the app makes goes through here.

The app (`physfoley.web.app`, `physfoley.web.session`) imports nothing else from physfoley, so
when the library's modules move, only this file's imports change. Each function here is a
line or two over a public library function; the JSON documents the app returns are the
library's (`outputs.result_json`, `outputs.soundtrack_json`, `audio.params.analysis_json`), as
the CLI prints them. Models load through `families.load_pipeline`, so either family serves: a
per-impact model gives an `ImpactPipeline`, a diff-foley one a `SoundtrackPipeline`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from physfoley import remix
from physfoley.audio.analysis import analyze
from physfoley.audio.io import write_audio
from physfoley.audio.onsets import read_analysis_window
from physfoley.audio.params import ModalParams, analysis_json
from physfoley.audio.plots import plot_modal_analysis
from physfoley.audio.synthesis import resynthesize
from physfoley.commands.synthesize import parse_times
from physfoley.config import AudioConfig, get_preset
from physfoley.data.synthhits import generate_video
from physfoley.demo import DEMO_MATERIALS, DEMO_SCENE_SEED, DEMO_SECONDS
from physfoley.errors import InputError, PhysfoleyError
from physfoley.families import SHIPPED_MODELS, load_pipeline, resolve_model
from physfoley.model_dir import PER_IMPACT, model_dir_family
from physfoley.outputs import result_json, soundtrack_json
from physfoley.outputs import write_soundtrack as write_outputs
from physfoley.pipeline import ImpactPipeline, SynthesisResult, decode_video
from physfoley.remix import ImpactEdit
from physfoley.soundtrack_pipeline import SoundtrackPipeline, SoundtrackResult
from physfoley.video.events import ImpactEvent, detect_impacts
from physfoley.video.io import VideoFrames
from physfoley.video.peaks import MotionTrack
from physfoley.video.windows import frame_index_at

#: Library names the app uses as they are (re-exported from here).
__all__ = ["ImpactEdit", "InputError", "PhysfoleyError", "parse_times"]

#: Name of the shipped default model in the app's model list.
SHIPPED_MODEL = "small"
#: The family whose sliders and impact times the app offers (`model_dir.PER_IMPACT`).
PER_IMPACT_FAMILY = PER_IMPACT


# ---------------------------------------------------------------------- models
class ModelShelf:
    """The models the app offers, by name, each loaded once on first use (either family).

    models : name -> model directory. `default` is used for "". The shipped models that are
    installed (`families.SHIPPED_MODELS`) are always offered; `--model NAME|DIR` adds one.
    """

    def __init__(self, models: dict[str, str | os.PathLike], default: str) -> None:
        if default not in models:
            raise InputError(f"default model {default!r} is not one of {sorted(models)}")
        self.models = {name: Path(path) for name, path in models.items()}
        self.default = default
        self._loaded: dict[str, ImpactPipeline | SoundtrackPipeline] = {}

    @classmethod
    def from_option(cls, model: str | None) -> ModelShelf:
        """The installed shipped models plus `--model NAME|DIR` (a shipped name, or a model
        directory of either family, listed by its folder name), which becomes the default."""
        models = {name: path for name, path in SHIPPED_MODELS.items() if path.is_dir()}
        if model in (None, ""):
            return cls(models, SHIPPED_MODEL)
        path = Path(model)
        if model in SHIPPED_MODELS and not path.exists():
            models[model] = resolve_model(model)  # ModelError when it is not installed
            return cls(models, model)
        if not path.is_dir():
            raise InputError(
                f"--model {model}: not a model directory, nor a shipped model name "
                f"({', '.join(SHIPPED_MODELS)})"
            )
        model_dir_family(path)  # ModelError now for a directory that holds no model
        models[path.resolve().name] = path
        return cls(models, path.resolve().name)

    @property
    def names(self) -> list[str]:
        return list(self.models)

    def _path(self, name: str) -> Path:
        name = name or self.default
        if name not in self.models:
            raise InputError(f"unknown model {name!r}; choose one of {', '.join(self.models)}")
        return self.models[name]

    def load(self, name: str) -> ImpactPipeline | SoundtrackPipeline:
        """The pipeline of model `name` ("" for the default), of the family its directory
        states; `InputError` for an unknown name, `ModelError` for a broken directory."""
        path, name = self._path(name), name or self.default
        if name not in self._loaded:
            self._loaded[name] = load_pipeline(path)
        return self._loaded[name]

    def family(self, name: str) -> str:
        """The family its model directory's config.json states ("per-impact", "diff-foley")."""
        return model_dir_family(self._path(name))

    def describe(self, name: str) -> str:
        """'small (per-impact)': the model's name and family."""
        name = name or self.default
        return f"{name} ({self.family(name)})"


def is_soundtrack_model(pipe) -> bool:
    """True for a whole-soundtrack (diff-foley) pipeline: no impacts, no per-impact edits."""
    return isinstance(pipe, SoundtrackPipeline)


# ---------------------------------------------------------------------- video -> sound
def decode(path: str | os.PathLike) -> VideoFrames:
    """Decode a video the way `synthesize` does (longer side at most 480 px)."""
    return decode_video(path)


def detect(frames: VideoFrames) -> tuple[list[ImpactEvent], MotionTrack]:
    """The impacts `synthesize` would find, with the striker's motion track (for the plot)."""
    return detect_impacts(frames, return_track=True)


def synthesize(
    pipe: ImpactPipeline, frames: VideoFrames, times_s: list[float], seed: int
) -> SynthesisResult:
    return pipe.synthesize(frames, times=times_s, seed=seed)


def synthesize_soundtrack(pipe: SoundtrackPipeline, video: Path, seed: int) -> SoundtrackResult:
    """The whole soundtrack of `video` with the model's own sampling settings, as
    `physfoley synthesize --model DIR --seed SEED` makes it for a diff-foley model."""
    return pipe.synthesize(video, seed=seed)


def soundtrack_document(result: SoundtrackResult, wav: Path, video: Path | None) -> dict:
    """The JSON document of `synthesize --json` for a diff-foley result (with its onsets)."""
    return {"audio": str(wav), "video": str(video) if video else None, **soundtrack_json(result)}


def speed_at(track: MotionTrack, time_s: float) -> float:
    """The striker's speed (px/s) at the frame of the motion track nearest to `time_s`."""
    return float(track.speed_px_s[frame_index_at(track.times_s, time_s)])


def write_soundtrack(
    video: str | os.PathLike, audio: np.ndarray, sample_rate: int, out_dir: Path
) -> tuple[Path, Path]:
    """Write out_dir/soundtrack.wav and the video with it (mp4; mkv when mp4 cannot hold the
    picture's codec), as `synthesize --video-out` does. Returns (wav, video)."""
    wav, mp4, mkv = out_dir / "soundtrack.wav", out_dir / "video.mp4", out_dir / "video.mkv"
    try:
        write_outputs(audio, sample_rate, wav, video=video, video_out=mp4, force=True)
        return wav, mp4
    except InputError:  # the picture's codec does not fit in mp4
        write_outputs(audio, sample_rate, wav, video=video, video_out=mkv, force=True)
        return wav, mkv


def synthesis_json(result: SynthesisResult, wav: Path, video: Path | None) -> dict:
    """The JSON document of `synthesize --json` for this result written to `wav` (and `video`)."""
    return {"audio": str(wav), "video": str(video) if video else None, **result_json(result)}


def bank_materials(pipe: ImpactPipeline) -> list[str]:
    return remix.bank_materials(pipe.bank)


def synthesize_impact(pipe, frames, like, material: str | None, seed: int):
    """Impact `like` made again with physics of `material`, its hit (and so its level) kept."""
    return remix.synthesize_impact(
        pipe, frames, like.time_s, material=material, seed=seed, like=like
    )


def edit_impact(pipe, sound, edit: ImpactEdit) -> np.ndarray:
    return remix.edit_impact(pipe, sound, edit)


def mix_impacts(clips, times_s, duration_s: float, sample_rate: int):
    return remix.mix_impacts(clips, times_s, duration_s=duration_s, sample_rate=sample_rate)


def demo_scene(out_dir: Path) -> Path:
    """The demo's SynthHits scene (a stick on metal and wood), silent, written once."""
    video = out_dir / "scene_denoised.mp4"
    if not video.is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
        generate_video(
            out_dir,
            "scene",
            seed=DEMO_SCENE_SEED,
            seconds=DEMO_SECONDS,
            materials=DEMO_MATERIALS,
            mp4_audio=False,
        )
    return video


# ---------------------------------------------------------------------- sound -> physics
@dataclass
class Analysis:
    """One recording analysed as `physfoley analyze` does.

    clip : np.ndarray[n] the analysed window; cfg : its preset; params : its modes (+ residual);
    onset_s : where the window starts in the recording (None: the whole recording);
    document : the JSON of `analyze --json`.
    """

    clip: np.ndarray
    cfg: AudioConfig
    params: ModalParams
    onset_s: float | None
    document: dict


def analyze_recording(path: str | os.PathLike, preset: str = "paper", residual: bool = False):
    """Analyse `path` exactly as `physfoley analyze [--residual] --json` does."""
    cfg = get_preset(preset)
    clip, onset_s, _ = read_analysis_window(path, cfg)
    if not clip.any():
        raise InputError(f"{Path(path).name} is silent in its analysis window; nothing to analyse")
    params = analyze(clip, cfg.sample_rate, preset=cfg, residual=residual)
    return Analysis(clip, cfg, params, onset_s, analysis_json(params, path, cfg.name, onset_s))


def edit_recording(analysis: Analysis, edit: ImpactEdit) -> tuple[np.ndarray, ModalParams]:
    """The edited parameters and their sound at the recording's level, as `physfoley edit`
    makes it (the level change of `edit` included; limited to 0 dBFS)."""
    params = analysis.params
    edited = params.scaled(
        freq_scale=edit.freq_scale, decay_scale=edit.decay_scale, gain_db=edit.level_db
    )
    peak = float(np.asarray(params.input_peak).reshape(-1)[0])
    wave = resynthesize(edited, level_from=params) * peak
    top = float(np.abs(wave).max()) if wave.size else 0.0
    return (wave / top if top > 1.0 else wave).astype(np.float32), edited


def write_sound(path: Path, wave: np.ndarray, sample_rate: int) -> Path:
    return Path(write_audio(path, wave, sample_rate, force=True))


def save_params(params: ModalParams, path: Path) -> Path:
    return Path(params.save(path, force=True))


def plot_modes(wave: np.ndarray, params: ModalParams, cfg: AudioConfig, path: Path, title: str):
    """The figure of `analyze --plot`: spectrogram with the strongest modes, their decays."""
    return plot_modal_analysis(wave, params, cfg, path, title=title, force=True)


def strongest_modes(params: ModalParams, top: int) -> list[dict]:
    """The `top` strongest spectral peaks (freq_hz, power_db, decay_db_per_s, ...)."""
    return params.modes_table(top, peaks_only=True)
