"""What the four soundtrack stages (vae, cavp, align, ldm) share: configs, per-step RNG, the loop.

The conventions are those of `training.common` (seeded; one process or `torchrun` DDP; linear
warm-up + cosine lr; safetensors checkpoints with optimizer, EMA and RNG; `--resume`
continues the same trajectory; tqdm + TensorBoard). Segments are random crops, so a step's
batch is drawn from a generator seeded by (seed, step, rank) - a pure function of the step,
which is all exact resume needs - and so is every noise draw of the step.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from physfoley.config import apply_overrides, load_yaml
from physfoley.data.segments import SegmentData
from physfoley.errors import InputError
from physfoley.training import common as C


@dataclass(frozen=True)
class VAETrainConfig(C.TrainConfig):
    stage: str = "vae"
    lr: float = 5e-4
    batch_size: int = 16
    crop_mel_frames: int = 64  # random crops (the VAE is convolutional); 0: whole segments
    kl_weight: float = 1e-6  # Rombach et al.'s KL weight on summed terms
    scale_segments: int = 64  # training segments whose latents set the scale factor


@dataclass(frozen=True)
class CAVPTrainConfig(C.TrainConfig):
    stage: str = "cavp"
    batch_size: int = 8  # videos per batch (N_S of eq. 1)
    segments_per_video: int = 3  # N_T of eq. 2
    crop_latent_frames: int = 32  # segment length in latent frames (0: the preset's)
    temporal_weight: float = 1.0  # lambda of L = L_S + lambda L_T
    frame_weight: float = 1.0  # per-time-step contrast of the public code (0: paper only)
    frame_stride: int = 1  # average this many frames before the per-step contrast
    eval_segments: int = 64  # held-out segments for the retrieval figures


@dataclass(frozen=True)
class AlignTrainConfig(C.TrainConfig):
    stage: str = "align"
    lr: float = 3e-4
    batch_size: int = 32
    vae_dir: str | None = None  # default OUT/../vae/model
    cavp_dir: str | None = None  # default OUT/../cavp/model
    min_shift_s: float = 0.3  # temporally shifted pairs move by at least this much
    eval_segments: int = 128
    # True: the *evaluation* classifier of Align Acc (clean latents only, t = 0; its model dir
    # bundles the frozen vae and cavp it reads), not the noisy-latent one of double guidance
    clean_only: bool = False


@dataclass(frozen=True)
class LDMTrainConfig(C.TrainConfig):
    stage: str = "ldm"
    lr: float = 3e-4
    batch_size: int = 32
    ema_decay: float = 0.999
    vae_dir: str | None = None
    cavp_dir: str | None = None
    align_dir: str | None = None  # bundled into the model when present (default OUT/../align)
    split_merge: bool = True  # temporal split & merge augmentation (eq. 6)
    split_merge_prob: float = 0.5  # share of a batch made of merged pairs
    sampler: str = "dpmsolver++"  # sampling defaults written into the model directory
    steps: int = 25
    cfg_scale: float = 4.5  # omega (paper: 4.5)
    cg_scale: float = 50.0  # gamma (paper: 50)
    model_dtype: str = "float16"  # weights of the final model directory (float16 | float32)


@dataclass(frozen=True)
class PavasTrainConfig(C.TrainConfig):
    """PAVAS (docs/pavas.md): phase "backbone" trains the flow-matching DiT without physics;
    phase "adapter" starts from `backbone_dir` (a pavas or diff-foley model) and trains the
    transformer and the Phy-Adapter at a lower lr, physics replaced by null tokens with
    probability `physics_drop_prob`."""

    stage: str = "pavas"
    phase: str = "backbone"  # backbone | adapter
    lr: float = 3e-4
    batch_size: int = 32
    ema_decay: float = 0.999
    vae_dir: str | None = None
    cavp_dir: str | None = None
    backbone_dir: str | None = None  # phase adapter: default OUT/../pavas_backbone/model
    physics_drop_prob: float = 0.1
    physics: str = "truth"  # truth (SynthHits record) | ppe (the estimator on `videos`)
    videos: str | None = None  # physics ppe: the folder of NAME_denoised.mp4 of the segments
    # physics ppe: "estimate" keeps the estimator's masses; "truth" gives every found object
    # the striker's recorded mass (the picture does not weigh it) and the model a prior mass
    mass: str = "estimate"
    # what-if augmentation (ours; needs segments with --level recorded): this share of the
    # training segments gets its speed or its mass (at random) scaled by 2 or 1/2 and its sound
    # made 20 log10 2 = 6.02 dB louder or softer, as SynthHits' contact model says (amplitude
    # proportional to the impulse m (v_before + v_after)); the picture is left as it is
    level_augment: float = 0.0
    ramp_s: float = 0.15  # truth speed profile: linear ramp to each hit and away from it
    steps: int = 25  # Euler steps written into the model directory
    cfg_scale: float = 2.0
    physics_scale: float = 0.0  # physics guidance written into the model directory (sampling)
    model_dtype: str = "float16"


STAGE_CONFIGS = {
    "vae": VAETrainConfig,
    "cavp": CAVPTrainConfig,
    "align": AlignTrainConfig,
    "ldm": LDMTrainConfig,
    "pavas": PavasTrainConfig,
}


def load_stage_config(stage: str, path: str | os.PathLike | None = None, **overrides):
    """Stage defaults, then the YAML file, then `overrides` (None values ignored)."""
    if stage not in STAGE_CONFIGS:
        raise InputError(
            f"unknown soundtrack stage {stage!r}; choose one of {sorted(STAGE_CONFIGS)}"
        )
    data = load_yaml(path) if path is not None else {}
    if data.get("stage", stage) != stage:
        raise InputError(f"config file {path} is for stage {data['stage']!r}, not {stage!r}")
    cfg = apply_overrides(STAGE_CONFIGS[stage](), data)
    return apply_overrides(cfg, {k: v for k, v in overrides.items() if v is not None})


def step_generators(seed: int, step: int, rank: int) -> tuple[np.random.Generator, torch.Generator]:
    """NumPy and torch generators of one step: pure functions of (seed, step, rank)."""
    state = np.random.SeedSequence([seed, step, rank]).generate_state(2)
    gen = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
    return np.random.default_rng([seed, step, rank]), gen


def stage_dir(given: str | None, out_dir: str | os.PathLike, stage: str) -> Path:
    """A trained stage's model directory: `given`, else OUT/../STAGE/model."""
    return Path(given) if given else Path(out_dir).parent / stage / "model"


