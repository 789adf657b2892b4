"""What one browser session of the web app holds: a video job and a sound job, each in a folder.

`Workspace` is the app's one temporary folder; every file the app writes is inside it, each
job in a folder of its own that goes when the job is replaced, when the session ends, and
(all of them) when the app stops. `VideoJob` is a video given its soundtrack: the impacts
found in the picture, each impact's generated sound, the edit made to each, and the files shown
and offered for download. `SoundtrackJob` is the same for a whole-soundtrack (diff-foley) model:
one generated soundtrack and the onsets found in it, nothing to edit per impact. `SoundJob` is a
recording analysed into modes and edited. All call the library only through
`physfoley.web.backend`.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from physfoley.web import backend
from physfoley.web.backend import ImpactEdit

Progress = Callable[[float, str], None]

#: Columns of the impacts table.
IMPACT_COLUMNS = [
    "#",
    "time (s)",
    "speed (px/s)",
    "mass (kg)",
    "energy (J)",
    "neighbour clip",
    "material",
    "edit",
    "found by",
]
#: Columns of the onsets table (a diff-foley model's soundtrack: `outputs.soundtrack_json`).
ONSET_COLUMNS = ["#", "time (s)", "confidence"]
#: Columns of the modes table (strongest spectral peaks first).
MODE_COLUMNS = ["freq (Hz)", "power (dB)", "decay (dB/s)", "rings for (s, -60 dB)"]
#: Modes listed in the table of the sound tab.
TABLE_MODES = 20


def _quiet(fraction: float, message: str) -> None:
    """A progress callback that shows nothing."""


def close_job(job) -> None:
    """Close a session's job (None: nothing to close)."""
    if job is not None:
        job.close()


