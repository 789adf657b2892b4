"""Stage 1: the residual network (Su et al. section 3.1).

A transformer over log-spectrogram frames predicts, per clip, 100 noise-band weights and decays;
the clip is re-synthesised as peak-normalised(modal part (eq. 4, from the prepared modal
parameters) + residual (eq. 5-6, `ResidualSynth`)) and compared with the clip by auraloss's
multi-resolution STFT loss (the paper's loss; the reference code used one resolution). After
training, the band parameters of every clip are written into the prepared dataset
(`band_weight.npy`, `band_decay_db_per_s.npy`, atomically) for the physics encoder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from physfoley.atomic import write_text_atomic
from physfoley.audio.losses import mrstft_loss
from physfoley.audio.params import MODE_KEYS
from physfoley.audio.residual import ResidualSynth
from physfoley.audio.spectrogram import log_spectrogram, peak_normalize
from physfoley.audio.synthesis import modal_synthesis
from physfoley.config import config_from_dict, model_config
from physfoley.errors import InputError
from physfoley.models.factory import build_residual_encoder
from physfoley.training import common as C

WEIGHTS = "residual_encoder.safetensors"
INFO = "residual.json"


def residual_batch(data, rows: np.ndarray, audio, device):
    """(log-spectrogram [B, F, T], peak-normalised modal synthesis [B, S], peak-normalised clip
    [B, S]) of prepared-data `rows` [B], on `device`: one batch of the residual stage."""
    wave = peak_normalize(torch.from_numpy(np.asarray(data.arrays["waves"][rows], np.float32)))
    params = [torch.from_numpy(np.asarray(data.arrays[k][rows], np.float32)) for k in MODE_KEYS]
    with torch.no_grad():
        modal = peak_normalize(modal_synthesis(*params, audio.sample_rate, audio.num_samples))
    spec = log_spectrogram(wave, audio)
    return spec.to(device), modal.to(device), wave.to(device)


def train_residual(
    cfg: C.ResidualTrainConfig,
    *,
    data_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    resume: bool = False,
    device: str | None = None,
    progress: bool = False,
) -> dict:
    """Train the residual encoder; returns a summary dict (steps, final loss, files written)."""
    env = C.setup_distributed(device)
    try:
        model_cfg = model_config(cfg.preset, cfg.model)
        audio = model_cfg.audio
        data = C.open_prepared(data_dir or cfg.data)
        C.check_preset_matches(data, model_cfg)
        rows = data.indices("train")
        out = C.prepare_out_dir(out_dir, resume, cfg) if env.is_main else Path(out_dir)
        C.barrier(env)
        C.seed_everything(cfg.seed + env.rank)
        encoder = build_residual_encoder(model_cfg).to(env.device)
        synth = ResidualSynth(audio, audio.num_bands).to(env.device)
        net = C.wrap_ddp(encoder, env)
        opt = torch.optim.AdamW(encoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        step = 0
        ckpt = C.latest_checkpoint(out) if resume else None
        if ckpt is not None:
            step = C.load_checkpoint(ckpt, {"residual_encoder": encoder}, opt, env)["step"]
        resolutions = {}
        if cfg.fft_sizes:  # auraloss defaults (1024/2048/512) unless the config sets its own
            resolutions = {
                "fft_sizes": list(cfg.fft_sizes),
                "hop_sizes": list(cfg.hop_sizes),
                "win_lengths": list(cfg.win_lengths),
            }
        bar = C.Progress(out, env, cfg.max_steps, step, "residual", progress)
        loss_value = float("nan")
        while step < cfg.max_steps:
            for group in opt.param_groups:
                group["lr"] = C.lr_at(step, cfg)
            spec, modal, target = residual_batch(
                data, C.batch_rows(rows, cfg.batch_size, step, cfg.seed, env), audio, env.device
            )
            weight, decay = net(spec)
            pred = peak_normalize(modal + synth(weight, decay))
            loss = mrstft_loss(pred, target, **resolutions)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            loss_value = float(loss.detach())
            bar.update()
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                bar.log(
                    step, {"residual/mrstft": loss_value, "residual/lr": C.lr_at(step - 1, cfg)}
                )
            out_of_time = cfg.time_budget_s > 0 and bar.elapsed_s() > cfg.time_budget_s
            if step % cfg.ckpt_every == 0 or step == cfg.max_steps or out_of_time:
                C.save_checkpoint(
                    out, step, {"residual_encoder": encoder}, opt, env, keep=cfg.keep_checkpoints
                )
            if out_of_time:
                break
        bar.close()
        summary = {"stage": "residual", "steps": step, "final_loss_mrstft": loss_value}
        if env.is_main:
            from safetensors.torch import save_file

            save_file(
                {k: v.contiguous() for k, v in encoder.state_dict().items()}, str(out / WEIGHTS)
            )
            info = {"model_config": model_cfg.to_dict(), **summary}
            if cfg.write_dataset:
                written = write_band_params(
                    encoder, data, audio, batch_size=cfg.infer_batch_size, device=env.device
                )
                info["dataset_arrays"] = written
            write_text_atomic(out / INFO, json.dumps(info, indent=2), force=True)
            summary = info
        C.barrier(env)
        return summary
    finally:
        C.cleanup_distributed()


@torch.no_grad()
def predict_band_params(
    encoder, waves: np.ndarray, audio, *, batch_size: int = 64, device="cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """waves: [N, num_samples] -> (band_weight [N, M], band_decay_db_per_s [N, M]) float32."""
    encoder = encoder.to(device).eval()
    weights, decays = [], []
    for start in range(0, len(waves), batch_size):
        spec = log_spectrogram(
            torch.from_numpy(np.array(waves[start : start + batch_size], np.float32)), audio
        )
        w, d = encoder(spec.to(device))
        weights.append(w.float().cpu().numpy())
        decays.append(d.float().cpu().numpy())
    return np.concatenate(weights), np.concatenate(decays)


def write_band_params(encoder, data, audio, *, batch_size: int = 64, device="cpu") -> list[str]:
    """Predict every clip's band parameters and write them into the prepared folder atomically."""
    weight, decay = predict_band_params(
        encoder, data.arrays["waves"], audio, batch_size=batch_size, device=device
    )
    paths = []
    for name, arr in (("band_weight", weight), ("band_decay_db_per_s", decay)):
        path = Path(data.root) / f"{name}.npy"
        C.write_array_atomic(path, arr.astype(np.float32))
        paths.append(str(path))
    return paths


