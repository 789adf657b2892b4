"""What every training stage shares: configs, seeding, DDP, data order, checkpoints, logging.

The loops run unchanged on one CPU process (`physfoley train ...`) and under
`torchrun --nproc_per_node=N` (DistributedDataParallel; gloo on CPU, NCCL on CUDA). Exact resume
after a kill: the data order is a pure function of (seed, step) (`batch_rows`), the learning
rate a pure function of step, and a checkpoint holds the weights, the optimizer state, the EMA
weights and every RNG state, so `--resume` continues the very trajectory an uninterrupted run
would have taken. Checkpoints are safetensors files (+ a JSON of scalars) written into a temp
folder and renamed, so a kill mid-write never leaves a checkpoint that looks complete.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from physfoley import jsondoc
from physfoley.atomic import check_output_dir, write_text_atomic
from physfoley.config import apply_overrides, load_yaml
from physfoley.data.datasets import PreparedData
from physfoley.errors import InputError

CHECKPOINT_DIR = "checkpoints"


@dataclass(frozen=True)
class TrainConfig:
    """Settings shared by every stage (YAML files override fields; unknown keys are errors)."""

    stage: str = ""
    preset: str = "small"  # model preset (physfoley.config.MODEL_PRESETS)
    model: dict = field(default_factory=dict)  # overrides of the model preset
    data: str | None = None  # prepared dataset folder (the CLI's --data wins)
    seed: int = 0
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1  # cosine decay to lr * min_lr_ratio at max_steps
    max_steps: int = 1000
    grad_clip: float = 1.0
    ema_decay: float = 0.0  # 0 disables the exponential moving average of the weights
    ckpt_every: int = 200
    keep_checkpoints: int = 2
    log_every: int = 10
    time_budget_s: float = 0.0  # > 0: stop (with a checkpoint) after this many seconds


@dataclass(frozen=True)
class ResidualTrainConfig(TrainConfig):
    stage: str = "residual"
    lr: float = 5e-4
    write_dataset: bool = True  # write band_weight/band_decay_db_per_s into the dataset at the end
    # MR-STFT resolutions (empty: auraloss's defaults, FFT 1024/2048/512, hop 120/240/50).
    fft_sizes: tuple[int, ...] = ()
    hop_sizes: tuple[int, ...] = ()
    win_lengths: tuple[int, ...] = ()
    infer_batch_size: int = 64


@dataclass(frozen=True)
class VisualTrainConfig(TrainConfig):
    stage: str = "visual"
    label_smoothing: float = 0.1
    flip_prob: float = 0.5  # horizontal flip augmentation
    crop_scale_min: float = 0.7  # random square crops of 70-100 % of the frame side (1 = off)
    infer_batch_size: int = 32


@dataclass(frozen=True)
class DiffusionTrainConfig(TrainConfig):
    stage: str = "diffusion"
    lr: float = 3e-4
    ema_decay: float = 0.999
    visual_dir: str | None = None  # trained visual stage (default: OUT/visual)
    infer_batch_size: int = 32
    build_bank: bool = True  # save the PhysicsBank of the training clips into the model dir
    model_dtype: str = "float32"  # dtype of the weights in the final model directory
    auto_data_scale: bool = True  # set diffusion.data_scale to the RMS of the training spectrograms


STAGE_CONFIGS = {
    "residual": ResidualTrainConfig,
    "visual": VisualTrainConfig,
    "diffusion": DiffusionTrainConfig,
}


def load_train_config(
    stage: str, path: str | os.PathLike | None = None, **overrides
) -> TrainConfig:
    """Stage defaults, then the YAML file, then `overrides` (e.g. from the command line)."""
    if stage not in STAGE_CONFIGS:
        raise InputError(f"unknown training stage {stage!r}; choose one of {sorted(STAGE_CONFIGS)}")
    cfg = STAGE_CONFIGS[stage]()
    data = load_yaml(path) if path is not None else {}
    if data.get("stage", stage) != stage:
        raise InputError(f"config file {path} is for stage {data['stage']!r}, not {stage!r}")
    cfg = apply_overrides(cfg, data)
    return apply_overrides(cfg, {k: v for k, v in overrides.items() if v is not None})


# ---------------------------------------------------------------------- seeding, DDP, devices
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str | None = None) -> DistEnv:
    """Start the process group when launched by torchrun (WORLD_SIZE > 1), else a single process.

    device: "cpu", "cuda", "cuda:N" or None (CUDA when available, else CPU). Under torchrun on
    CUDA each process takes GPU LOCAL_RANK; on CPU the gloo backend is used.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda was given but no CUDA device is available")
        if world > 1 or dev.index is None:
            dev = torch.device("cuda", local_rank if world > 1 else 0)
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistEnv(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap_ddp(module: nn.Module, env: DistEnv) -> nn.Module:
    """DistributedDataParallel around `module` when distributed, else `module` itself."""
    if not env.distributed:
        return module
    ids = [env.device.index] if env.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


# ---------------------------------------------------------------------- data order, lr
def batch_rows(
    rows: np.ndarray, batch_size: int, step: int, seed: int, env: DistEnv | None = None
) -> np.ndarray:
    """The dataset rows of global step `step` for this rank: a pure function of its arguments.

    Each epoch is a fresh permutation seeded by (seed, epoch); a global batch of
    batch_size * world_size rows is cut from it (last partial batch dropped) and each rank
    takes its share. rows: int64 [n] -> int64 [batch_size], sorted (faster memmap reads).
    """
    env = env or DistEnv()
    global_batch = batch_size * env.world_size
    per_epoch = len(rows) // global_batch
    if per_epoch == 0:
        raise InputError(
            f"{len(rows)} training clips are fewer than one batch of {global_batch}; "
            "lower batch_size or prepare more data"
        )
    epoch, pos = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(len(rows))
    chunk = perm[pos * global_batch : (pos + 1) * global_batch]
    return np.sort(rows[chunk[env.rank * batch_size : (env.rank + 1) * batch_size]])


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay from lr to lr * min_lr_ratio at max_steps."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.lr * (
        cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    )


