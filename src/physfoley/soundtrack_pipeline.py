"""`SoundtrackPipeline`: a whole soundtrack for a video of any length (the Diff-Foley family).

video -> frames on the visual grid -> CAVP E_v over the whole timeline -> overlapping windows
of one segment each -> latent sampling of all windows in one batch (diffusers DDIM or
DPM-Solver++, CFG + alignment-classifier guidance, eq. 8) -> VAE decode -> log-mel windows
crossfaded (linear ramps over each overlap) into one timeline -> mel-to-linear + Griffin-Lim
over the whole timeline -> exactly round(duration x sample_rate) samples. No detector is
involved: the timing comes from the picture through E_v. A model directory says its family
(`"family": "diff-foley"`), so the per-impact CLI can dispatch here by `--model DIR`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physfoley.audio.mel import vocode
from physfoley.diffusion.guidance import sample_latents
from physfoley.errors import InputError
from physfoley.soundtrack_config import SoundtrackConfig, nearest_frames
from physfoley.soundtrack_dir import load_part, read_config
from physfoley.video.io import read_video

MIN_OVERLAP_S = 0.5  # windows overlap at least this much (their crossfade)


@dataclass
class SoundtrackResult:
    """wave: float32 [N] at sample_rate, N = round(duration_s x sample_rate); mel: the crossfaded
    log-mel [M, T]; window_starts_s: start of each generated window; timings_s per step."""

    wave: np.ndarray
    sample_rate: int
    duration_s: float
    mel: np.ndarray
    window_starts_s: list[float]
    timings_s: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)


def window_starts(total_latent: int, window: int, min_overlap: int) -> list[int]:
    """Starts (latent frames) of the fewest windows of `window` frames that cover
    `total_latent` frames with overlaps of at least `min_overlap`, spread evenly."""
    if total_latent <= window:
        return [0]
    n = math.ceil((total_latent - min_overlap) / (window - min_overlap))
    return [int(round(x)) for x in np.linspace(0, total_latent - window, n)]


def crossfade(windows: np.ndarray, starts: list[int], stride: int, total: int) -> np.ndarray:
    """Overlap-add of windows [n, M, T_w] placed at starts x stride, with linear ramps across
    each overlap (weights summing to 1): -> [M, total]."""
    n, m, width = windows.shape
    acc = np.zeros((m, max(total, starts[-1] * stride + width)), np.float32)
    weight = np.zeros(acc.shape[1], np.float32)
    for i, start in enumerate(starts):
        w = np.ones(width, np.float32)
        a = start * stride
        if i > 0:  # ramp up over the overlap with the previous window
            ov = starts[i - 1] * stride + width - a
            if ov > 0:
                w[:ov] = np.minimum(w[:ov], (np.arange(ov) + 0.5) / ov)
        if i + 1 < n:
            ov = a + width - starts[i + 1] * stride
            if ov > 0:
                w[width - ov :] = np.minimum(w[width - ov :], 1 - (np.arange(ov) + 0.5) / ov)
        acc[:, a : a + width] += windows[i] * w
        weight[a : a + width] += w
    return (acc / np.maximum(weight, 1e-6))[:, :total]


class SoundtrackPipeline:
    """Load with `from_pretrained(dir)`; `synthesize(video)` or `synthesize_frames(...)`."""

    family = "diff-foley"

    def __init__(self, *, sound: SoundtrackConfig, nets: dict, scale: float, doc: dict, device):
        self.sound, self.nets, self.scale, self.doc = sound, nets, scale, doc
        self.device = torch.device(device)
        self.sampling = {"sampler": "dpmsolver++", "steps": 25, "cfg_scale": 4.5, "cg_scale": 0.0}
        self.sampling.update(doc.get("sampling", {}))

    @classmethod
    def from_pretrained(cls, model_dir: str | os.PathLike, *, device: str = "cpu"):
        """Load a diff-foley model directory; `ModelError` when missing, corrupt or of another family."""
        doc = read_config(model_dir)
        sound = SoundtrackConfig.from_dict(doc["soundtrack"])
        parts = ("vae", "cavp", "ldm") + (("align",) if "align" in doc["parts"] else ())
        nets = {p: load_part(model_dir, p, doc).to(device).requires_grad_(False) for p in parts}
        scale = float(doc["parts"]["vae"].get("scale_factor", 1.0))
        return cls(sound=sound, nets=nets, scale=scale, doc=doc, device=device)

    @property
    def has_classifier(self) -> bool:
        return "align" in self.nets

    def synthesize(self, video: str | os.PathLike, **kwargs) -> SoundtrackResult:
        """Soundtrack of a video file (see `synthesize_frames` for the options)."""
        t0 = time.perf_counter()
        decoded = read_video(Path(video), size=self.sound.image_size)
        read_s = time.perf_counter() - t0
        result = self.synthesize_frames(
            decoded.frames, decoded.times_s, decoded.duration_s, **kwargs
        )
        result.timings_s = {"read_video": read_s, **result.timings_s}
        result.timings_s["total"] += read_s
        return result

    def sample_windows(self, e_v, starts, grid, opts, generator) -> torch.Tensor:
        """Latents [n, C', F', T'] of the windows at `starts` (E_v slices e_v [n, T_v, C]; the
        visual-grid frames `grid` are for subclasses that condition on more than E_v)."""
        return sample_latents(
            self.nets["ldm"],
            {"video": e_v},
            (len(e_v), *self.sound.latent_shape),
            classifier=self.nets.get("align"),
            sampler=opts["sampler"],
            steps=opts["steps"],
            cfg_scale=opts["cfg_scale"],
            cg_scale=opts["cg_scale"],
            generator=generator,
            device=self.device,
        )

    @torch.no_grad()
    def synthesize_frames(
        self,
        frames: np.ndarray,
        times_s: np.ndarray,
        duration_s: float,
        *,
        sampler: str | None = None,
        steps: int | None = None,
        cfg_scale: float | None = None,
        cg_scale: float | None = None,
        seed: int = 0,
        griffin_lim_iters: int = 32,
        mel_inversion: str = "pinv",
        max_batch: int = 8,
    ) -> SoundtrackResult:
        """Soundtrack of RGB frames uint8 [T, H, W, 3] shown at times_s (resized to the preset's
        image size when they are not at it).

        cfg_scale (omega), cg_scale (gamma), sampler, steps default to the model's `sampling`;
        windows are sampled `max_batch` at a time; the same seed gives the same soundtrack.
        """
        cfg, timings = self.sound, {}
        opts = {
            "sampler": sampler or self.sampling["sampler"],
            "steps": int(steps or self.sampling["steps"]),
            "cfg_scale": float(self.sampling["cfg_scale"] if cfg_scale is None else cfg_scale),
            "cg_scale": float(self.sampling["cg_scale"] if cg_scale is None else cg_scale),
        }
        if opts["cg_scale"] and not self.has_classifier:
            raise InputError("this model has no alignment classifier; use --cg-scale 0")
        if duration_s <= 0 or len(frames) == 0:
            raise InputError("the video has no duration or no frames")
        num_samples = int(round(duration_s * cfg.sample_rate))
        mel_frames = 1 + num_samples // cfg.hop_length
        total_latent = math.ceil(mel_frames / cfg.latent_stride_t)
        starts = window_starts(
            total_latent, cfg.latent_frames, round(MIN_OVERLAP_S * cfg.latent_rate_hz)
        )
        t = time.perf_counter()
        count = max(
            cfg.num_visual_frames(duration_s), cfg.visual_index(starts[-1]) + cfg.visual_frames
        )
        grid = np.asarray(frames)[nearest_frames(times_s, cfg.visual_fps, count)]
        if grid.shape[1:3] != (cfg.image_size, cfg.image_size):
            import cv2

            size = (cfg.image_size, cfg.image_size)
            grid = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in grid])
        e_v = self.nets["cavp"].video(torch.from_numpy(grid)[None].to(self.device))[0]
        timings["video_features"] = time.perf_counter() - t
        t = time.perf_counter()
        cond = torch.stack(
            [e_v[cfg.visual_index(s) : cfg.visual_index(s) + cfg.visual_frames] for s in starts]
        )
        generator = torch.Generator().manual_seed(seed)
        latents = []
        for i in range(0, len(starts), max_batch):
            latents.append(
                self.sample_windows(
                    cond[i : i + max_batch], starts[i : i + max_batch], grid, opts, generator
                )  # fmt: skip
            )
        timings["sampling"] = time.perf_counter() - t
        t = time.perf_counter()
        windows = self.nets["vae"].decode(torch.cat(latents) / self.scale).clamp(-1, 1)
        mel = crossfade(windows.cpu().numpy(), starts, cfg.latent_stride_t, mel_frames)
        timings["vae_decode"] = time.perf_counter() - t
        t = time.perf_counter()
        wave = vocode(
            torch.from_numpy(mel),
            cfg,
            length=num_samples,
            n_iter=griffin_lim_iters,
            method=mel_inversion,
            seed=seed,
        )
        timings["vocoder"] = time.perf_counter() - t
        timings["total"] = sum(timings.values())
        return SoundtrackResult(
            wave=wave.numpy().astype(np.float32),
            sample_rate=cfg.sample_rate,
            duration_s=num_samples / cfg.sample_rate,
            mel=mel,
            window_starts_s=[s / cfg.latent_rate_hz for s in starts],
            timings_s=timings,
            settings={
                **opts,
                "seed": seed,
                "griffin_lim_iters": griffin_lim_iters,
                "mel_inversion": mel_inversion,
                "windows": len(starts),
            },
        )
