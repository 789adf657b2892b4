"""The evaluation classifier: a small ResNet that tells an impact sound's material from its spectrogram.

Su et al. (section 4.4) score generated impact sounds with a material classifier trained on the
training split's recorded clips: its penultimate features are the embedding for FID and KID, its
posteriors give the KL divergence and the recognition accuracy. This module holds that network
(`MaterialResNet`), its outputs (`classifier_outputs`, `EvalClassifier.features`) and a
self-describing folder format (`config.json` + `model.safetensors`) read back by
`load_eval_classifier`; its training is `physfoley.evaluation.classifier_training`.

Inputs are the normalised log-spectrograms the diffusion model generates
(`physfoley.audio.spectrogram.log_spectrogram`, peak-normalised, in [-1, 1]), so generated
spectrograms can be scored without a vocoder round trip and recorded clips go through the very
same transform. The paper used a ResNet-50; the default here is a 4-stage basic-block ResNet
sized to train in minutes on a CPU (`widths`, `blocks_per_stage` make it as large as wanted).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from physfoley.atomic import atomic_path, check_output_path, write_text_atomic
from physfoley.audio.spectrogram import log_spectrogram
from physfoley.config import AudioConfig, get_preset
from physfoley.errors import InputError, ModelError

FORMAT_NAME = "physfoley-eval-classifier"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class ClassifierConfig:
    """Network size and training settings of the evaluation classifier.

    Attributes
    ----------
    num_classes : number of materials (10 in the paper's setup).
    widths : channels of each ResNet stage; the last one is the embedding size.
    blocks_per_stage : basic residual blocks per stage.
    dropout : before the classification layer (the embedding is taken before it).
    epochs, batch_size, lr, weight_decay : AdamW with a cosine schedule.
    freq_bins_out : frequency rows kept by the final pooling (time is averaged out); material
        lives in *where* the modes are, which a global average pool would throw away.
    embed_dim : size of the embedding (FID/KID features), a linear layer over those rows.
    time_shift_frames : training augmentation, random roll of up to this many STFT frames.
    freq_shift_bins : training augmentation, random shift of up to this many frequency bins.
    mask_frames, mask_bins : training augmentation (SpecAugment), one time mask of up to
        `mask_frames` frames and one frequency mask of up to `mask_bins` bins per clip.
    noise_std : training augmentation, Gaussian noise added to the [-1, 1] spectrogram.
    seed : initialisation and batch order.
    """

    num_classes: int = 10
    widths: tuple[int, ...] = (16, 32, 64, 128)
    blocks_per_stage: int = 1
    freq_bins_out: int = 8
    embed_dim: int = 128
    dropout: float = 0.2
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    time_shift_frames: int = 2
    freq_shift_bins: int = 3
    mask_frames: int = 4
    mask_bins: int = 16
    noise_std: float = 0.02
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["widths"] = list(self.widths)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(
                f"unknown classifier config keys {unknown}; known keys: {sorted(known)}"
            )
        data = dict(data)
        if "widths" in data:
            data["widths"] = tuple(int(w) for w in data["widths"])
        return cls(**data)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a (projected) identity shortcut.

    `x: Tensor[B, C_in, H, W]` -> `Tensor[B, C_out, ceil(H / stride), ceil(W / stride)]`.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + self.shortcut(x))


class MaterialResNet(nn.Module):
    """ResNet over a normalised log-spectrogram, predicting the material.

    `forward(spec: Tensor[B, F, T]) -> logits Tensor[B, num_classes]`;
    `embed(spec) -> Tensor[B, widths[-1]]`, the penultimate (globally pooled) features used as
    the FID/KID embedding. Works for any F, T (global average pooling).
    """

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        if not cfg.widths or cfg.blocks_per_stage < 1 or cfg.num_classes < 2:
            raise InputError("classifier needs >= 1 stage, >= 1 block per stage, >= 2 classes")
        self.cfg = cfg
        w0 = cfg.widths[0]
        # Stride-2 stem: a 257 x 44 spectrogram becomes 129 x 22 before the first stage.
        self.stem = nn.Sequential(
            nn.Conv2d(1, w0, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(w0), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        in_ch = w0
        for width in cfg.widths:
            for b in range(cfg.blocks_per_stage):
                blocks.append(BasicBlock(in_ch, width, stride=2 if b == 0 else 1))
                in_ch = width
        self.blocks = nn.Sequential(*blocks)
        # Average over time, keep `freq_bins_out` frequency rows, project to the embedding.
        self.pool = nn.AdaptiveAvgPool2d((cfg.freq_bins_out, 1))
        self.project = nn.Sequential(nn.Linear(in_ch * cfg.freq_bins_out, cfg.embed_dim), nn.ReLU())
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.embed_dim, cfg.num_classes)

    @property
    def embedding_dim(self) -> int:
        return self.head.in_features

    def embed(self, spec: torch.Tensor) -> torch.Tensor:
        """Penultimate features `Tensor[B, embed_dim]` of `spec: Tensor[B, F, T]`."""
        if spec.ndim != 3:
            raise InputError(f"expected spectrograms [B, F, T], got shape {tuple(spec.shape)}")
        h = self.blocks(self.stem(spec.unsqueeze(1)))
        return self.project(self.pool(h).flatten(1))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(spec)))


@dataclass
class EvalClassifier:
    """A trained evaluation classifier with what is needed to use it.

    Attributes
    ----------
    model : the network (kept in eval mode).
    config : its `ClassifierConfig`.
    audio : the audio preset its spectrograms are computed with.
    materials : class names, index = class id.
    info : training record (accuracies, data, command) stored in config.json.
    """

    model: MaterialResNet
    config: ClassifierConfig
    audio: AudioConfig
    materials: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    def spectrograms(self, waves: np.ndarray | torch.Tensor) -> torch.Tensor:
        """`waves: [B, N]` at `audio.sample_rate` -> normalised log-spectrograms `Tensor[B, F, T]`."""
        return waves_to_spectrograms(waves, self.audio)

    def check_audio(self, audio: AudioConfig) -> None:
        """`InputError` unless spectrograms of `audio` are what this classifier was trained on."""
        if audio.spec_shape != self.audio.spec_shape or audio.sample_rate != self.audio.sample_rate:
            raise InputError(
                f"the classifier was trained on preset {self.audio.name!r} spectrograms "
                f"{self.audio.spec_shape}, the data is {audio.name!r} {audio.spec_shape}"
            )

    @torch.no_grad()
    def features(
        self, specs: np.ndarray | torch.Tensor, *, batch_size: int = 256, device: str = "cpu"
    ) -> dict[str, np.ndarray]:
        """Posteriors and embeddings of `specs: [B, F, T]`.

        Returns {"probs": float64 [B, C], "embedding": float64 [B, D]}.
        """
        return classifier_outputs(self.model, specs, batch_size=batch_size, device=device)


def waves_to_spectrograms(
    waves: np.ndarray | torch.Tensor, audio: AudioConfig | str, *, batch_size: int = 512
) -> torch.Tensor:
    """Normalised log-spectrograms `Tensor[B, F, T]` of `waves: [B, N]` (peak-normalised, [-1, 1]).

    Batched so that a whole prepared split (memory-mapped) never sits in memory as float64.
    """
    audio = get_preset(audio)
    waves_np = waves if isinstance(waves, torch.Tensor) else np.asarray(waves)
    if waves_np.ndim != 2:
        raise InputError(f"expected waves [B, N], got shape {tuple(waves_np.shape)}")
    out = [
        log_spectrogram(torch.as_tensor(np.array(waves_np[i : i + batch_size])), audio)
        for i in range(0, waves_np.shape[0], batch_size)
    ]
    if not out:
        f, t = audio.spec_shape
        return torch.zeros(0, f, t)
    return torch.cat(out)


@torch.no_grad()
def classifier_outputs(
    model: MaterialResNet,
    specs: np.ndarray | torch.Tensor,
    *,
    batch_size: int = 256,
    device: str = "cpu",
) -> dict[str, np.ndarray]:
    """Run `model` in eval mode over `specs: [B, F, T]` in batches.

    Returns {"probs": float64 [B, C] softmax posteriors, "embedding": float64 [B, D]}.
    """
    was_training = model.training
    model.eval().to(device)
    specs_t = torch.as_tensor(specs, dtype=torch.float32)
    probs, embs = [], []
    for i in range(0, specs_t.shape[0], batch_size):
        emb = model.embed(specs_t[i : i + batch_size].to(device))
        probs.append(model.head(emb).softmax(dim=-1).double().cpu())
        embs.append(emb.double().cpu())
    model.train(was_training)
    if not probs:
        return {
            "probs": np.zeros((0, model.cfg.num_classes)),
            "embedding": np.zeros((0, model.embedding_dim)),
        }
    return {"probs": torch.cat(probs).numpy(), "embedding": torch.cat(embs).numpy()}


def save_eval_classifier(
    out_dir: str | os.PathLike, clf: EvalClassifier, *, force: bool = False
) -> Path:
    """Write `clf` to folder `out_dir` (config.json + model.safetensors), atomically per file.

    Raises `OutputExistsError` when the folder already holds a classifier and `force` is false.
    """
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        check_output_path(out_dir / name, force=force)
    state = {k: v.detach().cpu().contiguous() for k, v in clf.model.state_dict().items()}
    with atomic_path(out_dir / WEIGHTS_FILE, force=force) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT_NAME})
    doc = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "classifier": clf.config.to_dict(),
        "audio": clf.audio.to_dict(),
        "materials": list(clf.materials),
        "info": clf.info,
    }
    write_text_atomic(out_dir / CONFIG_FILE, json.dumps(doc, indent=2) + "\n", force=force)
    return out_dir


def load_eval_classifier(path: str | os.PathLike, *, device: str = "cpu") -> EvalClassifier:
    """Read a folder written by `save_eval_classifier`; `ModelError` with a fix when it is not one."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    hint = "train one with `physfoley eval train-classifier --data DIR --out DIR`"
    if not path.is_dir():
        raise ModelError(f"evaluation classifier folder {path} does not exist; {hint}")
    cfg_path, w_path = path / CONFIG_FILE, path / WEIGHTS_FILE
    if not cfg_path.is_file() or not w_path.is_file():
        raise ModelError(
            f"{path} lacks {CONFIG_FILE} or {WEIGHTS_FILE}; it is not an evaluation classifier ({hint})"
        )
    try:
        doc = json.loads(cfg_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ModelError(f"{cfg_path} is not valid JSON ({err}); {hint}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise ModelError(
            f"{path} is not an evaluation classifier (format is not {FORMAT_NAME!r}); {hint}"
        )
    if doc.get("version") != FORMAT_VERSION:
        raise ModelError(
            f"{path} has classifier format version {doc.get('version')}, this physfoley reads {FORMAT_VERSION}"
        )
    try:
        cfg = ClassifierConfig.from_dict(doc["classifier"])
        audio = AudioConfig.from_dict(doc["audio"])
        materials = [str(m) for m in doc["materials"]]
    except (KeyError, TypeError, InputError) as err:
        raise ModelError(f"{cfg_path} is malformed ({err}); {hint}") from None
    if len(materials) != cfg.num_classes:
        raise ModelError(
            f"{cfg_path} lists {len(materials)} materials for {cfg.num_classes} classes"
        )
    try:
        state = load_file(str(w_path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelError(f"{w_path} is not a readable safetensors file ({err}); {hint}") from None
    model = MaterialResNet(cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[0] if str(err) else "shape mismatch"
        raise ModelError(f"{w_path} does not match its config.json ({first}); {hint}") from None
    return EvalClassifier(
        model=model.to(device).eval(),
        config=cfg,
        audio=audio,
        materials=materials,
        info=dict(doc.get("info", {})),
    )