class EMA:
    """Exponential moving average of a module's floating state (decay warmed up as in DDPM++)."""

    def __init__(self, module: nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in module.state_dict().items():
            if v.is_floating_point():
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for k in self.shadow:
            self.shadow[k].copy_(state[k])


# ---------------------------------------------------------------------- checkpoints
def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, state in sd["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, value in list(tensors.items()) + list(meta["scalars"].items()):
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda{i}"] = s
    np_state = np.random.get_state()
    py_state = random.getstate()
    meta = {
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    return tensors, meta


def _set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("cuda"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    n = meta["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), *n[2:]))
    p = meta["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def save_checkpoint(
    out_dir: str | os.PathLike,
    step: int,
    modules: dict[str, nn.Module | EMA],
    optimizer: torch.optim.Optimizer,
    env: DistEnv,
    *,
    keep: int = 2,
    extra: dict | None = None,
) -> Path:
    """Write OUT/checkpoints/step-NNNNNNN/ (weights, optimizer, RNG of every rank) atomically."""
    from safetensors.torch import save_file

    root = Path(out_dir) / CHECKPOINT_DIR
    final = root / f"step-{step:07d}"
    tmp = root / f".step-{step:07d}.tmp"
    if env.is_main:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    barrier(env)
    rng_t, rng_meta = _rng_state()
    save_file(rng_t, str(tmp / f"rng-rank{env.rank}.safetensors"))
    (tmp / f"rng-rank{env.rank}.json").write_text(json.dumps(rng_meta))
    barrier(env)
    if env.is_main:
        for name, module in modules.items():
            state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
            save_file(state, str(tmp / f"{name}.safetensors"))
        opt_t, opt_meta = _flatten_optimizer(optimizer)
        save_file(opt_t, str(tmp / "optimizer.safetensors"))
        doc = {"step": step, "world_size": env.world_size, "optimizer": opt_meta, **(extra or {})}
        # Python's own JSON (NaN kept): the checkpoint is read back by Python, bit for bit
        (tmp / "state.json").write_text(json.dumps(doc))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in sorted(root.glob("step-*"))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    barrier(env)
    return final


def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder under OUT/checkpoints, or None."""
    root = Path(out_dir) / CHECKPOINT_DIR
    done = sorted(p for p in root.glob("step-*") if (p / "state.json").is_file())
    return done[-1] if done else None


def load_checkpoint(
    ckpt: Path,
    modules: dict[str, nn.Module | EMA],
    optimizer: torch.optim.Optimizer,
    env: DistEnv,
) -> dict:
    """Restore weights, optimizer and RNG from `ckpt`; returns its state.json document."""
    from safetensors.torch import load_file

    try:
        doc = json.loads((ckpt / "state.json").read_text())
        if doc["world_size"] != env.world_size:
            raise InputError(
                f"{ckpt} was written by {doc['world_size']} processes; resume with the same number"
            )
        for name, module in modules.items():
            module.load_state_dict(load_file(str(ckpt / f"{name}.safetensors")))
        opt_t = load_file(str(ckpt / "optimizer.safetensors"))
        optimizer.load_state_dict(_unflatten_optimizer(opt_t, doc["optimizer"]))
        rng_t = load_file(str(ckpt / f"rng-rank{env.rank}.safetensors"))
        _set_rng_state(rng_t, json.loads((ckpt / f"rng-rank{env.rank}.json").read_text()))
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        raise InputError(
            f"checkpoint {ckpt} is unreadable ({err}); delete it to resume from the previous one"
        ) from None
    return doc


def prepare_out_dir(out_dir: str | os.PathLike, resume: bool, cfg: TrainConfig) -> Path:
    """Create OUT; refuse to train over an existing run unless resuming; record the config."""
    out = check_output_dir(out_dir)
    if out.exists() and any(out.iterdir()) and not resume:
        raise InputError(
            f"{out} already holds a training run; pass --resume to continue it or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "train_config.json"
    if not cfg_path.exists():
        write_text_atomic(cfg_path, jsondoc.dumps(dataclasses.asdict(cfg), indent=2))
    return out


class Progress:
    """tqdm bar (stderr) + TensorBoard SummaryWriter, on the main rank only."""

    def __init__(
        self, out_dir: Path, env: DistEnv, total: int, initial: int, desc: str, enabled: bool = True
    ):
        self.env = env
        self.bar = None
        self.writer = None
        self.start = time.monotonic()
        if env.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out_dir / "tb"))
            if enabled:
                from tqdm import tqdm

                self.bar = tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True)

    def elapsed_s(self) -> float:
        return time.monotonic() - self.start

    def log(self, step: int, scalars: dict[str, float]) -> None:
        if self.writer is not None:
            for k, v in scalars.items():
                self.writer.add_scalar(k, v, step)
        if self.bar is not None:
            self.bar.set_postfix({k.split("/")[-1]: f"{v:.4g}" for k, v in scalars.items()})

    def update(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def open_prepared(data_dir: str | os.PathLike | None) -> PreparedData:
    """PreparedData of `data_dir` with a clear error when none was given."""
    if not data_dir:
        raise InputError("no prepared dataset: pass --data DIR (a `physfoley data prepare` folder)")
    return PreparedData.open(data_dir)


def train_rows(data, batch_size: int, env: DistEnv) -> np.ndarray:
    """The rows of the train split of `data`, refused (before a run folder is made) when there
    are none or fewer than one global batch."""
    rows = data.indices("train")
    if rows.size == 0:
        raise InputError(
            f"{data.root} has no clip in its train split; prepare more videos "
            "(`physfoley data prepare`) or a smaller --test-fraction"
        )
    batch_rows(rows, batch_size, 0, 0, env)  # raises when one batch does not fit
    return rows


def check_preset_matches(data, model_cfg) -> None:
    """The dataset must have been prepared with the model's audio preset."""
    preset = data.meta.get("preset", {})
    name = preset.get("name") if isinstance(preset, dict) else preset
    audio = model_cfg.audio
    if isinstance(preset, dict) and preset.get("sample_rate") not in (None, audio.sample_rate):
        raise InputError(
            f"dataset {data.root} was prepared at {preset.get('sample_rate')} Hz (preset {name!r}) "
            f"but the model preset {model_cfg.name!r} needs {audio.sample_rate} Hz"
        )
    n = data.arrays["waves"].shape[1]
    if n != audio.num_samples:
        raise InputError(
            f"dataset {data.root} has clips of {n} samples; the model needs {audio.num_samples}"
        )


def write_array_atomic(path: Path, array: np.ndarray) -> None:
    """np.save to a temp file beside `path`, then rename (overwrites)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp.npy", dir=path.parent)
    os.close(fd)
    try:
        np.save(tmp, array)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
