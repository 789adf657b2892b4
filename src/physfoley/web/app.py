"""physfoley in the browser: a Gradio Blocks app over the library (`physfoley web`).

Two tabs. *Video -> sound*: upload a video (or take the demo scene), synthesise, see the
impacts on the timeline and in a table, the striker's speed and the soundtrack's spectrogram,
hear it, watch the video with it, download wav, mp4 and JSON; move, add or delete impact
times and synthesise again; pick one impact and move its physics sliders to make only that one
again. *Sound -> physics*: upload a recording, see its modes, edit them with the same sliders,
hear and download the result and its `.npz`. Two named API endpoints serve scripts
(gradio_client): `/synthesize` (video, model name or "", seed) -> (audio, muxed video, the JSON
of `synthesize --json`) and `/analyze` (audio) -> the JSON of `analyze --json`.

Every job runs in one queue, one at a time; every file is written in the app's temporary
folder (`Workspace`) and goes with its job; uploads of the wrong type or over the size limit
are refused with a message in the page; any failure is one message and the app serves on.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from physfoley.web import backend
from physfoley.web.plots import spectrogram_figure, timeline_figure
from physfoley.web.session import IMPACT_COLUMNS, MODE_COLUMNS, SoundJob, VideoJob, Workspace

log = logging.getLogger(__name__)

#: Video containers the app takes.
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm")
#: All jobs share this queue: one at a time, in order.
JOBS = "physfoley-jobs"
#: How long a session's jobs (and their files) are kept after its last use, seconds.
SESSION_TTL_S = 3600
#: gradio's own cache of served files: swept this often, of files older than SESSION_TTL_S.
CACHE_SWEEP_S = 600

INTRO = """# physfoley
Give a silent video the sound of what is hit in it: the impacts are found in the picture, each
one's physics is borrowed from the nearest training clip, and a diffusion model generates its
sound. Then change any one impact's physics and hear it at once."""
SLIDER_HELP = (
    "Frequency and decay scale every mode of the selected impact (2 = an octave up; 0.5 = "
    "rings twice as long). Speed and mass set the level by the hit's kinetic energy "
    "(amplitude ~ speed x sqrt(mass)). A material makes the impact again with the physics of "
    "the nearest training clip of that material."
)


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


def _close(job) -> None:
    if job is not None:
        job.close()


def _job(**kwargs) -> dict:
    """Event options: every event in the one queue (the views too: pyplot is not thread-safe);
    UI-only unless given an api_name."""
    private = {"api_name": False, "api_visibility": "private"}
    options = {"concurrency_id": JOBS, "concurrency_limit": 1}
    return options | ({"api_visibility": "public"} if "api_name" in kwargs else private) | kwargs


