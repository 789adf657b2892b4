"""Stage 3: the conditional diffusion model (Su et al. section 3.2).

The physics encoder (five MLPs -> mu) and the denoiser are trained jointly on the normalised
log-spectrograms of the training clips with the configured objective (epsilon-prediction + L1,
eq. 10, with condition dropout for classifier-free guidance). The visual encoder of stage 2 is
frozen, so nu of every training clip is computed once (and cached in OUT/cache). At the end the
EMA weights go into a model directory OUT/model (config.json + model.safetensors) together with
the PhysicsBank of the training clips (nu -> physics inputs, `build_physics_bank`), ready for
`ImpactPipeline`.
The spectrograms are divided by their RMS over the training set (`diffusion.data_scale` in the
model config) so that the data has unit scale against the unit-variance noise.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from physfoley.audio.params import PHYSICS_KEYS
from physfoley.audio.spectrogram import log_spectrogram
from physfoley.config import model_config
from physfoley.data.datasets import PreparedData
from physfoley.diffusion.objectives import make_objective
from physfoley.diffusion.schedule import make_schedule
from physfoley.errors import InputError, ModelError
from physfoley.model_dir import save_model_dir
from physfoley.models.factory import build_model
from physfoley.models.physics_encoder import normalize_physics
from physfoley.retrieval import PhysicsBank
from physfoley.training import common as C
from physfoley.training.visual import load_visual_run

MODEL_DIR = "model"


class _Trainable(nn.Module):
    """Physics encoder + denoiser, with the loss in forward (so DDP sees one module)."""

    def __init__(self, model, objective):
        super().__init__()
        self.physics, self.denoiser = model.physics, model.denoiser
        self.objective = objective

    def forward(self, x0: Tensor, physics: dict[str, Tensor], nu: Tensor) -> Tensor:
        mu = self.physics(physics, normalized=True)
        return self.objective.loss(self.denoiser, x0, {"mu": mu, "nu": nu})


@torch.no_grad()
def encode_clips(
    model, data, rows: np.ndarray, *, batch_size: int = 32, device="cpu"
) -> dict[str, np.ndarray]:
    """Per-clip training inputs for `rows`: "nu" [n, D] (frozen visual encoder), "spec"
    [n, F, T] normalised log-spectrogram, and the normalised physics inputs [n, K] / [n, M]."""
    model.visual.eval()
    audio = model.cfg.audio
    out: dict[str, list] = {"nu": [], "spec": [], **{k: [] for k in PHYSICS_KEYS}}
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        frames = torch.from_numpy(np.ascontiguousarray(data.arrays["frames"][batch])).to(device)
        out["nu"].append(model.visual_latent(frames).float().cpu().numpy())
        wave = torch.from_numpy(np.array(data.arrays["waves"][batch], np.float32))
        out["spec"].append(log_spectrogram(wave, audio).numpy())
        raw = {
            k: torch.from_numpy(np.array(data.arrays[k][batch], np.float32)) for k in PHYSICS_KEYS
        }
        for k, v in normalize_physics(raw, audio).items():
            out[k].append(v.numpy())
    return {k: np.concatenate(v).astype(np.float32) for k, v in out.items()}


def _cached_inputs(
    model, data, rows, out: Path, env: C.DistEnv, batch_size: int
) -> dict[str, np.ndarray]:
    cache = out / "cache" / "train_inputs.npz"
    if env.is_main and not cache.is_file():
        arrays = encode_clips(model, data, rows, batch_size=batch_size, device=env.device)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(".train_inputs.tmp.npz")
        np.savez(tmp, rows=rows, **arrays)
        os.replace(tmp, cache)
    C.barrier(env)
    with np.load(cache) as z:
        if not np.array_equal(z["rows"], rows):
            raise InputError(f"{cache} was computed for other training clips; delete it and resume")
        return {k: z[k] for k in z.files if k != "rows"}


def train_diffusion(
    cfg: C.DiffusionTrainConfig,
    *,
    data_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    resume: bool = False,
    device: str | None = None,
    progress: bool = False,
    force: bool = False,
) -> dict:
    """Train physics encoder + denoiser; write OUT/model (weights, config, physics bank)."""
    env = C.setup_distributed(device)
    try:
        model_cfg = model_config(cfg.preset, cfg.model)
        data_path = data_dir or cfg.data
        data = C.open_prepared(data_path)
        C.check_preset_matches(data, model_cfg)
        if not data.has_residual:
            raise InputError(
                f"{data.root} has no band_weight/band_decay_db_per_s; run `physfoley train residual` first"
            )
        rows = data.indices("train")
        out = C.prepare_out_dir(out_dir, resume, cfg) if env.is_main else Path(out_dir)
        C.barrier(env)
        visual_dir = Path(cfg.visual_dir) if cfg.visual_dir else Path(out_dir).parent / "visual"
        C.seed_everything(cfg.seed)
        model = build_model(model_cfg).to(env.device)
        model.visual.load_state_dict(load_visual_run(visual_dir, model_cfg))
        model.visual.requires_grad_(False)
        inputs = _cached_inputs(model, data, rows, out, env, cfg.infer_batch_size)
        if cfg.auto_data_scale:  # normalisation statistic stored in the model config
            scale = float(np.sqrt(np.mean(inputs["spec"].astype(np.float64) ** 2)))
            diff_cfg = dataclasses.replace(model_cfg.diffusion, data_scale=round(scale, 6))
            model_cfg = dataclasses.replace(model_cfg, diffusion=diff_cfg)
            model.cfg = model_cfg
        inv_scale = 1.0 / model_cfg.diffusion.data_scale
        C.seed_everything(cfg.seed + env.rank)
        objective = make_objective(
            model_cfg.diffusion.objective,
            make_schedule(model_cfg.diffusion.schedule, model_cfg.diffusion.timesteps),
            model_cfg.diffusion.cond_drop_prob,
        )
        trainable = _Trainable(model, objective).to(env.device)
        net = C.wrap_ddp(trainable, env)
        opt = torch.optim.AdamW(trainable.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        ema = C.EMA(trainable, cfg.ema_decay) if cfg.ema_decay > 0 else None
        modules = {"trainable": trainable, **({"ema": ema} if ema else {})}
        step = 0
        ckpt = C.latest_checkpoint(out) if resume else None
        if ckpt is not None:
            step = C.load_checkpoint(ckpt, modules, opt, env)["step"]
        bar = C.Progress(out, env, cfg.max_steps, step, "diffusion", progress)
        local = np.arange(len(rows))
        loss_value = float("nan")
        trainable.train()
        while step < cfg.max_steps:
            for group in opt.param_groups:
                group["lr"] = C.lr_at(step, cfg)
            b = C.batch_rows(local, cfg.batch_size, step, cfg.seed, env)
            x0 = torch.from_numpy(inputs["spec"][b] * inv_scale).unsqueeze(1).to(env.device)
            physics = {k: torch.from_numpy(inputs[k][b]).to(env.device) for k in PHYSICS_KEYS}
            nu = torch.from_numpy(inputs["nu"][b]).to(env.device)
            loss = net(x0, physics, nu)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable.parameters(), cfg.grad_clip)
            opt.step()
            if ema is not None:
                ema.update(trainable, step)
            step += 1
            loss_value = float(loss.detach())
            bar.update()
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                bar.log(
                    step, {"diffusion/loss": loss_value, "diffusion/lr": C.lr_at(step - 1, cfg)}
                )
            out_of_time = cfg.time_budget_s > 0 and bar.elapsed_s() > cfg.time_budget_s
            if step % cfg.ckpt_every == 0 or step == cfg.max_steps or out_of_time:
                C.save_checkpoint(out, step, modules, opt, env, keep=cfg.keep_checkpoints)
            if out_of_time:
                break
        bar.close()
        summary = {
            "stage": "diffusion",
            "steps": step,
            "final_loss": loss_value,
            "train_clips": len(rows),
        }
        if env.is_main:
            if ema is not None:
                trainable.load_state_dict(ema.state_dict())
            model.eval()
            summary["model_dir"] = str(
                _save_final(
                    model, cfg, data_path, out / MODEL_DIR, env, summary, force=force or resume
                )
            )
        C.barrier(env)
        return summary
    finally:
        C.cleanup_distributed()


def _save_final(model, cfg, data_path, model_dir: Path, env, summary: dict, *, force: bool) -> Path:
    def add_bank(tmp: Path) -> None:
        if not cfg.build_bank:
            return
        bank = build_physics_bank(
            model, data_path, split="train", batch_size=cfg.infer_batch_size, device=env.device
        )
        bank.save(tmp, force=True)

    dtype = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}.get(
        cfg.model_dtype, "bad"
    )
    if dtype == "bad":
        raise InputError(
            f"model_dtype must be float32, float16 or bfloat16, not {cfg.model_dtype!r}"
        )
    extra = {
        "training": {
            **summary,
            "data": str(Path(data_path).name),
            "train_config": json.loads(json.dumps(cfg.__dict__, default=str)),
        }
    }
    return save_model_dir(
        model_dir, model, force=force, dtype=dtype, extra=extra, before_commit=add_bank
    )


@torch.no_grad()
def build_physics_bank(
    model,
    prepared_dir: str | os.PathLike,
    *,
    split: str = "train",
    metric: str = "l2",
    index: str = "flat",
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> PhysicsBank:
    """Build the PhysicsBank of a trained model from a prepared dataset's `split`.

    Keys are the model's visual latents nu of each clip's 22-frame window (computed in batches),
    values the clip's physics inputs (`PHYSICS_KEYS`), clip ids "VIDEO@TIMEs" and materials
    from index.csv. Save it into the model directory with `bank.save(model_dir)`.
    """
    data = PreparedData.open(prepared_dir)
    rows = data.indices(split)
    if rows.size == 0:
        raise InputError(f"{prepared_dir} has no {split!r} clips to build a physics bank from")
    model = model.to(device).eval()
    frames = data.arrays["frames"]
    keys = []
    for start in range(0, rows.size, batch_size):
        batch = np.ascontiguousarray(frames[rows[start : start + batch_size]])
        key = model.retrieval_key(torch.from_numpy(batch).to(device))
        keys.append(key.float().cpu().numpy())
    values: dict[str, np.ndarray] = {
        k: np.asarray(data.arrays[k][rows], dtype=np.float32)
        for k in PHYSICS_KEYS
        if k in data.arrays
    }
    if set(values) != set(PHYSICS_KEYS):
        missing = sorted(set(PHYSICS_KEYS) - set(values))
        raise ModelError(
            f"{prepared_dir} lacks {', '.join(missing)}; fit the residual parameters first"
        )
    # A neighbour is reported as VIDEO@TIME (e.g. "synthhits_00042@3.468s"), which says where
    # to find and hear the training sound that lent its physics.
    clip_ids = [f"{data.index[r]['video']}@{float(data.index[r]['time_s']):.3f}s" for r in rows]
    materials = [data.index[r]["material"] for r in rows]
    return PhysicsBank.build(
        np.concatenate(keys),
        values,
        clip_ids=clip_ids,
        materials=materials,
        metric=metric,
        index=index,
        extra={"prepared": str(Path(prepared_dir).name), "split": split},
    )
