"""Step 5 of a SynthHits video: the physics record and the files in the Greatest Hits layout.

`physics_record` gathers the ground truth of the earlier steps into one JSON-ready dict (the
scene, the striker, every hit with its speeds, energy, contact force, modes and, where it
had one, its back-swing; the picture's nuisances). `write_files` writes NAME_denoised.wav,
NAME_times.txt, NAME_denoised.mp4 and last NAME_physics.json, whose presence marks a
finished video (`generate_dataset` resumes on it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from physfoley.atomic import write_text_atomic
from physfoley.audio.io import write_audio
from physfoley.data.synthhits import render, sound
from physfoley.data.synthhits.events import Event
from physfoley.data.synthhits.picture import Picture
from physfoley.data.synthhits.scene import Stage
from physfoley.data.synthhits.soundtrack import Soundtrack
from physfoley.data.synthhits.spec import FORMAT_VERSION, FPS, IMAGE_SIZE_PX, SAMPLE_RATE
from physfoley.video.encode import write_video


def _hit_record(
    k: int, ev: Event, contact_frame: int, stage: Stage, track: Soundtrack, picture: Picture
) -> dict:
    """The ground truth of hit k (striker_px in image coordinates, under the camera shake)."""
    obj = stage.objects[ev.object_id]
    mpp = stage.meters_per_pixel
    shake_row = picture.shake[min(contact_frame, len(picture.frames) - 1)]
    sx, sy = render.shake_point(ev.x_px, ev.y_px, shake_row)
    modes = sound.mode_table(obj.freq_hz, ev.info["mode_amplitude"], obj.decay_per_s, track.gain)
    m = stage.striker.mass_kg
    hit = {
        "index": k,
        "time_s": ev.time_s,
        "contact_frame": contact_frame,
        "material": obj.material,
        "object_id": ev.object_id,
        "action": ev.action,
        "reaction": ev.reaction,
        "strike_position": {
            "u": round(ev.u, 5),
            "v": round(ev.v, 5),
            "x_px": round(ev.x_px, 3),
            "y_px": round(ev.y_px, 3),
        },
        "striker_px": {"x": round(sx, 3), "y": round(sy, 3)},
        "striker_mass_kg": round(m, 6),
        "tip_radius_m": round(stage.striker.tip_radius_m, 6),
        "speed_before_m_s": round(ev.speed_before_m_s, 5),
        "speed_after_m_s": round(ev.speed_after_m_s, 5),
        "speed_before_px_s": round(ev.speed_before_m_s / mpp, 3),
        "speed_after_px_s": round(ev.speed_after_m_s / mpp, 3),
        "kinetic_energy_change_j": round(
            0.5 * m * (ev.speed_before_m_s**2 - ev.speed_after_m_s**2), 7
        ),
        "contact_time_s": round(ev.info["contact_time_s"], 7),
        "force_peak_n": round(ev.info["force_peak_n"], 4),
        "impulse_n_s": round(ev.info["impulse_n_s"], 7),
        "speed_bumps": ev.speed_bumps,
        "modes": modes,
        "scratch": (
            {
                "duration_s": round(ev.scratch_s, 5),
                "end_time_s": round(ev.time_s + ev.scratch_s, 5),
                "drag_speed_m_s": round(ev.drag_speed_m_s, 5),
                "drag_speed_px_s": round(ev.drag_speed_m_s / mpp, 3),
                "normal_force_n": round(ev.normal_force_n, 4),
            }
            if ev.action == "scratch"
            else None
        ),
        "rattle": ev.info.get("rattle"),
    }
    if ev.backswing is not None:
        hit["backswing"] = {
            "top_frame": ev.backswing["top_frame"],
            "pause_frames": ev.backswing["pause_frames"],
            "rise_speed_m_s": round(ev.backswing["rise_speed_m_s"], 5),
            "rise_s": round(ev.backswing["rise_s"], 5),
        }
    return hit


def physics_record(
    name: str,
    seed: int | Sequence[int],
    stage: Stage,
    events: list[Event],
    track: Soundtrack,
    picture: Picture,
) -> dict:
    """The NAME_physics.json document of one video (see docs/synthhits.md for its fields)."""
    scene, striker = stage.scene, stage.striker
    hits = [
        _hit_record(k, ev, cf, stage, track, picture)
        for k, (ev, cf) in enumerate(zip(events, picture.contact_frames, strict=True))
    ]
    return {
        "format": "synthhits",
        "version": FORMAT_VERSION,
        "name": name,
        "seed": list(np.atleast_1d(seed).tolist()),
        "duration_s": round(len(track.mix) / SAMPLE_RATE, 6),
        "sample_rate": SAMPLE_RATE,
        "fps": [FPS.numerator, FPS.denominator],
        "num_frames": len(picture.frames),
        "image_size": IMAGE_SIZE_PX,
        "meters_per_pixel": round(stage.meters_per_pixel, 7),
        "striker": {
            "mass_kg": round(striker.mass_kg, 6),
            "tip_radius_m": round(striker.tip_radius_m, 6),
            "color_rgb": list(scene.stick_rgb),
            "radius_px": round(scene.stick_radius_px, 3),
            "length_px": round(scene.stick_length_px, 3),
            "ring_freq_hz": [round(float(f), 3) for f in striker.ring_freq_hz],
        },
        "objects": [
            {
                "id": j,
                **obj.summary(),
                "bbox_px": list(sp.bbox),
                "look": sp.look,
            }
            for j, (obj, sp) in enumerate(zip(stage.objects, scene.sprites, strict=True))
        ],
        "room": track.room,
        "noise": {"snr_db": round(track.snr_db, 3), **track.noise_info},
        "gain": float(f"{track.gain:.6g}"),
        "hits_dropped_inaudible": track.hits_dropped,
        "picture": {
            "setting": scene.params["setting"],
            "table_y": scene.table_y,
            "light_base": round(picture.light_base, 4),
            "light_tint": [round(float(x), 4) for x in picture.tint],
            "shake_amp_px": round(picture.shake_amp_px, 4),
            "sensor_noise_sigma": round(picture.sensor_noise_sigma, 3),
            "occlusions": picture.occlusions,
        },
        "hits": hits,
    }


def write_files(
    out_dir: Path,
    name: str,
    record: dict,
    track: Soundtrack,
    picture: Picture,
    *,
    force: bool,
    mp4_audio: bool,
    preset: str,
) -> None:
    """Step 5: NAME_denoised.wav, NAME_times.txt, NAME_denoised.mp4, then NAME_physics.json."""
    stem = out_dir / name
    write_audio(f"{stem}_denoised.wav", track.mix, SAMPLE_RATE, force=force)
    hits = record["hits"]
    lines = [f"{h['time_s']:.6f} {h['material']} {h['action']} {h['reaction']}" for h in hits]
    write_text_atomic(f"{stem}_times.txt", "\n".join(lines) + ("\n" if lines else ""), force=force)
    write_video(
        f"{stem}_denoised.mp4",
        picture.frames,
        FPS,
        audio=track.mix if mp4_audio else None,
        sample_rate=SAMPLE_RATE,
        force=force,
        preset=preset,
    )
    write_text_atomic(f"{stem}_physics.json", json.dumps(record, indent=1) + "\n", force=force)