class WebApp:
    """The app: its settings, its models, its temporary folder and its Blocks."""

    def __init__(self, settings: WebSettings | None = None) -> None:
        self.settings = settings or WebSettings()
        self.shelf = backend.ModelShelf.from_option(self.settings.model)
        self.workspace = Workspace()
        self.blocks = self._build()

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
        size = path.stat().st_size if path.is_file() else 0
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
        _close(job)
        label = self.shelf.describe(model or "")
        job = VideoJob(self.workspace.folder("video"), path, pipe, int(seed or 0), label)
        job.run(lambda fraction, message: progress(fraction, desc=message))
        return str(job.files["wav"]), str(job.files["video"]), job.document, job

    @user_errors
    def retime(self, job, text, progress=gr.Progress()):  # noqa: B008 (gradio idiom)
        if job is None:
            raise gr.Error("Synthesize a video first.")
        times = backend.parse_times(text) or []
        job.retime(times, lambda fraction, message: progress(fraction, desc=message))
        return str(job.files["wav"]), str(job.files["video"]), job.document, job

    @user_errors
    def edit_impact(self, job, index, freq, decay, gain, speed, mass, material):
        if job is None or index is None:
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
            return (gr.skip(),) * 13
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
        return (
            status,
            job.rows(),
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
            gr.update(choices=choices, value=selected),
            ", ".join(f"{t:.3f}" for t in job.times()),
            [str(p) for p in job.files.values()],
            gr.update(choices=materials, value=edit.material or ""),
            edit.freq_scale,
            edit.decay_scale,
            edit.gain_db,
            edit.speed_scale,
            edit.mass_scale,
        )

    @user_errors
    def demo_video(self, progress=gr.Progress()):  # noqa: B008 (gradio idiom)
        progress(0.1, desc="rendering the demo scene (a stick on metal and wood)")
        return str(backend.demo_scene(self.workspace.root / "demo"))

    # ------------------------------------------------------------------ sound -> physics
    @user_errors
    def analyze_api(self, audio):
        """/analyze: (audio) -> the JSON of `analyze --json`."""
        path = self.check_upload(audio, backend.AUDIO_SUFFIXES, "recording")
        return backend.analyze_recording(path).document

    @user_errors
    def analyze(self, audio, preset, residual, job):
        path = self.check_upload(audio, backend.AUDIO_SUFFIXES, "recording")
        _close(job)
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
    def _sliders(self, with_material: bool, prefix: str = ""):
        with gr.Row():
            freq = gr.Slider(
                0.5, 2.0, value=1.0, step=0.01, label="frequency x", elem_id=f"{prefix}freq"
            )
            decay = gr.Slider(
                0.25, 4.0, value=1.0, step=0.01, label="decay x", elem_id=f"{prefix}decay"
            )
            gain = gr.Slider(
                -24, 12, value=0.0, step=0.5, label="gain (dB)", elem_id=f"{prefix}gain"
            )
        with gr.Row():
            speed = gr.Slider(
                0.25, 4.0, value=1.0, step=0.05, label="speed x", elem_id=f"{prefix}speed"
            )
            mass = gr.Slider(
                0.25, 4.0, value=1.0, step=0.05, label="mass x", elem_id=f"{prefix}mass"
            )
            material = (
                gr.Dropdown([("as retrieved", "")], value="", label="material of the neighbour")
                if with_material
                else None
            )
        return freq, decay, gain, speed, mass, material

    def _build(self) -> gr.Blocks:
        models = [("default", "")] + [(name, name) for name in self.shelf.names]
        with gr.Blocks(title="physfoley", delete_cache=(CACHE_SWEEP_S, SESSION_TTL_S)) as blocks:
            gr.Markdown(INTRO)
            kw = {"time_to_live": SESSION_TTL_S, "delete_callback": _close}
            video_job, sound_job = gr.State(None, **kw), gr.State(None, **kw)
            with gr.Tab("Video -> sound"):
                with gr.Row():
                    with gr.Column():
                        video_in = gr.Video(
                            label="Silent video (mp4, mov, mkv, webm)",
                            sources=["upload"],
                            elem_id="video-in",
                            height=320,
                        )
                        demo_btn = gr.Button("Use the demo scene", size="sm")
                        with gr.Row():
                            model = gr.Dropdown(models, value="", label="model")
                            seed = gr.Number(0, precision=0, label="seed")
                        run_btn = gr.Button("Synthesize", variant="primary", elem_id="synthesize")
                    with gr.Column():
                        audio_out = gr.Audio(
                            label="Soundtrack", type="filepath", elem_id="soundtrack"
                        )
                        video_out = gr.Video(
                            label="Video with its new soundtrack", elem_id="video-out", height=320
                        )
                status = gr.Markdown(elem_id="status")
                timeline = gr.Plot(label="Timeline")
                spectrum = gr.Plot(label="Spectrogram")
                table = gr.Dataframe(
                    headers=IMPACT_COLUMNS, label="Impacts", interactive=False, elem_id="impacts"
                )
                with gr.Row():
                    times = gr.Textbox(
                        label="Impact times (s): move, add or delete, then synthesize again",
                        scale=4,
                    )
                    retime_btn = gr.Button("Synthesize with these times", scale=1)
                gr.Markdown("### One impact's physics\n" + SLIDER_HELP)
                impact = gr.Dropdown([], label="impact", elem_id="impact")
                freq, decay, gain, speed, mass, material = self._sliders(with_material=True)
                files = gr.File(label="Downloads", file_count="multiple")
                with gr.Accordion("JSON (as `physfoley synthesize --json`)", open=False):
                    document = gr.JSON()
            with gr.Tab("Sound -> physics"):
                with gr.Row():
                    with gr.Column():
                        audio_in = gr.Audio(
                            label="Recording (wav, flac, ogg)",
                            type="filepath",
                            sources=["upload"],
                            elem_id="sound-in",
                        )
                        preset = gr.Radio(
                            ["paper", "small"], value="paper", label="analysis preset"
                        )
                        residual = gr.Checkbox(
                            False, label="also fit the residual noise (a few seconds)"
                        )
                        analyze_btn = gr.Button("Analyze", variant="primary", elem_id="analyze")
                    with gr.Column():
                        modes_plot = gr.Image(label="Modes", type="filepath", elem_id="modes-plot")
                s_freq, s_decay, s_gain, s_speed, s_mass, _ = self._sliders(
                    with_material=False, prefix="s-"
                )
                with gr.Row():
                    edited = gr.Audio(
                        label="Resynthesised (edited)", type="filepath", elem_id="edited"
                    )
                    sound_files = gr.File(label="Downloads (wav, npz)", file_count="multiple")
                modes = gr.Dataframe(
                    headers=MODE_COLUMNS,
                    label="Strongest modes",
                    interactive=False,
                    elem_id="modes",
                )
                with gr.Accordion("JSON (as `physfoley analyze --json`)", open=False):
                    modes_json = gr.JSON()
                analyze_api_btn = gr.Button(visible=False)

            made = [audio_out, video_out, document, video_job]
            views = [
                status,
                table,
                timeline,
                spectrum,
                impact,
                times,
                files,
                material,
                freq,
                decay,
                gain,
                speed,
                mass,
            ]
            sliders = [freq, decay, gain, speed, mass, material]
            demo_btn.click(self.demo_video, None, video_in, **_job())
            run_btn.click(
                self.synthesize,
                [video_in, model, seed, video_job],
                made,
                **_job(api_name="synthesize"),
            ).success(self.video_views, [video_job], views, **_job())
            retime_btn.click(self.retime, [video_job, times], made, **_job()).success(
                self.video_views, [video_job, impact], views, **_job()
            )
            impact.input(self.video_views, [video_job, impact], views, **_job())
            for control in sliders[:-1]:
                control.release(
                    self.edit_impact, [video_job, impact, *sliders], made, **_job()
                ).success(self.video_views, [video_job, impact], views, **_job())
            material.input(self.edit_impact, [video_job, impact, *sliders], made, **_job()).success(
                self.video_views, [video_job, impact], views, **_job()
            )
            sound_views = [modes_plot, modes, edited, sound_files, sound_job]
            analyze_btn.click(
                self.analyze,
                [audio_in, preset, residual, sound_job],
                [modes_json, *sound_views, s_freq, s_decay, s_gain, s_speed, s_mass],
                **_job(),
            )
            for control in (s_freq, s_decay, s_gain, s_speed, s_mass):
                control.release(
                    self.edit_sound,
                    [sound_job, s_freq, s_decay, s_gain, s_speed, s_mass],
                    sound_views,
                    **_job(),
                )
            analyze_api_btn.click(
                self.analyze_api, [audio_in], [modes_json], **_job(api_name="analyze")
            )
        blocks.queue(default_concurrency_limit=1)
        return blocks

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