def load_residual_run(run_dir: str | os.PathLike):
    """The encoder of a finished residual stage and its model config: (ResidualEncoder, ModelConfig).

    Reads RUN/residual.json (model config) and RUN/residual_encoder.safetensors.
    """
    from safetensors.torch import load_file

    run = Path(run_dir)
    if not (run / INFO).is_file() or not (run / WEIGHTS).is_file():
        raise InputError(f"{run} holds no finished residual stage ({INFO}, {WEIGHTS})")
    model_cfg = config_from_dict(json.loads((run / INFO).read_text())["model_config"])
    encoder = build_residual_encoder(model_cfg)
    encoder.load_state_dict(load_file(str(run / WEIGHTS)))
    return encoder.eval(), model_cfg


def apply_residual_run(
    run_dir: str | os.PathLike, data_dir: str | os.PathLike, *, batch_size: int = 64, device="cpu"
) -> list[str]:
    """Fit the band parameters of another prepared dataset with a finished residual stage.

    Loads RUN/residual_encoder.safetensors (+ its model config from RUN/residual.json) and
    writes `band_weight.npy` / `band_decay_db_per_s.npy` into `data_dir` (atomically).
    """
    encoder, model_cfg = load_residual_run(run_dir)
    data = C.open_prepared(data_dir)
    C.check_preset_matches(data, model_cfg)
    return write_band_params(encoder, data, model_cfg.audio, batch_size=batch_size, device=device)
