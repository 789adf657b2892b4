"""Stage `ldm`: the latent diffusion model conditioned on CAVP features (Diff-Foley section 2.2).

Epsilon prediction with the L2 objective of eq. 4 on the scaled VAE latents of the training
segments (a posterior sample per step), conditioned on E_v by cross-attention, E_v dropped with
probability `cond_drop_prob` (0.2) for classifier-free guidance. Temporal split & merge (eq. 6,
`split_merge`): a share of each batch is made of two clips of different lengths from two
videos, concatenated in time together with their E_v. The frozen VAE and CAVP come from
OUT/../vae/model and OUT/../cavp/model; the alignment classifier, when OUT/../align/model (or
align_dir) exists, is bundled. Writes the complete model directory OUT/model (family
"diff-foley") that `SoundtrackPipeline` loads, with the sampling defaults of the config.

The merge concatenates latent slices rather than re-encoding the merged mel: the VAE is
convolutional, so the two agree except within its receptive field of the junction, and
re-encoding every merged pair would double the cost of a CPU training step.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch

from physfoley.diffusion.guidance import alphas_cumprod, diffusion_loss
from physfoley.errors import InputError
from physfoley.models.latent_dit import condition_dropout
from physfoley.models.soundtrack_factory import build_network, network_config
from physfoley.soundtrack_dir import load_state, read_config, write_model_dir
from physfoley.training import common as C
from physfoley.training.soundtrack_common import (
    LDMTrainConfig,
    open_stage,
    random_items,
    run_loop,
    stage_dir,
)
from physfoley.training.timelines import cached_timelines, feature_slice, latent_slice, load_frozen

MODEL_DIR = "model"


def split_merge(
    first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray], cut_visual: int
) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 6: [z^1; z^2] and [E_v^1; E_v^2] cut after `cut_visual` visual frames.

    first, second : (z [C', F', T'], E_v [T_v, C]) of two segments of equal length; the latent
    cut is at cut_visual x T' / T_v (T' a multiple of T_v). Returns the merged pair, same shapes.
    """
    (z1, e1), (z2, e2) = first, second
    ratio = z1.shape[-1] // e1.shape[0]
    cut_latent = cut_visual * ratio
    z = np.concatenate([z1[..., :cut_latent], z2[..., : z2.shape[-1] - cut_latent]], axis=-1)
    e = np.concatenate([e1[:cut_visual], e2[: e2.shape[0] - cut_visual]], axis=0)
    return z, e


def training_batch(data, tl, videos, cfg: LDMTrainConfig, rng):
    """Scaled latents float32 [B, C', F', T'] and E_v [B, T_v, C]; with split & merge, the
    last round(B x split_merge_prob) rows merge a clip of this row's video with one of another."""
    sound = data.cfg
    shape = sound.latent_shape
    items = random_items(data, videos, cfg.batch_size, rng)

    def pair(v, s):
        z = latent_slice(tl, v, s, sound.latent_frames, rng.standard_normal(shape))
        return z, feature_slice(tl, v, sound.visual_index(s), sound.visual_frames)

    rows = [pair(v, s) for v, s in items]
    merged = int(round(cfg.batch_size * cfg.split_merge_prob)) if cfg.split_merge else 0
    if merged and len(videos) > 1:
        for i in range(cfg.batch_size - merged, cfg.batch_size):
            v = items[i][0]
            other = int(rng.choice(videos[videos != v]))
            second = pair(other, int(rng.integers(0, data.num_starts(other))))
            rows[i] = split_merge(rows[i], second, int(rng.integers(1, sound.visual_frames)))
    z = np.stack([r[0] for r in rows]).astype(np.float32)
    return z, np.stack([r[1] for r in rows]).astype(np.float32)


def train_ldm(
    cfg: LDMTrainConfig,
    *,
    data_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    resume: bool = False,
    device: str | None = None,
    progress: bool = False,
) -> dict:
    """Train the latent denoiser; write the complete model directory OUT/model."""
    env = C.setup_distributed(device)
    try:
        data, out = open_stage(cfg, data_dir, out_dir, resume, env)
        sound = data.cfg
        vae_dir = stage_dir(cfg.vae_dir, out_dir, "vae")
        cavp_dir = stage_dir(cfg.cavp_dir, out_dir, "cavp")
        vae, cavp, scale, docs = load_frozen(vae_dir, cavp_dir, sound, env.device)
        videos = data.indices("train")
        tl = cached_timelines(out, env, vae, cavp, data, videos, scale, "train")
        C.seed_everything(cfg.seed)
        net_cfg = network_config("ldm", cfg.preset, cfg.model, context_dim=cavp.cfg.embed_dim)
        ldm = build_network("ldm", net_cfg, sound).to(env.device)
        abar = alphas_cumprod()

        def loss_fn(net, step, rng, gen):
            z0, ev = training_batch(data, tl, videos, cfg, rng)
            drop = condition_dropout(len(z0), net_cfg.cond_drop_prob, gen)
            cond = {"video": torch.from_numpy(ev).to(env.device)}
            return {
                "loss": diffusion_loss(
                    net, torch.from_numpy(z0).to(env.device), cond, drop, gen, abar
                )
            }

        result = run_loop(
            cfg, out=out, env=env, trainable=ldm, loss_fn=loss_fn, resume=resume, progress=progress
        )
        summary = {"stage": "ldm", "steps": result["steps"], **result["losses"]}
        if env.is_main:
            summary["model_dir"] = str(
                _write_final(
                    out / MODEL_DIR,
                    cfg,
                    ldm,
                    net_cfg,
                    docs,
                    vae_dir,
                    cavp_dir,
                    stage_dir(cfg.align_dir, out_dir, "align"),
                    summary,
                    sound,
                )
            )
        C.barrier(env)
        return summary
    finally:
        C.cleanup_distributed()


def _write_final(model_dir, cfg, ldm, net_cfg, docs, vae_dir, cavp_dir, align_dir, summary, sound):
    parts = {
        "vae": (load_state(vae_dir, "vae"), docs["vae"]["parts"]["vae"]),
        "cavp": (load_state(cavp_dir, "cavp"), docs["cavp"]["parts"]["cavp"]),
        "ldm": (ldm.state_dict(), dataclasses.asdict(net_cfg)),
    }
    training = {**docs["vae"].get("training", {}), **docs["cavp"].get("training", {})}
    if (Path(align_dir) / "config.json").is_file():
        align_doc = read_config(align_dir)
        parts["align"] = (load_state(align_dir, "align"), align_doc["parts"]["align"])
        training.update(align_doc.get("training", {}))
    training["ldm"] = {**summary, "train_config": dataclasses.asdict(cfg)}
    sampling = {
        "sampler": cfg.sampler,
        "steps": cfg.steps,
        "cfg_scale": cfg.cfg_scale,
        "cg_scale": cfg.cg_scale if "align" in parts else 0.0,
    }
    if cfg.model_dtype not in ("float16", "float32"):
        raise InputError(f"model_dtype must be float16 or float32, not {cfg.model_dtype!r}")
    dtype = getattr(torch, cfg.model_dtype)
    parts = {
        name: ({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, doc)
        for name, (state, doc) in parts.items()
    }
    return write_model_dir(
        model_dir,
        soundtrack=sound,
        parts=parts,
        extra={"sampling": sampling, "training": training},
        force=True,
    )