def open_segments(data_dir: str | os.PathLike | None, preset: str):
    """The prepared segments folder, checked against the stage's preset."""
    if not data_dir:
        raise InputError("no prepared data: pass --data DIR (a `physfoley data segments` folder)")
    data = SegmentData.open(data_dir)
    if data.cfg.name != preset:
        raise InputError(
            f"{data_dir} was prepared with preset {data.cfg.name!r}, the config asks for {preset!r}"
        )
    if len(data.indices("train")) == 0:
        raise InputError(f"{data_dir} has no training video long enough for one segment")
    return data


def open_stage(cfg, data_dir: str | os.PathLike | None, out_dir: str | os.PathLike,
               resume: bool, env) -> tuple[SegmentData, Path]:  # fmt: skip
    """A soundtrack stage's start, in the one safe order: check the segments (`data_dir`, else
    the config's), then make the run folder on the main rank only, then wait for all ranks.
    Returns (the segments, the run folder)."""
    data = open_segments(data_dir or cfg.data, cfg.preset)
    out = C.prepare_out_dir(out_dir, resume, cfg) if env.is_main else Path(out_dir)
    C.barrier(env)
    return data, out


def random_items(
    data, videos: np.ndarray, count: int, rng: np.random.Generator, length: int | None = None
) -> list[tuple[int, int]]:
    """`count` random (video, start latent frame) segments of `length` latent frames."""
    length = length or data.cfg.latent_frames
    picks = rng.choice(videos, size=count)
    return [
        (int(v), int(rng.integers(0, data.videos[v]["latent_frames"] - length + 1))) for v in picks
    ]


def run_loop(
    cfg: C.TrainConfig,
    *,
    out: Path,
    env: C.DistEnv,
    trainable: nn.Module,
    loss_fn: Callable[[nn.Module, int, np.random.Generator, torch.Generator], dict[str, Tensor]],
    resume: bool,
    progress: bool,
) -> dict:
    """Optimise `trainable` for cfg.max_steps steps of `loss_fn(net, step, rng, gen)["loss"]`.

    Checkpoints every cfg.ckpt_every steps, at the end and when cfg.time_budget_s runs out;
    with EMA (cfg.ema_decay > 0) the returned module state is the EMA's. Returns
    {"steps", "losses": last scalars, "ema": EMA or None}.
    """
    net = C.wrap_ddp(trainable, env)
    params = [p for p in trainable.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = C.EMA(trainable, cfg.ema_decay) if cfg.ema_decay > 0 else None
    modules = {"trainable": trainable, **({"ema": ema} if ema else {})}
    step = 0
    ckpt = C.latest_checkpoint(out) if resume else None
    if ckpt is not None:
        step = C.load_checkpoint(ckpt, modules, opt, env)["step"]
    bar = C.Progress(out, env, cfg.max_steps, step, cfg.stage, progress)
    scalars: dict[str, float] = {}
    trainable.train()
    while step < cfg.max_steps:
        for group in opt.param_groups:
            group["lr"] = C.lr_at(step, cfg)
        rng, gen = step_generators(cfg.seed, step, env.rank)
        losses = loss_fn(net, step, rng, gen)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        if ema is not None:
            ema.update(trainable, step)
        step += 1
        scalars = {f"{cfg.stage}/{k}": float(v.detach()) for k, v in losses.items()}
        bar.update()
        if step % cfg.log_every == 0 or step == cfg.max_steps:
            bar.log(step, {**scalars, f"{cfg.stage}/lr": C.lr_at(step - 1, cfg)})
        out_of_time = cfg.time_budget_s > 0 and bar.elapsed_s() > cfg.time_budget_s
        if step % cfg.ckpt_every == 0 or step == cfg.max_steps or out_of_time:
            C.save_checkpoint(out, step, modules, opt, env, keep=cfg.keep_checkpoints)
        if out_of_time:
            break
    bar.close()
    if ema is not None:
        trainable.load_state_dict(ema.state_dict())
    trainable.eval()
    return {"steps": step, "losses": {k.split("/")[-1]: v for k, v in scalars.items()}}
