"""physfoley in the browser: a Gradio Blocks app over the library (`physfoley web`).

Two tabs. *Video -> sound*: upload a video (or take the demo scene), synthesise, see the
impacts on the timeline and in a table, the striker's speed and the soundtrack's spectrogram,
hear it, watch the video with it, download wav, mp4 and JSON; move, add or delete impact
times and synthesise again; pick one impact and move its physics sliders to make only that one
again. *Sound -> physics*: upload a recording, see its modes, edit them with the same sliders,
hear and download the result and its `.npz`. Two named API endpoints serve scripts
(gradio_client): `/synthesize` (video, model name or "", seed) -> (audio, muxed video, the JSON
of `synthesize --json`) and `/analyze` (audio) -> the JSON of `analyze --json`.

Any model directory serves, of either family: the app reads its family. A per-impact model
gives the impacts, their table and their sliders; a diff-foley (whole-soundtrack) model gives
the whole soundtrack, its spectrogram and a table of the onsets found in it, and the page says
that the impact times and sliders (per-impact models only) are disabled.

This module holds the handlers (the page that calls them is `physfoley.web.layout`). Every
job runs in one queue, one at a time; every file is written in the app's temporary folder
(`Workspace`) and goes with its job; uploads of the wrong type or over the size limit are
refused with a message in the page; any failure is one message and the app serves on.
"""

from __future__ import annotations

import functools
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from physfoley.web import backend
from physfoley.web.layout import build_blocks
from physfoley.web.plots import spectrogram_figure, timeline_figure
from physfoley.web.session import (
    IMPACT_COLUMNS,
    ONSET_COLUMNS,
    SoundJob,
    SoundtrackJob,
    VideoJob,
    Workspace,
    close_job,
)

log = logging.getLogger(__name__)

#: Video containers the app takes.
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm")
#: What the page says under a diff-foley model's soundtrack ({model} is its name and family).
PER_IMPACT_ONLY = (
    "**The impact times and the physics sliders apply to per-impact models only**: {model} "
    "makes the whole soundtrack at once from the picture, so they are disabled. The table lists "
    "the onsets detected in the generated soundtrack."
)
#: Audio files the sound tab takes (what soundfile reads everywhere).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


@dataclass(frozen=True)
class WebSettings:
    """What `physfoley web` configures: the model offered by default and the upload limit."""

    model: str | None = None
    max_upload_mb: float = 200.0

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def _without_folders(message: str) -> str:
    """'/tmp/gradio/3f.../clip.mp4 is not ...' -> 'clip.mp4 is not ...': the server's folders
    mean nothing to the user (and are none of their business)."""
    return re.sub(r"(?:/[^/\s]+)+/([^/\s]+)", r"\1", message)


