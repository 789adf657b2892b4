"""The generative baselines of Su et al. section 4.3 and the ablations of Fig. 5, on shared features.

Every method sees the same visual features: the per-frame features of one trained visual
encoder (`VisualEncoder.frame_features` on its TSN segments, [N, W, C]) and their mean nu
(the model's visual latent). The methods:

- ``convnet``: the per-frame features upsampled in time to the spectrogram's T frames, a 1-D
  U-Net over time (frequency bins as channels) regresses the normalised log-spectrogram (L1).
- ``transformer``: a TTS-style conditional transformer decoder (Transformer-TTS): causal
  self-attention over previous spectrogram frames, cross-attention to the per-frame visual
  features, trained with teacher forcing (L1), generated frame by frame.
- diffusion with a conditioning choice (`CONDITIONS`), all with the same denoiser (the
  `small` preset's `FrameDiT`), objective (eps-prediction + L1, eq. 10, condition dropout),
  schedule and sampler (strided ancestral chain) as the model itself:
  ``video`` (nu only), ``video+label`` (nu + a learned material embedding),
  ``video+mfcc`` (nu + an MLP latent of the clip's MFCCs), ``video+spec`` (nu + an MLP
  latent of the pooled log-spectrogram) and ``video+physics`` (nu + the physics encoder's mu,
  ours).

At test time the extra latent (label, MFCC, spectrogram, physics) cannot come from the test
clip's sound; as in the paper for physics, it is taken from the training clip whose nu is
nearest (FAISS L2) to the test clip's, for every variant, so the comparison is fair.

Everything here is written for the evaluation (training loops are short and single-process,
unlike `physfoley train`); the model's own stages live in `physfoley.training`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physfoley.audio.params import PHYSICS_KEYS
from physfoley.config import AudioConfig
from physfoley.errors import InputError

CONDITIONS = ("video", "video+label", "video+mfcc", "video+spec", "video+physics")
METHODS = ("convnet", "transformer", *CONDITIONS)
#: Row labels of Table 1, in the paper's order.
METHOD_NAMES = {
    "convnet": "ConvNet-based",
    "transformer": "Transformer-based",
    "video": "Video Diffusion",
    "video+label": "Video + Class Label Diffusion",
    "video+mfcc": "Video + MFCC Diffusion",
    "video+spec": "Video + Spec Diffusion",
    "video+physics": "Video + Physics Diffusion (ours)",
}
MFCC_COEFFS = 20
SPEC_POOL = (32, 11)  # pooled spectrogram (frequency, time) that the spectrogram latent encodes


# ------------------------------------------------------------------------------------ inputs
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


def mfcc_features(waves: np.ndarray, audio: AudioConfig) -> np.ndarray:
    """MFCCs of peak-normalised clips: waves [N, S] -> float32 [N, 20 * T] (librosa)."""
    import librosa

    w = np.asarray(waves, np.float32)
    w = w / np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-12)
    m = librosa.feature.mfcc(
        y=w, sr=audio.sample_rate, n_mfcc=MFCC_COEFFS, n_fft=audio.n_fft,
        hop_length=audio.hop_length, n_mels=64,
    )  # fmt: skip  # [N, 20, T]
    return m.reshape(m.shape[0], -1).astype(np.float32)


def pooled_spectrogram(spec: np.ndarray | Tensor) -> np.ndarray:
    """spec [N, F, T] -> average-pooled [N, 32 * 11] (the input of the spectrogram latent)."""
    s = torch.as_tensor(np.asarray(spec), dtype=torch.float32)[:, None]
    return F.adaptive_avg_pool2d(s, SPEC_POOL).flatten(1).numpy()


@dataclass
class SharedVisual:
    """The trained visual encoder every method shares, with how it looks at a window.

    `features(frames: Tensor[B, 22, S, S, 3] uint8) -> Tensor[B, W, C]` per-segment features.
    """

    encoder: nn.Module
    model_cfg: object  # ModelConfig of the visual stage
    source: str

    @torch.no_grad()
    def features(self, frames: Tensor) -> Tensor:
        from physfoley.models import factory
        from physfoley.models.visual_encoder import segment_indices

        view = getattr(factory, "window_view", None)  # contact crop, where the model has one
        if view is not None:
            frames = view(frames, self.model_cfg.visual)
        idx = segment_indices(int(frames.shape[1]), int(self.model_cfg.visual.num_segments))
        return self.encoder.eval().frame_features(frames[:, idx])


def load_shared_visual(run_dir) -> SharedVisual:
    """The visual encoder of a finished visual stage (RUN/visual: visual.json + weights)."""
    import json
    from pathlib import Path

    from safetensors.torch import load_file

    from physfoley.config import config_from_dict
    from physfoley.models.factory import build_visual_encoder

    run = Path(run_dir)
    info, weights = run / "visual.json", run / "visual_encoder.safetensors"
    if not info.is_file() or not weights.is_file():
        raise InputError(f"{run} holds no finished visual stage (visual.json + weights)")
    cfg = config_from_dict(json.loads(info.read_text())["model_config"])
    enc = build_visual_encoder(cfg)
    enc.load_state_dict(load_file(str(weights)))
    return SharedVisual(enc.eval(), cfg, str(run))


@torch.no_grad()
def clip_inputs(
    visual: SharedVisual, data, rows: np.ndarray, audio: AudioConfig, *, batch_size: int = 64
) -> ClipInputs:
    """`ClipInputs` of prepared-data `rows` with the shared visual encoder."""
    from physfoley.audio.spectrogram import log_spectrogram
    from physfoley.models.physics_encoder import normalize_physics

    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        raise InputError("no clips in this split")
    feats, specs = [], []
    for s in range(0, rows.size, batch_size):
        b = rows[s : s + batch_size]
        frames = torch.from_numpy(np.ascontiguousarray(data.arrays["frames"][b]))
        feats.append(visual.features(frames).float().numpy())
        wave = torch.from_numpy(np.array(data.arrays["waves"][b], np.float32))
        specs.append(log_spectrogram(wave, audio).numpy())
    frame_feats = np.concatenate(feats)
    spec = np.concatenate(specs).astype(np.float32)
    raw = {k: np.array(data.arrays[k][rows], np.float32) for k in PHYSICS_KEYS}
    norm = normalize_physics({k: torch.from_numpy(v) for k, v in raw.items()}, audio)
    labels = np.asarray([data.index[r]["material_id"] for r in rows], dtype=np.int64)
    return ClipInputs(
        frame_feats=frame_feats,
        nu=frame_feats.mean(axis=1),
        spec=spec,
        labels=labels,
        mfcc=mfcc_features(data.arrays["waves"][rows], audio),
        spec_pool=pooled_spectrogram(spec),
        physics={k: v.numpy().astype(np.float32) for k, v in norm.items()},
        raw_physics=raw,
    )


def retrieve(train: ClipInputs, test: ClipInputs) -> np.ndarray:
    """Row of the training clip whose nu is nearest (L2) to each test clip's -> int64 [N_test]."""
    from physfoley.evaluation.retrieval_baselines import nearest_rows

    return nearest_rows(train.nu, test.nu)


