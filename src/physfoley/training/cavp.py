"""Stage `cavp`: contrastive audio-visual pretraining (Diff-Foley section 2.1) from scratch.

Each batch holds N_S training videos x N_T segments of each (distinct random starts), so one
batch serves the semantic contrast across videos (eq. 1) and the temporal contrast across the
segments of a video (eq. 2); L = L_S + lambda L_T (+ the public code's per-time-step term,
`frame_weight`). At the end the encoders are tested on held-out videos, each retrieval against
its chance level: audio -> video R@1 across videos (semantic), across the segments of the same
video (temporal), and across the time steps of a segment (frame). Writes OUT/model ("cavp").
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import torch
from torch import Tensor, nn

from physfoley.errors import InputError
from physfoley.models.cavp import cavp_losses, retrieval_at_1
from physfoley.models.soundtrack_factory import build_network, network_config
from physfoley.soundtrack_dir import write_model_dir
from physfoley.training import common as C
from physfoley.training.soundtrack_common import CAVPTrainConfig, open_stage, run_loop

MODEL_DIR = "model"


class _Trainable(nn.Module):
    """CAVP with its objective in forward (so DDP sees the temperature used)."""

    def __init__(self, cavp, cfg: CAVPTrainConfig):
        super().__init__()
        self.cavp, self.cfg = cavp, cfg

    def forward(self, frames: Tensor, mel: Tensor) -> dict[str, Tensor]:
        e_v, e_a = self.cavp(frames, mel)
        k = self.cfg.segments_per_video
        parts = cavp_losses(e_v, e_a, self.cavp.scale(), k, self.cfg.frame_stride)
        loss = (
            parts["semantic"]
            + self.cfg.temporal_weight * parts["temporal"]
            + self.cfg.frame_weight * parts["frame"]
        )
        return {"loss": loss, **parts, "temperature": 1.0 / self.cavp.scale().detach()}


def contrast_items(data, videos: np.ndarray, cfg: CAVPTrainConfig, length: int, rng):
    """N_S distinct videos x N_T distinct starts each: [(video, start)], video-major."""
    if len(videos) < cfg.batch_size:
        raise InputError(
            f"{len(videos)} training videos are fewer than batch_size {cfg.batch_size} "
            "(videos per batch); lower it or prepare more videos"
        )
    items = []
    for v in rng.choice(videos, size=cfg.batch_size, replace=False):
        n = data.num_starts(int(v), length)
        starts = rng.choice(n, size=cfg.segments_per_video, replace=n < cfg.segments_per_video)
        items += [(int(v), int(s)) for s in np.sort(starts)]
    return items


def eval_items(data, split: str, per_video: int, limit: int) -> list[tuple[int, int]]:
    """Up to `per_video` evenly spread whole segments of each video of `split`, `limit` in all."""
    items = []
    for v in data.indices(split):
        n = data.num_starts(int(v))
        starts = np.unique(np.round(np.linspace(0, n - 1, min(per_video, n))).astype(int))
        items += [(int(v), int(s)) for s in starts]
    return items[:limit]


@torch.no_grad()
def retrieval_metrics(cavp, data, items: list[tuple[int, int]], device) -> dict[str, float]:
    """R@1 (audio -> video) across segments, within videos and within segments, with chance."""
    if len(items) < 2:
        return {}
    e_v, e_a = [], []
    for start in range(0, len(items), 8):
        mel, frames = data.batch(items[start : start + 8])
        v, a = cavp(torch.from_numpy(frames).to(device), torch.from_numpy(mel).to(device))
        e_v.append(v.cpu())
        e_a.append(a.cpu())
    e_v, e_a = torch.cat(e_v), torch.cat(e_a)
    pooled_v, pooled_a = e_v.mean(1), e_a.mean(1)
    videos = np.array([v for v, _ in items])
    within, within_chance = [], []
    for v in np.unique(videos):
        rows = np.nonzero(videos == v)[0]
        if len(rows) > 1:
            within.append(retrieval_at_1(pooled_a[rows], pooled_v[rows]))
            within_chance.append(1.0 / len(rows))
    frame = [retrieval_at_1(a, v) for a, v in zip(e_a, e_v, strict=True)]
    return {
        "semantic_r1": retrieval_at_1(pooled_a, pooled_v),
        "semantic_chance": 1.0 / len(items),
        "temporal_r1": float(np.mean(within)) if within else float("nan"),
        "temporal_chance": float(np.mean(within_chance)) if within else float("nan"),
        "frame_r1": float(np.mean(frame)),
        "frame_chance": 1.0 / e_v.shape[1],
        "test_segments": len(items),
    }


def train_cavp(
    cfg: CAVPTrainConfig,
    *,
    data_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    resume: bool = False,
    device: str | None = None,
    progress: bool = False,
) -> dict:
    """Train both CAVP encoders on the segments folder `data_dir`; write OUT/model."""
    env = C.setup_distributed(device)
    try:
        data, out = open_stage(cfg, data_dir, out_dir, resume, env)
        C.seed_everything(cfg.seed)
        net_cfg = network_config("cavp", cfg.preset, cfg.model)
        cavp = build_network("cavp", net_cfg, data.cfg).to(env.device)
        trainable = _Trainable(cavp, cfg).to(env.device)
        length = cfg.crop_latent_frames or data.cfg.latent_frames
        videos = np.array([v for v in data.indices("train") if data.num_starts(v, length) > 0])

        def loss_fn(net, step, rng, gen):
            mel, frames = data.batch(contrast_items(data, videos, cfg, length, rng), length)
            return net(
                torch.from_numpy(frames).to(env.device), torch.from_numpy(mel).to(env.device)
            )

        result = run_loop(
            cfg,
            out=out,
            env=env,
            trainable=trainable,
            loss_fn=loss_fn,
            resume=resume,
            progress=progress,
        )
        summary = {"stage": "cavp", "steps": result["steps"], **result["losses"]}
        if env.is_main:
            items = eval_items(data, "test", cfg.segments_per_video + 1, cfg.eval_segments)
            metrics = retrieval_metrics(cavp, data, items, env.device)
            summary.update(metrics)
            part = {**dataclasses.asdict(net_cfg), "metrics": metrics}
            write_model_dir(
                out / MODEL_DIR,
                soundtrack=data.cfg,
                parts={"cavp": (cavp.state_dict(), part)},
                extra={"training": {"cavp": summary}},
                force=True,
            )
            summary["model_dir"] = str(out / MODEL_DIR)
        C.barrier(env)
        return summary
    finally:
        C.cleanup_distributed()
