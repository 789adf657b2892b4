"""The page of the web app: its components, and which handler of `WebApp` each event calls.

Every event waits in one queue (`JOBS`, one job at a time: the model runs on the CPU, and
pyplot is not thread-safe); only two are API endpoints, `/synthesize` and `/analyze`. A
session's jobs live in `gr.State`s that close them (and delete their folders) when the
session ends or has been idle for `SESSION_TTL_S`.
"""

from __future__ import annotations

import gradio as gr

from physfoley.web.session import IMPACT_COLUMNS, MODE_COLUMNS, close_job

#: All jobs share this queue: one at a time, in order.
JOBS = "physfoley-jobs"
#: How long a session's jobs (and their files) are kept after its last use, seconds.
SESSION_TTL_S = 3600
#: gradio's own cache of served files: swept this often, of files older than SESSION_TTL_S.
CACHE_SWEEP_S = 600

INTRO = """# physfoley
Give a silent video the sound of what is hit in it: the impacts are found in the picture, each
one's physics is borrowed from the nearest training clip, and a diffusion model generates its
sound. Then change any one impact's physics and hear it at once. Pick a diff-foley model
instead and the whole soundtrack is generated at once from the picture (no per-impact edits)."""
SLIDER_HELP = (
    "*Per-impact models only* (disabled for a diff-foley model's whole soundtrack). Frequency and decay scale every mode of the selected impact (2 = an octave up; 0.5 = "
    "rings twice as long). Speed and mass set the level by the hit's kinetic energy "
    "(amplitude ~ speed x sqrt(mass)). A material makes the impact again with the physics of "
    "the nearest training clip of that material."
)


def _job(**kwargs) -> dict:
    """Event options: every event in the one queue (the views too: pyplot is not thread-safe);
    UI-only unless given an api_name."""
    private = {"api_name": False, "api_visibility": "private"}
    options = {"concurrency_id": JOBS, "concurrency_limit": 1}
    return options | ({"api_visibility": "public"} if "api_name" in kwargs else private) | kwargs


def physics_sliders(with_material: bool, prefix: str = ""):
    """Frequency, decay, gain, speed and mass sliders (and the material picker), in two rows."""
    with gr.Row():
        freq = gr.Slider(
            0.5, 2.0, value=1.0, step=0.01, label="frequency x", elem_id=f"{prefix}freq"
        )
        decay = gr.Slider(
            0.25, 4.0, value=1.0, step=0.01, label="decay x", elem_id=f"{prefix}decay"
        )
        gain = gr.Slider(-24, 12, value=0.0, step=0.5, label="gain (dB)", elem_id=f"{prefix}gain")
    with gr.Row():
        speed = gr.Slider(
            0.25, 4.0, value=1.0, step=0.05, label="speed x", elem_id=f"{prefix}speed"
        )
        mass = gr.Slider(0.25, 4.0, value=1.0, step=0.05, label="mass x", elem_id=f"{prefix}mass")
        material = (
            gr.Dropdown([("as retrieved", "")], value="", label="material of the neighbour")
            if with_material
            else None
        )
    return freq, decay, gain, speed, mass, material


def build_blocks(app) -> gr.Blocks:
    """The page, its events wired to the handlers of `app` (a `physfoley.web.app.WebApp`)."""
    models = [("default", "")] + [(name, name) for name in app.shelf.names]
    with gr.Blocks(
        title="physfoley", delete_cache=(CACHE_SWEEP_S, SESSION_TTL_S), analytics_enabled=False
    ) as blocks:
        gr.Markdown(INTRO)
        kw = {"time_to_live": SESSION_TTL_S, "delete_callback": close_job}
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
                    audio_out = gr.Audio(label="Soundtrack", type="filepath", elem_id="soundtrack")
                    video_out = gr.Video(
                        label="Video with its new soundtrack", elem_id="video-out", height=320
                    )
            status = gr.Markdown(elem_id="status")
            note = gr.Markdown(elem_id="family-note")
            timeline = gr.Plot(label="Timeline")
            spectrum = gr.Plot(label="Spectrogram")
            table = gr.Dataframe(
                headers=IMPACT_COLUMNS, label="Impacts", interactive=False, elem_id="impacts"
            )
            with gr.Row():
                times = gr.Textbox(
                    label="Impact times (s; per-impact models only): move, add or delete, then "
                    "synthesize again",
                    scale=4,
                )
                retime_btn = gr.Button("Synthesize with these times", scale=1)
            gr.Markdown("### One impact's physics\n" + SLIDER_HELP)
            impact = gr.Dropdown([], label="impact", elem_id="impact")
            freq, decay, gain, speed, mass, material = physics_sliders(with_material=True)
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
                    preset = gr.Radio(["paper", "small"], value="paper", label="analysis preset")
                    residual = gr.Checkbox(
                        False, label="also fit the residual noise (a few seconds)"
                    )
                    analyze_btn = gr.Button("Analyze", variant="primary", elem_id="analyze")
                with gr.Column():
                    modes_plot = gr.Image(label="Modes", type="filepath", elem_id="modes-plot")
            s_freq, s_decay, s_gain, s_speed, s_mass, _ = physics_sliders(
                with_material=False, prefix="s-"
            )
            with gr.Row():
                edited = gr.Audio(label="Resynthesised (edited)", type="filepath", elem_id="edited")
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
            note,
            table,
            timeline,
            spectrum,
            impact,
            times,
            retime_btn,
            files,
            material,
            freq,
            decay,
            gain,
            speed,
            mass,
        ]
        sliders = [freq, decay, gain, speed, mass, material]
        demo_btn.click(app.demo_video, None, video_in, **_job())
        run_btn.click(
            app.synthesize,
            [video_in, model, seed, video_job],
            made,
            **_job(api_name="synthesize"),
        ).success(app.video_views, [video_job], views, **_job())
        retime_btn.click(app.retime, [video_job, times], made, **_job()).success(
            app.video_views, [video_job, impact], views, **_job()
        )
        impact.input(app.video_views, [video_job, impact], views, **_job())
        for control in sliders[:-1]:
            control.release(app.edit_impact, [video_job, impact, *sliders], made, **_job()).success(
                app.video_views, [video_job, impact], views, **_job()
            )
        material.input(app.edit_impact, [video_job, impact, *sliders], made, **_job()).success(
            app.video_views, [video_job, impact], views, **_job()
        )
        sound_views = [modes_plot, modes, edited, sound_files, sound_job]
        analyze_btn.click(
            app.analyze,
            [audio_in, preset, residual, sound_job],
            [modes_json, *sound_views, s_freq, s_decay, s_gain, s_speed, s_mass],
            **_job(),
        )
        for control in (s_freq, s_decay, s_gain, s_speed, s_mass):
            control.release(
                app.edit_sound,
                [sound_job, s_freq, s_decay, s_gain, s_speed, s_mass],
                sound_views,
                **_job(),
            )
        analyze_api_btn.click(app.analyze_api, [audio_in], [modes_json], **_job(api_name="analyze"))
    blocks.queue(default_concurrency_limit=1)
    return blocks
