"""Fitting the generative baselines of Su et al. section 4.3 and the ablations of Fig. 5.

`train_method` fits one of `METHODS` (networks in `physfoley.models.baselines`) on the
`ClipInputs` of the training clips and returns a `TrainedMethod` that generates spectrograms
for test clips: the ConvNet and the transformer regress the spectrogram (L1), the diffusion
variants train the denoiser with the model's objective (eps-prediction + L1, eq. 10, condition
dropout), schedule and sampler (strided ancestral chain). `train_latent_predictor` and
`residual_band_ablation` are the Fig. 5 ablations that need training.

These loops are short and single-process, written for the evaluation (unlike `physfoley
train`); `physfoley.evaluation.baselines` computes their inputs and `benchmarks/
reproduce_tables.py` scores them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physfoley.audio.losses import mrstft_loss
from physfoley.audio.residual import ResidualSynth
from physfoley.audio.spectrogram import peak_normalize
from physfoley.config import AudioConfig
from physfoley.diffusion.objectives import EpsilonL1
from physfoley.diffusion.samplers import sample_loop
from physfoley.diffusion.schedule import make_schedule
from physfoley.errors import InputError
from physfoley.models.baselines import (
    CONDITIONS,
    METHODS,
    ConditionalDiffusion,
    ConvNetBaseline,
    TransformerBaseline,
    latent_mlp,
)
from physfoley.models.residual_encoder import ResidualEncoder
from physfoley.training.common import EMA
from physfoley.training.residual import residual_batch


@dataclass
class ClipInputs:
    """Per-clip arrays of one split, computed once and shared by every method.

    frame_feats [N, W, C] float32, nu [N, C], spec [N, F, T] normalised log-spectrogram,
    labels [N] int64 material ids, mfcc [N, 20 * T], spec_pool [N, 32 * 11], physics: the
    normalised physics inputs {key: [N, K] / [N, M]}, raw_physics: the raw ones.
    """

    frame_feats: np.ndarray
    nu: np.ndarray
    spec: np.ndarray
    labels: np.ndarray
    mfcc: np.ndarray
    spec_pool: np.ndarray
    physics: dict[str, np.ndarray]
    raw_physics: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.nu.shape[0])

    def take(self, rows: np.ndarray) -> ClipInputs:
        """The same arrays for `rows` (e.g. the retrieved training clips)."""
        rows = np.asarray(rows, dtype=np.int64)
        return ClipInputs(
            self.frame_feats[rows], self.nu[rows], self.spec[rows], self.labels[rows],
            self.mfcc[rows], self.spec_pool[rows],
            {k: v[rows] for k, v in self.physics.items()},
            {k: v[rows] for k, v in self.raw_physics.items()},
        )  # fmt: skip

    def tensors(self, rows: np.ndarray) -> dict[str, Tensor]:
        """One batch as tensors: "frame_feats" [B, W, C], "nu" [B, C], "spec" [B, F, T],
        "label" [B], "mfcc", "spec_pool" and the normalised physics keys, for `rows` [B]."""
        out = {
            "frame_feats": torch.from_numpy(self.frame_feats[rows]),
            "nu": torch.from_numpy(self.nu[rows]),
            "spec": torch.from_numpy(self.spec[rows]),
            "label": torch.from_numpy(self.labels[rows]),
            "mfcc": torch.from_numpy(self.mfcc[rows]),
            "spec_pool": torch.from_numpy(self.spec_pool[rows]),
        }
        out.update({k: torch.from_numpy(v[rows]) for k, v in self.physics.items()})
        return out


@dataclass
class TrainSettings:
    """Short training runs for the baselines (the paper trains far longer; say so)."""

    steps: int = 1500
    batch_size: int = 24
    lr: float = 8e-4
    warmup_steps: int = 30
    ema_decay: float = 0.995
    seed: int = 0
    sample_steps: int = 100  # strided ancestral chain at test time (the model's default)


def _lr(step: int, s: TrainSettings) -> float:
    if step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps
    p = min(1.0, (step - s.warmup_steps) / max(1, s.steps - s.warmup_steps))
    return s.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


class _Standardizer:
    """Per-dimension standardisation of the MFCC inputs (fitted on the training split)."""

    def __init__(self, x: np.ndarray):
        self.mean, self.std = x.mean(0), x.std(0) + 1e-6

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)


def _fit(
    module: nn.Module,
    loss_fn: Callable[[dict[str, Tensor]], Tensor],
    train: ClipInputs,
    s: TrainSettings,
    ema: bool,
    on_step: Callable[[int, float], None] | None,
) -> nn.Module:
    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    opt = torch.optim.AdamW(module.parameters(), lr=s.lr, weight_decay=0.0)
    avg = EMA(module, s.ema_decay) if ema else None
    module.train()
    for step in range(s.steps):
        for g in opt.param_groups:
            g["lr"] = _lr(step, s)
        rows = rng.choice(len(train), size=min(s.batch_size, len(train)), replace=False)
        loss = loss_fn(train.tensors(rows))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        opt.step()
        if avg is not None:
            avg.update(module, step)
        if on_step is not None:
            on_step(step + 1, float(loss.detach()))
    if avg is not None:
        module.load_state_dict(avg.state_dict())
    return module.eval()


@dataclass
class TrainedMethod:
    """A trained baseline: `generate(test, retrieved, seed) -> Tensor[N, F, T]` in [-1, 1]."""

    method: str
    module: nn.Module
    mfcc_norm: _Standardizer | None = None
    sample_steps: int = 100

    @torch.no_grad()
    def generate(
        self, test: ClipInputs, retrieved: ClipInputs, *, seed: int = 0, batch_size: int = 64,
        latent_override: Tensor | None = None,
    ) -> Tensor:  # fmt: skip
        """Spectrograms for the test clips. `retrieved` holds, row for row, the training clip
        retrieved for each test clip (the source of label / MFCC / spectrogram / physics).
        `latent_override` [N, D] replaces the retrieved latent z (the predicted-latent ablation)."""
        m = self.module.eval()
        out = []
        for b, s0 in enumerate(range(0, len(test), batch_size)):
            rows = np.arange(s0, min(s0 + batch_size, len(test)))
            if self.method == "convnet":
                out.append(m(torch.from_numpy(test.frame_feats[rows])))
            elif self.method == "transformer":
                out.append(m.generate(torch.from_numpy(test.frame_feats[rows])))
            else:
                out.append(
                    self._sample(test, retrieved, rows, seed * 1_000_003 + b, latent_override)
                )
        return torch.cat(out).clamp(-1, 1)

    def _sample(self, test, retrieved, rows, seed, latent_override) -> Tensor:
        m: ConditionalDiffusion = self.module
        batch = retrieved.tensors(rows)
        if self.mfcc_norm is not None:
            batch["mfcc"] = torch.from_numpy(self.mfcc_norm(retrieved.mfcc[rows]))
        batch["nu"] = torch.from_numpy(test.nu[rows])  # the test clip's own video
        cond = m.conditions(batch)
        if latent_override is not None:
            cond["z"] = latent_override[rows]
        x = sample_loop(
            m, (len(rows), *m.spec_shape), cond, schedule=make_schedule("cosine", 1000),
            sampler="ancestral", steps=self.sample_steps, eta=1.0,
            generator=torch.Generator().manual_seed(int(seed)), clip=1.0 / m.data_scale,
        )  # fmt: skip
        return (x[:, 0] * m.data_scale).clamp(-1, 1)


def train_method(
    method: str,
    train: ClipInputs,
    audio: AudioConfig,
    settings: TrainSettings,
    *,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainedMethod:
    """Train one of `METHODS` on the training clips' inputs."""
    f, t = audio.spec_shape
    c = train.frame_feats.shape[2]
    if method == "convnet":
        net = ConvNetBaseline(c, f, t)
        fit = _fit(
            net, lambda b: (net(b["frame_feats"]) - b["spec"]).abs().mean(), train, settings,
            False, on_step,
        )  # fmt: skip
        return TrainedMethod(method, fit)
    if method == "transformer":
        net = TransformerBaseline(c, f, t)
        fit = _fit(
            net, lambda b: (net(b["frame_feats"], b["spec"]) - b["spec"]).abs().mean(), train,
            settings, False, on_step,
        )  # fmt: skip
        return TrainedMethod(method, fit)
    if method not in CONDITIONS:
        raise InputError(f"unknown method {method!r}; choose one of {METHODS}")
    norm = _Standardizer(train.mfcc) if method == "video+mfcc" else None
    if norm is not None:
        train = ClipInputs(**{**train.__dict__, "mfcc": norm(train.mfcc)})
    scale = float(np.sqrt(np.mean(train.spec.astype(np.float64) ** 2)))
    torch.manual_seed(settings.seed)
    net = ConditionalDiffusion(
        method, audio, c, mfcc_dim=train.mfcc.shape[1], num_classes=10, data_scale=scale
    )
    objective = EpsilonL1(make_schedule("cosine", 1000), cond_drop_prob=0.1)

    def loss(b: dict[str, Tensor]) -> Tensor:
        x0 = (b["spec"] / scale).unsqueeze(1)
        return objective.loss(net, x0, net.conditions(b))

    fit = _fit(net, loss, train, settings, True, on_step)
    return TrainedMethod(method, fit, norm, settings.sample_steps)