def retrieve_same_material(train: ClipInputs, test: ClipInputs) -> np.ndarray | None:
    """Diagnostic retrieval: nearest nu among training clips of the test clip's *true* material
    -> int64 [N_test] training rows, or None when a test material has no training clip."""
    from physfoley.evaluation.retrieval_baselines import nearest_rows

    out = np.empty(len(test), dtype=np.int64)
    for label in np.unique(test.labels):
        pool = np.flatnonzero(train.labels == label)
        if pool.size == 0:
            return None
        q = np.flatnonzero(test.labels == label)
        out[q] = pool[nearest_rows(train.nu[pool], test.nu[q])]
    return out


# ------------------------------------------------------------------------------------ networks
def _mlp(d_in: int, d_out: int, hidden: int = 256) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, d_out), nn.Tanh())


class ConditionalDiffusion(nn.Module):
    """The `small` FrameDiT denoiser with one of `CONDITIONS`.

    `conditions(batch: dict of tensors) -> {"nu": [B, C], ...}`; `forward(x, t, cond, drop)`
    is the denoiser. Latent encoders (label embedding, MFCC / spectrogram MLPs, the physics
    encoder) are trained jointly with the denoiser, as the physics encoder is in the model.
    `data_scale` (the RMS of the training spectrograms) as in `physfoley train diffusion`.
    """

    def __init__(
        self,
        condition: str,
        audio: AudioConfig,
        nu_dim: int,
        *,
        mfcc_dim: int = 0,
        num_classes: int = 10,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        data_scale: float = 1.0,
    ) -> None:
        super().__init__()
        from physfoley.config import model_config
        from physfoley.models.dit import FrameDiT
        from physfoley.models.factory import build_physics_encoder

        if condition not in CONDITIONS:
            raise InputError(f"unknown condition {condition!r}; choose one of {CONDITIONS}")
        self.condition = condition
        self.data_scale = float(data_scale)
        cond_dims = {"nu": nu_dim}
        self.latent: nn.Module | None = None
        if condition == "video+label":
            self.latent, cond_dims["z"] = nn.Embedding(num_classes, 64), 64
        elif condition == "video+mfcc":
            self.latent, cond_dims["z"] = _mlp(mfcc_dim, 128), 128
        elif condition == "video+spec":
            self.latent, cond_dims["z"] = _mlp(SPEC_POOL[0] * SPEC_POOL[1], 128), 128
        elif condition == "video+physics":
            self.latent = build_physics_encoder(model_config("small"))
            cond_dims["z"] = self.latent.latent_dim if hasattr(self.latent, "latent_dim") else 256
        f, t = audio.spec_shape
        self.spec_shape = (1, f, t)
        self.denoiser = FrameDiT(f, t, cond_dims, dim=dim, depth=depth, heads=heads, mlp_ratio=2.0)

    def conditions(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """batch: "nu" [B, C] and the latent's input ("label" [B] long, "mfcc", "spec_pool",
        or the normalised physics keys) -> the denoiser's condition dict."""
        cond = {"nu": batch["nu"]}
        if self.condition == "video+label":
            cond["z"] = self.latent(batch["label"])
        elif self.condition == "video+mfcc":
            cond["z"] = self.latent(batch["mfcc"])
        elif self.condition == "video+spec":
            cond["z"] = self.latent(batch["spec_pool"])
        elif self.condition == "video+physics":
            cond["z"] = self.latent({k: batch[k] for k in PHYSICS_KEYS}, normalized=True)
        return cond

    def forward(self, x: Tensor, t: Tensor, cond: dict[str, Tensor], drop: Tensor | None = None):
        """x: Tensor[B, 1, F, T] (divided by data_scale) -> predicted noise, same shape."""
        return self.denoiser(x, t, cond, drop)


class ConvNetBaseline(nn.Module):
    """Visual features upsampled in time -> 1-D U-Net over time -> spectrogram [B, F, T].

    `forward(frame_feats: Tensor[B, W, C]) -> Tensor[B, F, T]` in [-1, 1].
    """

    def __init__(self, feat_dim: int, num_freqs: int, num_frames: int, width: int = 128):
        super().__init__()
        self.num_frames = num_frames

        def block(i: int, o: int, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv1d(i, o, 3, stride=stride, padding=1), nn.GroupNorm(8, o), nn.SiLU(),
                nn.Conv1d(o, o, 3, padding=1), nn.GroupNorm(8, o), nn.SiLU(),
            )  # fmt: skip

        self.inp = block(feat_dim, width)
        self.down1 = block(width, 2 * width, 2)  # T/2
        self.down2 = block(2 * width, 2 * width, 2)  # T/4
        self.up2 = block(4 * width, 2 * width)
        self.up1 = block(3 * width, width)
        self.out = nn.Conv1d(width, num_freqs, 1)

    def forward(self, frame_feats: Tensor) -> Tensor:
        x = F.interpolate(
            frame_feats.transpose(1, 2), size=self.num_frames, mode="linear", align_corners=True
        )
        h0 = self.inp(x)
        h1 = self.down1(h0)
        h2 = self.down2(h1)
        u = F.interpolate(h2, size=h1.shape[-1], mode="nearest")
        u = self.up2(torch.cat([u, h1], 1))
        u = F.interpolate(u, size=h0.shape[-1], mode="nearest")
        u = self.up1(torch.cat([u, h0], 1))
        return torch.tanh(self.out(u))


class TransformerBaseline(nn.Module):
    """Transformer-TTS-style decoder: spectrogram frames attend to earlier frames (causal) and
    to the per-frame visual features (cross-attention).

    `forward(frame_feats [B, W, C], spec [B, F, T]) -> Tensor[B, F, T]` (teacher forcing: frame
    t is predicted from frames < t); `generate(frame_feats) -> Tensor[B, F, T]` autoregressively.
    """

    def __init__(
        self, feat_dim: int, num_freqs: int, num_frames: int, dim: int = 128, depth: int = 3
    ):
        super().__init__()
        self.num_freqs, self.num_frames = num_freqs, num_frames
        self.memory = nn.Linear(feat_dim, dim)
        self.mem_pos = nn.Parameter(torch.randn(64, dim) * 0.02)
        self.prenet = nn.Sequential(nn.Linear(num_freqs, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.pos = nn.Parameter(torch.randn(num_frames, dim) * 0.02)
        self.start = nn.Parameter(torch.zeros(num_freqs))
        layer = nn.TransformerDecoderLayer(dim, 4, 2 * dim, dropout=0.1, batch_first=True)
        self.decoder = nn.TransformerDecoder(layer, depth)
        self.out = nn.Linear(dim, num_freqs)

    def _decode(self, mem: Tensor, prev: Tensor) -> Tensor:
        n = prev.shape[1]
        mask = torch.triu(torch.full((n, n), float("-inf")), diagonal=1)
        h = self.prenet(prev) + self.pos[:n]
        return torch.tanh(self.out(self.decoder(h, mem, tgt_mask=mask)))

    def _memory(self, frame_feats: Tensor) -> Tensor:
        return self.memory(frame_feats) + self.mem_pos[: frame_feats.shape[1]]

    def forward(self, frame_feats: Tensor, spec: Tensor) -> Tensor:
        frames = spec.transpose(1, 2)  # [B, T, F]
        start = self.start.expand(frames.shape[0], 1, -1)
        prev = torch.cat([start, frames[:, :-1]], 1)
        return self._decode(self._memory(frame_feats), prev).transpose(1, 2)

    @torch.no_grad()
    def generate(self, frame_feats: Tensor) -> Tensor:
        mem = self._memory(frame_feats)
        prev = self.start.expand(frame_feats.shape[0], 1, -1)
        for _ in range(self.num_frames):
            nxt = self._decode(mem, prev)[:, -1:]
            prev = torch.cat([prev, nxt], 1)
        return prev[:, 1:].transpose(1, 2)


# ------------------------------------------------------------------------------------ training
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


def _batch_tensors(inputs: ClipInputs, rows: np.ndarray) -> dict[str, Tensor]:
    out = {
        "frame_feats": torch.from_numpy(inputs.frame_feats[rows]),
        "nu": torch.from_numpy(inputs.nu[rows]),
        "spec": torch.from_numpy(inputs.spec[rows]),
        "label": torch.from_numpy(inputs.labels[rows]),
        "mfcc": torch.from_numpy(inputs.mfcc[rows]),
        "spec_pool": torch.from_numpy(inputs.spec_pool[rows]),
    }
    out.update({k: torch.from_numpy(v[rows]) for k, v in inputs.physics.items()})
    return out


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
    from physfoley.training.common import EMA

    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    opt = torch.optim.AdamW(module.parameters(), lr=s.lr, weight_decay=0.0)
    avg = EMA(module, s.ema_decay) if ema else None
    module.train()
    for step in range(s.steps):
        for g in opt.param_groups:
            g["lr"] = _lr(step, s)
        rows = rng.choice(len(train), size=min(s.batch_size, len(train)), replace=False)
        loss = loss_fn(_batch_tensors(train, rows))
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
        from physfoley.diffusion.samplers import sample_loop
        from physfoley.diffusion.schedule import make_schedule

        m: ConditionalDiffusion = self.module
        batch = _batch_tensors(retrieved, rows)
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
    from physfoley.diffusion.objectives import EpsilonL1
    from physfoley.diffusion.schedule import make_schedule

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


# ------------------------------------------------------------------------------------ ablations
def train_latent_predictor(
    ours: TrainedMethod, train: ClipInputs, *, steps: int = 600, seed: int = 0
) -> nn.Module:
    """Fig. 5(b) "predicted physics latent": an MLP nu -> mu regressing the trained physics
    encoder's latent of each training clip (MSE), used instead of the retrieved mu."""
    m: ConditionalDiffusion = ours.module
    with torch.no_grad():
        target = m.conditions(_batch_tensors(train, np.arange(len(train))))["z"]
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(train.nu.shape[1], 256), nn.SiLU(), nn.Linear(256, target.shape[1]), nn.Tanh()
    )
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


@torch.no_grad()
def physics_resynthesis(
    raw_physics: dict[str, np.ndarray], audio: AudioConfig, *, residual: bool, seed: int = 0
) -> Tensor:
    """Fig. 5(b) "modal only" / "+ residual": the (retrieved) physics parameters resynthesised
    (eq. 4, plus the noise bands of eq. 5-6 when `residual`) -> log-spectrograms [N, F, T]."""
    from physfoley.audio.residual import ResidualSynth
    from physfoley.audio.spectrogram import log_spectrogram, peak_normalize
    from physfoley.audio.synthesis import modal_synthesis

    p = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in raw_physics.items()}
    wave = peak_normalize(
        modal_synthesis(p["freq_hz"], p["power_db"], p["decay_db_per_s"], audio.sample_rate,
                        audio.num_samples)
    )  # fmt: skip
    if residual:
        synth = ResidualSynth(audio, p["band_weight"].shape[1], seed=seed)
        wave = peak_normalize(wave + synth(p["band_weight"], p["band_decay_db_per_s"]))
    return log_spectrogram(wave, audio)


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
    from physfoley.audio.losses import mrstft_loss
    from physfoley.audio.residual import ResidualSynth
    from physfoley.audio.spectrogram import peak_normalize
    from physfoley.models.residual_encoder import ResidualEncoder
    from physfoley.training.residual import _batch

    resolutions = resolutions or {}
    train_rows = data.indices("train")
    test_rows = data.indices("test")[:eval_clips]
    t_spec, t_modal, t_wave = _batch(data, test_rows, audio, "cpu")
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
            spec, modal, wave = _batch(data, rows, audio, "cpu")
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
