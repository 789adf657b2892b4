"""Tiny SynthHits data in the segments format, and tiny network settings, for soundtrack tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from physfoley.data.segments import SegmentOptions, prepare_segments
from physfoley.data.synthhits import generate_video, video_name
from physfoley.models.soundtrack_factory import build_network, network_config
from physfoley.soundtrack_config import get_soundtrack_preset
from physfoley.soundtrack_dir import write_model_dir

#: Network overrides that keep every soundtrack stage at a fraction of a second per step.
TINY_NETS = {
    "vae": {"channels": 8},
    "cavp": {"embed_dim": 16, "video_channels": [4, 4, 8, 8], "audio_channels": [4, 8, 8, 8]},
    "ldm": {"dim": 32, "depth": 1, "heads": 2},
    "align": {"dim": 32, "depth": 1, "heads": 2},
}


def make_synthhits(root: Path, *, videos: int = 4, seconds: float = 5.0, seed: int = 7) -> Path:
    """`videos` SynthHits videos of `seconds` s in the Greatest Hits layout."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(videos):
        generate_video(root, video_name(seed, i), [seed, i], seconds)
    return root


def make_segments(root: Path, **kwargs) -> Path:
    """SynthHits videos in root/raw prepared (small preset, 1 test video in 4) into root/seg."""
    raw = make_synthhits(root / "raw", **kwargs)
    prepare_segments(raw, root / "seg", SegmentOptions(preset="small", test_fraction=0.25))
    return root / "seg"


def tiny_model_dir(path: Path, *, classifier: bool = True, evaluation: bool = False) -> Path:
    """A complete diff-foley model directory of tiny random networks (3 DDIM steps); with
    `evaluation` it is marked as an evaluation alignment classifier (vae, cavp, align)."""
    torch.manual_seed(0)
    sound = get_soundtrack_preset("small")
    parts = {}
    for part in ("vae", "cavp", "ldm", "align")[: 4 if classifier else 3]:
        cfg = network_config(part, "small", TINY_NETS[part], context_dim=16)
        net = build_network(part, cfg, sound)
        extra = {"scale_factor": 1.5} if part == "vae" else {}
        parts[part] = (net.state_dict(), {**dataclasses.asdict(cfg), **extra})
    sampling = {
        "sampler": "ddim",
        "steps": 3,
        "cfg_scale": 2.0,
        "cg_scale": 5.0 if classifier else 0,
    }
    extra = {"evaluation": True} if evaluation else {"sampling": sampling}
    return write_model_dir(path, soundtrack=sound, parts=parts, extra=extra)