def user_errors(fn):
    """Show every failure of a handler as one message in the page (the app serves on)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except backend.PhysfoleyError as err:
            raise gr.Error(_without_folders(str(err))) from None
        except Exception as err:
            log.exception("physfoley web: %s failed", fn.__name__)
            raise gr.Error(f"physfoley failed: {type(err).__name__}: {err}") from None

    return wrapper


class WebApp:
    """The app: its settings, its models, its temporary folder and its Blocks."""

    def __init__(self, settings: WebSettings | None = None) -> None:
        self.settings = settings or WebSettings()
        self.shelf = backend.ModelShelf.from_option(self.settings.model)
        self.workspace = Workspace()
        self.blocks = build_blocks(self)

    def close(self) -> None:
        """Remove every file the app wrote."""
        self.workspace.close()

    # ------------------------------------------------------------------ checks
    def check_upload(self, path, suffixes: tuple[str, ...], what: str) -> Path:
        """The uploaded file, or `gr.Error` when missing, of the wrong type or too large."""
        if not path:
            raise gr.Error(f"Upload a {what} first.")
        path = Path(path)
        if path.suffix.lower() not in suffixes:
            kinds = ", ".join(s.lstrip(".") for s in suffixes)
            raise gr.Error(
                f"{path.name} is refused: {path.suffix or 'no extension'} is not a {what} "
                f"type the app takes ({kinds})."
            )
        if not path.is_file():  # the page names the file before its upload has landed
            raise gr.Error(
                f"{path.name} has not arrived yet: wait for its upload to finish (or upload it "
                "again), then try again."
            )
        size = path.stat().st_size
        if size > self.settings.max_upload_bytes:
            raise gr.Error(
                f"{path.name} is refused: {size / 2**20:.1f} MB is over the upload limit of "
                f"{self.settings.max_upload_mb:g} MB."
            )
        return path

    # ------------------------------------------------------------------ video -> sound
    @user_errors
    def synthesize(self, video, model, seed, job, progress=gr.Progress()):  # noqa: B008 (gradio idiom)
        """/synthesize: (video, model name or "", seed) -> (wav, muxed video, JSON)."""
        path = self.check_upload(video, VIDEO_SUFFIXES, "video")
        pipe = self.shelf.load(model or "")
        close_job(job)
        label = self.shelf.describe(model or "")
        kind = SoundtrackJob if backend.is_soundtrack_model(pipe) else VideoJob
        folder = self.workspace.folder("video")
        # the job keeps its own copy: edits decode the video again after gradio's cache may
        # have dropped the upload (another session's close, the cache sweep)
        (folder / "input").mkdir()
        path = Path(shutil.copy2(path, folder / "input" / path.name))
        job = kind(folder, path, pipe, int(seed or 0), label)
        job.run(lambda fraction, message: progress(fraction, desc=message))
        return str(job.files["wav"]), str(job.files["video"]), job.document, job

    @staticmethod
    def per_impact_job(job, what: str):
        """The job, or `gr.Error` when there is none or it is a whole-soundtrack job."""
        if job is None:
            raise gr.Error(f"Synthesize a video{what} first.")
        if isinstance(job, SoundtrackJob):
            raise gr.Error(
                f"{job.model} makes whole soundtracks: impact times and physics sliders apply "
                "to per-impact models only; choose one (e.g. small) and synthesize again."
            )
        return job

    @user_errors
    def retime(self, job, text, progress=gr.Progress()):  # noqa: B008 (gradio idiom)
        job = self.per_impact_job(job, "")
        try:
            times = backend.parse_times(text) if text and text.strip() else []
        except backend.InputError:
            raise gr.Error(
                f"Impact times are seconds separated by commas, e.g. 0.5, 1.2; got {text!r}"
            ) from None
        job.retime(times, lambda fraction, message: progress(fraction, desc=message))
        return str(job.files["wav"]), str(job.files["video"]), job.document, job

    @user_errors
    def edit_impact(self, job, index, freq, decay, gain, speed, mass, material):
        job = self.per_impact_job(job, " and pick an impact")
        if index is None:
            raise gr.Error("Synthesize a video and pick an impact first.")
        edit = backend.ImpactEdit(
            freq_scale=float(freq),
            decay_scale=float(decay),
            gain_db=float(gain),
            speed_scale=float(speed),
            mass_scale=float(mass),
            material=material or None,
        )
        job.edit(int(index), edit)
        return str(job.files["wav"]), str(job.files["video"]), job.document, job

    def video_views(self, job, selected=None):
        """Everything shown about a job: status, table, plots, impact picker, downloads."""
        if job is None or job.result is None:
            return (gr.skip(),) * 15
        if isinstance(job, SoundtrackJob):
            return self.soundtrack_views(job)
        result, n = job.result, len(job.result.impacts)
        selected = None if not n else min(int(selected or 0), n - 1)
        edit = job.edits[selected] if selected is not None else backend.ImpactEdit()
        status = f"**{n} impacts** on {result.duration_s:.2f} s of video; model {job.model}"
        status += f", seed {job.seed}" + (
            f"; mix scaled by {result.gain:.2f} so that overlapping impacts do not clip."
            if result.normalized
            else "."
        )
        picks = zip(job.times(), job.labels(), strict=True)
        choices = [(f"{i + 1}: {t:.3f} s, {m}", i) for i, (t, m) in enumerate(picks)]
        materials = [("as retrieved", "")] + [(m, m) for m in backend.bank_materials(job.pipe)]
        on = {"interactive": True}
        return (
            status,
            "",
            {"headers": IMPACT_COLUMNS, "data": job.rows()},
            timeline_figure(
                job.track.times_s,
                job.track.speed_px_s,
                job.times(),
                job.labels(),
                duration_s=result.duration_s,
                selected=selected,
            ),
            spectrogram_figure(
                result.audio, result.sample_rate, job.times(), job.labels(), selected=selected
            ),
            gr.update(choices=choices, value=selected, **on),
            gr.update(value=", ".join(f"{t:.3f}" for t in job.times()), **on),
            gr.update(**on),
            [str(p) for p in job.files.values()],
            gr.update(choices=materials, value=edit.material or "", **on),
            gr.update(value=edit.freq_scale, **on),
            gr.update(value=edit.decay_scale, **on),
            gr.update(value=edit.gain_db, **on),
            gr.update(value=edit.speed_scale, **on),
            gr.update(value=edit.mass_scale, **on),
        )

    def soundtrack_views(self, job: SoundtrackJob):
        """The views of a diff-foley soundtrack: its onsets instead of impacts, no timeline of
        the striker, and the per-impact controls disabled (the page says why)."""
        result, doc = job.result, job.document
        status = (
            f"**Whole soundtrack** of {result.duration_s:.2f} s, {len(doc['onsets'])} onsets "
            f"detected in it; model {job.model}, seed {job.seed}, {doc['sampler']} x "
            f"{doc['steps']} steps, {len(doc['window_starts_s'])} windows."
        )
        off = {"interactive": False}
        labels = ["onset"] * len(job.times())
        return (
            status,
            PER_IMPACT_ONLY.format(model=job.model),
            {"headers": ONSET_COLUMNS, "data": job.rows()},
            None,
            spectrogram_figure(
                result.wave,
                result.sample_rate,
                job.times(),
                labels,
                title="Spectrogram of the whole soundtrack, its detected onsets dashed",
            ),
            gr.update(choices=[], value=None, **off),
            gr.update(value="", **off),
            gr.update(**off),
            [str(p) for p in job.files.values()],
            gr.update(choices=[("as retrieved", "")], value="", **off),
            *(gr.update(value=v, **off) for v in (1.0, 1.0, 0.0, 1.0, 1.0)),
        )

    @user_errors
    def demo_video(self, progress=gr.Progress()):  # noqa: B008 (gradio idiom)
        progress(0.1, desc="rendering the demo scene (a stick on metal and wood)")
        return str(backend.demo_scene(self.workspace.root / "demo"))

    # ------------------------------------------------------------------ sound -> physics
    @user_errors
    def analyze_api(self, audio):
        """/analyze: (audio) -> the JSON of `analyze --json`."""
        path = self.check_upload(audio, AUDIO_SUFFIXES, "recording")
        return backend.analyze_recording(path).document

    @user_errors
    def analyze(self, audio, preset, residual, job):
        path = self.check_upload(audio, AUDIO_SUFFIXES, "recording")
        close_job(job)
        job = SoundJob(self.workspace.folder("sound"), path, preset, bool(residual))
        return (job.analysis.document,) + self.sound_views(job) + (1.0, 1.0, 0.0, 1.0, 1.0)

    @user_errors
    def edit_sound(self, job, freq, decay, gain, speed, mass):
        if job is None:
            raise gr.Error("Analyse a recording first.")
        job.edit(
            backend.ImpactEdit(
                freq_scale=float(freq),
                decay_scale=float(decay),
                gain_db=float(gain),
                speed_scale=float(speed),
                mass_scale=float(mass),
            )
        )
        return self.sound_views(job)

    def sound_views(self, job):
        files = [str(job.files[k]) for k in ("wav", "npz")]
        return str(job.files["plot"]), job.rows(), str(job.files["wav"]), files, job

    # ------------------------------------------------------------------ layout
    def launch(self, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False, **kwargs):
        """Serve the app (blocking unless `prevent_thread_lock=True`)."""
        return self.blocks.launch(
            server_name=host,
            server_port=port,
            share=share,
            max_file_size=self.settings.max_upload_bytes,
            show_error=True,
            **kwargs,
        )
