"""Stage `vae`: the spectrogram KL autoencoder of the soundtrack family (Diff-Foley's first stage).

Trained on random log-mel crops of the training videos (L1 + a small KL term). At the end the
latent scale factor (1 / std of the posterior means over training segments, Rombach et al.'s
0.18215 measured on this data) is stored with the network, and the reconstruction of held-out
segments is reported: spectral L1 on the log-mel and MR-STFT between the Griffin-Lim waveforms
of the reconstruction and of the true log-mel. Writes OUT/model (part "vae").
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import torch

from physfoley.audio.losses import mrstft_loss
from physfoley.audio.mel import vocode
from physfoley.errors import InputError
from physfoley.models.soundtrack_factory import build_network, network_config
from physfoley.models.vae import vae_loss
from physfoley.soundtrack_dir import write_model_dir
from physfoley.training import common as C
from physfoley.training.soundtrack_common import (
    VAETrainConfig,
    open_stage,
    random_items,
    run_loop,
)

MODEL_DIR = "model"


def mel_crops(data, videos: np.ndarray, count: int, length: int, rng) -> np.ndarray:
    """`count` random log-mel crops of `length` frames: float32 [count, M, length]."""
    picks = rng.choice(videos, size=count)
    out = []
    for v in picks:
        mel = data.mel(int(v))
        start = int(rng.integers(0, mel.shape[0] - length + 1))
        out.append(np.asarray(mel[start : start + length], np.float32).T)
    return np.stack(out)


@torch.no_grad()
def latent_scale(vae, data, items: list[tuple[int, int]], device) -> float:
    """1 / std of the posterior means of segments `items` (the LDM's latent scale factor)."""
    means = []
    for start in range(0, len(items), 16):
        mel, _ = data.batch(items[start : start + 16])
        means.append(vae.encode(torch.from_numpy(mel).to(device)).mean.cpu())
    return float(1.0 / torch.cat(means).std().clamp_min(1e-6))


@torch.no_grad()
def reconstruction_metrics(vae, data, items: list[tuple[int, int]], device) -> dict[str, float]:
    """Spectral L1 (log-mel in [-1, 1]) and MR-STFT of vocoded reconstructions vs vocoded truth."""
    if not items:
        return {}
    mel, _ = data.batch(items)
    x = torch.from_numpy(mel).to(device)
    rec = vae.decode(vae.encode(x).mean)[..., : x.shape[-1]].clamp(-1, 1).cpu()
    true_wave = vocode(x.cpu(), data.cfg, n_iter=16)
    rec_wave = vocode(rec, data.cfg, n_iter=16)
    return {
        "test_l1": float((rec - x.cpu()).abs().mean()),
        "test_mrstft_vs_vocoded_truth": float(mrstft_loss(rec_wave, true_wave)),
        "test_segments": len(items),
    }


def train_vae(
    cfg: VAETrainConfig,
    *,
    data_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    resume: bool = False,
    device: str | None = None,
    progress: bool = False,
) -> dict:
    """Train the VAE on the segments folder `data_dir`; write OUT/model; return a summary."""
    env = C.setup_distributed(device)
    try:
        data, out = open_stage(cfg, data_dir, out_dir, resume, env)
        sound = data.cfg
        C.seed_everything(cfg.seed)
        net_cfg = network_config("vae", cfg.preset, cfg.model)
        vae = build_network("vae", net_cfg, sound).to(env.device)
        crop = cfg.crop_mel_frames or sound.segment_mel_frames
        if crop % net_cfg.stride:
            raise InputError(
                f"crop_mel_frames {crop} is not a multiple of the VAE's {net_cfg.stride}"
            )
        videos = data.indices("train")

        def loss_fn(net, step, rng, gen):
            mel = torch.from_numpy(mel_crops(data, videos, cfg.batch_size, crop, rng))
            rec, posterior = net(mel.to(env.device), gen)
            return vae_loss(mel.to(env.device), rec, posterior, cfg.kl_weight)

        result = run_loop(
            cfg, out=out, env=env, trainable=vae, loss_fn=loss_fn, resume=resume, progress=progress
        )
        summary = {"stage": "vae", "steps": result["steps"], **result["losses"]}
        if env.is_main:
            rng = np.random.default_rng([cfg.seed, 1])
            scale = latent_scale(
                vae, data, random_items(data, videos, cfg.scale_segments, rng), env.device
            )
            metrics = reconstruction_metrics(vae, data, data.canonical("test")[:16], env.device)
            summary.update(scale_factor=scale, **metrics)
            part = {**dataclasses.asdict(net_cfg), "scale_factor": scale, "metrics": metrics}
            write_model_dir(
                out / MODEL_DIR,
                soundtrack=sound,
                parts={"vae": (vae.state_dict(), part)},
                extra={"training": {"vae": summary}},
                force=True,
            )
            summary["model_dir"] = str(out / MODEL_DIR)
        C.barrier(env)
        return summary
    finally:
        C.cleanup_distributed()
