"""`PavasPipeline`: whole soundtracks steered by the mass and velocity of the objects in view.

The Diff-Foley pipeline's windows, crossfade and vocoder, with PAVAS' denoiser: the physics
estimator (`physfoley.video.objects.estimate_objects`, PPE) finds the moving objects of the
video with their masks, per-frame velocity and mass; each object's CAVP patch features are
pooled under its mask on the visual grid, and the flow-matching DiT is integrated by Euler
steps with classifier-free guidance (the unconditional half takes null E_v and null physics).

A model trained on known masses (`mass: truth`, its `prior_mass_kg` set) gives every object
whose mass the estimator only guessed from its looks that prior (the picture does not weigh a
striker: docs/RESULTS.md section 6); a given mass (`objects` with mass_source "given", or an
`edits` mass_kg) is used as is.

What-if edits: `mass_scale` and `speed_scale` multiply every object's mass and velocity before
the model sees them; `edits` ({object id: {"mass_kg" | "mass_scale" | "speed_scale": x}}) change
single objects; `objects` replaces the estimate altogether. When no object is found the model
is conditioned on its null physics tokens and `result.settings["objects"]` is 0.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from physfoley.diffusion.flow import sample_flow
from physfoley.errors import InputError
from physfoley.model_dir import PAVAS
from physfoley.soundtrack_config import SoundtrackConfig, nearest_frames
from physfoley.soundtrack_dir import load_part, read_config
from physfoley.soundtrack_pipeline import SoundtrackPipeline
from physfoley.video.objects import PhysicalObject, estimate_objects, read_work_video

EDIT_KEYS = ("mass_kg", "mass_scale", "speed_scale")


def edit_objects(
    objects: list[PhysicalObject], *, mass_scale: float = 1.0, speed_scale: float = 1.0,
    edits: dict[int, dict[str, float]] | None = None,
) -> list[PhysicalObject]:  # fmt: skip
    """Copies of `objects` with scaled mass and velocity (global, then per-object `edits`)."""
    edits = edits or {}
    ids = {o.id for o in objects}
    for key, edit in edits.items():
        if key not in ids:
            raise InputError(f"no object {key} to edit (objects: {sorted(ids)})")
        bad = sorted(set(edit) - set(EDIT_KEYS))
        if bad:
            raise InputError(f"unknown object edit {bad}; use {list(EDIT_KEYS)}")
    for name, value in (("mass_scale", mass_scale), ("speed_scale", speed_scale)):
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"{name} must be a positive number, got {value}")
    out = []
    for obj in objects:
        e = edits.get(obj.id, {})
        mass = e.get("mass_kg", obj.mass_kg) * mass_scale * e.get("mass_scale", 1.0)
        speed = speed_scale * e.get("speed_scale", 1.0)
        if not (np.isfinite(mass) and mass > 0 and np.isfinite(speed) and speed > 0):
            raise InputError(f"object {obj.id}: the edited mass and speed must be positive")
        out.append(replace(obj, mass_kg=float(mass), velocity_m_s=obj.velocity_m_s * speed,
                           speed_m_s=obj.speed_m_s * speed, mass_source="edited"))  # fmt: skip
    return out


@torch.no_grad()
def object_inputs(cavp, grid: np.ndarray, objects, times_s, fps: float, k_max: int, device="cpu"):
    """The Phy-Adapter's inputs over a whole visual grid (batch 1, K = k_max objects, first
    ones kept): frames uint8 [T, S, S, 3] on the grid (i + 0.5) / fps; `objects` as PPE gives
    them for frames shown at `times_s`. -> dict of obj_feat [1, K, T, C_f] (CAVP patch features
    pooled under each mask), obj_present, obj_valid, mass [1, K], velocity [1, K, T, 2]."""
    t_grid = len(grid)
    fmap = cavp.video.feature_map(torch.from_numpy(np.asarray(grid))[None].to(device))
    fmap = fmap[0].permute(1, 0, 2, 3).cpu()  # (T, C, h, w)
    feat = torch.zeros(1, k_max, t_grid, fmap.shape[1])
    present = torch.zeros(1, k_max, t_grid, dtype=torch.bool)
    vel = torch.full((1, k_max, t_grid, 2), float("nan"))
    mass, valid = torch.zeros(1, k_max), torch.zeros(1, k_max, dtype=torch.bool)
    for k, obj in enumerate(objects[:k_max]):
        idx = nearest_frames(times_s, fps, t_grid)
        m = torch.from_numpy(obj.masks[idx].astype(np.float32))[:, None]
        m = F.interpolate(m, size=fmap.shape[-2:], mode="area")  # (T, 1, h, w)
        area = m.sum(dim=(2, 3))
        feat[0, k] = (fmap * m).sum(dim=(2, 3)) / area.clamp(min=1e-6)
        present[0, k] = torch.from_numpy(obj.present[idx].astype(bool)) & (area[:, 0] > 0)
        vel[0, k] = torch.from_numpy(obj.velocity_m_s[idx].astype(np.float32))
        mass[0, k], valid[0, k] = float(obj.mass_kg), True
    return {"obj_feat": feat, "obj_present": present, "obj_valid": valid, "mass": mass,
            "velocity": vel}  # fmt: skip


class PavasPipeline(SoundtrackPipeline):
    """Load with `from_pretrained(dir)`; `synthesize(video, mass_scale=, speed_scale=, edits=)`."""

    family = PAVAS

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sampling = {"sampler": "euler", "steps": 25, "cfg_scale": 2.0, "cg_scale": 0.0,
                         "physics_scale": 0.0}  # fmt: skip
        self.sampling.update(self.doc.get("sampling", {}))
        self._physics: dict | None = None

    @classmethod
    def from_pretrained(cls, model_dir: str | os.PathLike, *, device: str = "cpu"):
        """Load a pavas model directory; `ModelError` when missing, corrupt or of another family."""
        doc = read_config(model_dir, family=PAVAS)
        sound = SoundtrackConfig.from_dict(doc["soundtrack"])
        nets = {
            p: load_part(model_dir, p, doc).to(device).requires_grad_(False)
            for p in ("vae", "cavp", "pavas")
        }
        scale = float(doc["parts"]["vae"].get("scale_factor", 1.0))
        return cls(sound=sound, nets=nets, scale=scale, doc=doc, device=device)

    def estimate(self, video: str | os.PathLike, **kwargs) -> list[PhysicalObject]:
        """PPE on the video (kwargs go to `estimate_objects`, e.g. meters_per_pixel)."""
        frames, pixel_scale = read_work_video(Path(video))
        return estimate_objects(frames, pixel_scale=pixel_scale, **kwargs)

    def synthesize(self, video, *, objects=None, mass_scale=1.0, speed_scale=1.0, edits=None,
                   physics_scale=None, **kwargs):  # fmt: skip
        """Soundtrack of a video file conditioned on its objects (PPE unless `objects` given),
        edited by `edit_objects`; `physics_scale` is the physics guidance (`sample_flow`;
        default: the model's); other kwargs as `SoundtrackPipeline.synthesize_frames`."""
        if physics_scale is None:
            physics_scale = float(self.sampling["physics_scale"])
        if not (np.isfinite(physics_scale) and physics_scale >= 0):
            raise InputError(f"physics_scale must be a number >= 0, got {physics_scale}")
        t0 = time.perf_counter()
        found = self.estimate(video) if objects is None else list(objects)
        ppe_s = time.perf_counter() - t0
        prior = self.nets["pavas"].cfg.prior_mass_kg
        if prior is not None:  # trained on known masses: an estimated mass gives way to it
            found = [o if o.mass_source != "estimated" else
                     replace(o, mass_kg=float(prior), mass_source="prior") for o in found]  # fmt: skip
        self._physics = {"objects": edit_objects(found, mass_scale=mass_scale,
                                                 speed_scale=speed_scale, edits=edits),
                         "physics_scale": float(physics_scale)}  # fmt: skip
        try:
            result = super().synthesize(video, **kwargs)
        finally:
            physics, self._physics = self._physics, None
        result.timings_s = {"physics": ppe_s, **result.timings_s}
        result.timings_s["total"] += ppe_s
        result.settings.update(objects=len(found), mass_scale=mass_scale,
                               speed_scale=speed_scale, physics_scale=float(physics_scale),
                               physics=physics.get("summary"))  # fmt: skip
        return result

    def synthesize_frames(self, frames, times_s, duration_s, **kwargs):
        """As `SoundtrackPipeline.synthesize_frames`; physics from `synthesize` (none: null)."""
        if self._physics is None:
            self._physics = {"objects": []}
        self._physics["times_s"] = np.asarray(times_s, np.float64)
        return super().synthesize_frames(frames, times_s, duration_s, **kwargs)

    def sample_windows(self, e_v, starts, grid, opts, generator) -> torch.Tensor:
        if opts["sampler"] not in ("euler", "flow_euler"):
            raise InputError(f"a pavas model samples with euler, not {opts['sampler']!r}")
        physics = self._physics or {"objects": []}
        if "whole" not in physics:
            whole = object_inputs(self.nets["cavp"], grid, physics["objects"],
                                  physics.get("times_s"), self.sound.visual_fps,
                                  self.nets["pavas"].cfg.max_objects, self.device)  # fmt: skip
            physics["whole"] = whole
            physics["summary"] = {
                "objects_used": int(whole["obj_valid"].sum()),
                "mass_kg": [round(float(m), 6) for m in whole["mass"][0][whole["obj_valid"][0]]],
            }
        n = self.sound.visual_frames
        cond = {"video": e_v}
        for key, value in physics["whole"].items():
            first = [self.sound.visual_index(s) for s in starts]
            cond[key] = (value if key in ("obj_valid", "mass") else
                         torch.stack([value[0, :, f : f + n] for f in first]))  # fmt: skip
            if key in ("obj_valid", "mass"):
                cond[key] = value.expand(len(starts), -1)
        return sample_flow(self.nets["pavas"], cond, (len(e_v), *self.sound.latent_shape),
                           steps=opts["steps"], cfg_scale=opts["cfg_scale"],
                           generator=generator, device=self.device,
                           physics_scale=physics.get("physics_scale", 0.0))  # fmt: skip