class Workspace:
    """The app's temporary folder (under the system's temporary directory), removed by close()."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="physfoley-web-"))

    def folder(self, kind: str) -> Path:
        """A new, empty folder for one job."""
        return Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self.root))

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def describe_edit(edit: ImpactEdit) -> str:
    """'f x1.20, d x0.80, +3.0 dB, metal' for the table; '' for no edit."""
    parts = []
    if edit.freq_scale != 1.0:
        parts.append(f"f x{edit.freq_scale:.2f}")
    if edit.decay_scale != 1.0:
        parts.append(f"d x{edit.decay_scale:.2f}")
    if abs(edit.level_db) > 1e-9:
        parts.append(f"{edit.level_db:+.1f} dB")
    if edit.material:
        parts.append(edit.material)
    return ", ".join(parts)


class VideoJob:
    """A video given its soundtrack, and every edit made to it since."""

    def __init__(self, folder: Path, video: Path, pipe, seed: int, model: str = "") -> None:
        self.folder, self.video, self.pipe, self.seed = folder, Path(video), pipe, int(seed)
        self.model = model  # how the status line names the model
        self.frames = None
        self.events: list = []
        self.track = None
        self.result = None  # the SynthesisResult, kept current through the edits
        self.generated: list = []  # each impact's ImpactSound as first generated
        self.edits: list[ImpactEdit] = []
        self._by_material: dict[tuple[int, str], object] = {}
        self.files: dict[str, Path] = {}
        self.document: dict = {}

    # ------------------------------------------------------------------ whole soundtrack
    def run(self, progress: Progress = _quiet, times_s: list[float] | None = None) -> None:
        """Decode, find the impacts (or take `times_s`), generate them all, write the files."""
        if self.frames is None:
            progress(0.05, "decoding the video")
            self.frames = backend.decode(self.video)
            progress(0.15, "finding the impacts in the picture")
            self.events, self.track = backend.detect(self.frames)
        if times_s is None:
            times_s = [ev.time_s for ev in self.events]
        progress(0.35, f"generating the sound of {len(times_s)} impacts")
        result = backend.synthesize(self.pipe, self.frames, times_s, self.seed)
        self.result = result
        self.generated = list(result.impacts)
        self.edits = [ImpactEdit() for _ in result.impacts]
        self._by_material.clear()
        progress(0.9, "writing the soundtrack and the video")
        self._write()

    def retime(self, times_s: list[float], progress: Progress = _quiet) -> None:
        """Generate the soundtrack again for impacts at these times (edits are dropped)."""
        self.run(progress, times_s=sorted(times_s))

    # ------------------------------------------------------------------ one impact
    def edit(self, index: int, edit: ImpactEdit) -> None:
        """Make impact `index` again with `edit` (only that one) and mix the soundtrack again."""
        if not 0 <= index < len(self.generated):
            raise backend.InputError(f"there is no impact {index + 1}")
        base = self._base(index, edit.material)
        clip = backend.edit_impact(self.pipe, base, edit)
        self.edits[index] = edit
        impacts = list(self.result.impacts)
        impacts[index] = dataclasses.replace(base, clip=clip)
        clips = [imp.clip for imp in impacts]  # head + tail: lengths differ
        times = [imp.time_s for imp in impacts]
        audio, gain = backend.mix_impacts(
            clips, times, self.result.duration_s, self.result.sample_rate
        )
        self.result = dataclasses.replace(
            self.result, audio=audio, impacts=impacts, gain=gain, normalized=gain < 1.0
        )
        self._write()

    def _base(self, index: int, material: str | None):
        """The impact's sound before frequency/decay/level edits, with physics of `material`."""
        first = self.generated[index]
        if material is None or material == first.neighbour_material:
            return first
        key = (index, material)
        if key not in self._by_material:
            self._by_material[key] = backend.synthesize_impact(
                self.pipe, self.frames, first, material, seed=self.seed + index + 1
            )
        return self._by_material[key]

    # ------------------------------------------------------------------ views
    def _write(self) -> None:
        wav, video = backend.write_soundtrack(
            self.video, self.result.audio, self.result.sample_rate, self.folder
        )
        self.document = backend.synthesis_json(self.result, wav, video)
        doc_path = self.folder / "synthesis.json"
        doc_path.write_text(json.dumps(self.document, indent=1))
        self.files = {"wav": wav, "video": video, "json": doc_path}

    def _event_at(self, time_s: float):
        for ev in self.events:
            if abs(ev.time_s - time_s) < 1e-6:
                return ev
        return None

    def rows(self) -> list[list]:
        """The impacts table: one row per impact (speed and mass as edited)."""
        rows = []
        for i, (imp, edit) in enumerate(zip(self.result.impacts, self.edits, strict=True)):
            ev = self._event_at(imp.time_s)
            if ev is not None:
                speed = ev.speed_before_px_s
            else:  # a time given by hand: the striker's speed at that frame
                speed = backend.speed_at(self.track, imp.time_s)
            mass = None if ev is None or ev.mass_kg is None else ev.mass_kg * edit.mass_scale
            energy = None if ev is None else ev.kinetic_energy_change_j
            if energy is not None:
                energy *= edit.speed_scale**2 * edit.mass_scale
            rows.append(
                [
                    i + 1,
                    round(imp.time_s, 3),
                    round(speed * edit.speed_scale, 1),
                    "-" if mass is None else f"{mass:.3g}",
                    "-" if energy is None else f"{energy:.3g}",
                    imp.neighbour,
                    imp.neighbour_material,
                    describe_edit(edit),
                    "picture" if ev is not None else "hand",
                ]
            )
        return rows

    def labels(self) -> list[str]:
        return [imp.neighbour_material for imp in self.result.impacts]

    def times(self) -> list[float]:
        return [imp.time_s for imp in self.result.impacts]

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class SoundtrackJob:
    """A video given a whole soundtrack by a diff-foley model (as `physfoley synthesize --model
    DIR`): the soundtrack, its muxed video, and the onsets detected in it."""

    def __init__(self, folder: Path, video: Path, pipe, seed: int, model: str = "") -> None:
        self.folder, self.video, self.pipe, self.seed = folder, Path(video), pipe, int(seed)
        self.model = model
        self.result = None  # the SoundtrackResult
        self.files: dict[str, Path] = {}
        self.document: dict = {}

    def run(self, progress: Progress = _quiet) -> None:
        """Generate the whole soundtrack, write wav, muxed video and JSON."""
        progress(0.1, "generating the whole soundtrack (diff-foley)")
        self.result = backend.synthesize_soundtrack(self.pipe, self.video, self.seed)
        progress(0.9, "writing the soundtrack and the video")
        wav, video = backend.write_soundtrack(
            self.video, self.result.wave, self.result.sample_rate, self.folder
        )
        self.document = backend.soundtrack_document(self.result, wav, video)
        doc_path = self.folder / "synthesis.json"
        doc_path.write_text(json.dumps(self.document, indent=1))
        self.files = {"wav": wav, "video": video, "json": doc_path}

    def rows(self) -> list[list]:
        """The onsets table: one row per onset detected in the soundtrack."""
        return [
            [i + 1, onset["time_s"], onset["confidence"]]
            for i, onset in enumerate(self.document["onsets"])
        ]

    def times(self) -> list[float]:
        return [onset["time_s"] for onset in self.document["onsets"]]

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class SoundJob:
    """A recording analysed into modes (as `physfoley analyze`), and its edited resynthesis."""

    def __init__(self, folder: Path, recording: Path, preset: str, residual: bool) -> None:
        self.folder, self.recording = folder, Path(recording)
        self.analysis = backend.analyze_recording(recording, preset, residual)
        self.edited_params = self.analysis.params
        self.files: dict[str, Path] = {}
        self.edit(ImpactEdit())  # the modes heard as they were measured
        self.files["plot"] = backend.plot_modes(
            self.analysis.clip,
            self.analysis.params,
            self.analysis.cfg,
            folder / "modes.png",
            title=self.recording.name,
        )
        self.files["npz"] = backend.save_params(self.analysis.params, folder / "modes.npz")

    def edit(self, edit: ImpactEdit) -> None:
        """Resynthesise the modes with `edit` (as `physfoley edit`): wav, npz and plot."""
        wave, params = backend.edit_recording(self.analysis, edit)
        self.edited_params = params
        cfg = self.analysis.cfg
        self.files["wav"] = backend.write_sound(self.folder / "edited.wav", wave, cfg.sample_rate)
        self.files["npz"] = backend.save_params(params, self.folder / "edited.npz")
        self.files["plot"] = backend.plot_modes(
            wave, params, cfg, self.folder / "edited.png", title=f"{self.recording.name}, edited"
        )

    def rows(self) -> list[list]:
        """The strongest spectral peaks of the current (edited) modes."""
        return [
            [
                round(mode["freq_hz"], 1),
                round(mode["power_db"], 1),
                round(mode["decay_db_per_s"], 1),
                round(60.0 / max(mode["decay_db_per_s"], 1e-9), 3),
            ]
            for mode in backend.strongest_modes(self.edited_params, TABLE_MODES)
        ]

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