def train_latent_predictor(
    ours: TrainedMethod, train: ClipInputs, *, steps: int = 600, seed: int = 0
) -> nn.Module:
    """Fig. 5(b) "predicted physics latent": an MLP nu -> mu regressing the trained physics
    encoder's latent of each training clip (MSE), used instead of the retrieved mu."""
    m: ConditionalDiffusion = ours.module
    with torch.no_grad():
        target = m.conditions(train.tensors(np.arange(len(train))))["z"]
    torch.manual_seed(seed)
    net = latent_mlp(train.nu.shape[1], target.shape[1])
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.from_numpy(train.nu)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(train), (64,), generator=gen)
        loss = F.mse_loss(net(x[idx]), target[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


def residual_band_ablation(
    data,
    audio: AudioConfig,
    band_counts: tuple[int, ...] = (0, 25, 50, 100, 200),
    *,
    steps: int = 30,
    batch_size: int = 16,
    eval_clips: int = 64,
    seed: int = 0,
    resolutions: dict | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
) -> dict[int, float]:
    """Fig. 5(a): MR-STFT loss of modal + learned residual against the number of bands M.

    For each M > 0 a residual encoder (the `small` preset's) is trained for `steps` steps on the
    training clips exactly as `physfoley train residual` does (peak-normalised modal + residual
    vs the clip), without writing anything into the dataset; M = 0 is modal synthesis alone.
    Returns {M: mean MR-STFT loss on the first `eval_clips` test clips}.
    """
    resolutions = resolutions or {}
    train_rows = data.indices("train")
    test_rows = data.indices("test")[:eval_clips]
    t_spec, t_modal, t_wave = residual_batch(data, test_rows, audio, "cpu")
    f, t = audio.spec_shape
    out: dict[int, float] = {}
    for m in band_counts:
        if m == 0:
            with torch.no_grad():
                out[0] = float(mrstft_loss(t_modal, t_wave, **resolutions))
            continue
        torch.manual_seed(seed)
        enc = ResidualEncoder(f, t, num_bands=m, dim=128, depth=4, heads=4, max_decay_s=0.5)
        synth = ResidualSynth(audio, m, seed=seed)
        opt = torch.optim.AdamW(enc.parameters(), lr=1e-3, weight_decay=1e-4)
        rng = np.random.default_rng(seed)
        for step in range(steps):
            for g in opt.param_groups:
                g["lr"] = 1e-3 * min(1.0, (step + 1) / 5)
            rows = np.sort(rng.choice(train_rows, size=batch_size, replace=False))
            spec, modal, wave = residual_batch(data, rows, audio, "cpu")
            w, d = enc(spec)
            loss = mrstft_loss(peak_normalize(modal + synth(w, d)), wave, **resolutions)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(enc.parameters(), 1.0)
            opt.step()
            if on_step is not None:
                on_step(m, step + 1, float(loss.detach()))
        enc.eval()
        with torch.no_grad():
            w, d = enc(t_spec)
            out[m] = float(
                mrstft_loss(peak_normalize(t_modal + synth(w, d)), t_wave, **resolutions)
            )
    return out
