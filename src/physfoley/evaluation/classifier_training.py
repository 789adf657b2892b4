"""Training the evaluation classifier on a prepared dataset, and the FID/KID scale of real clips.

`physfoley eval train-classifier` runs `classifier_rows` (the clips) and `fit_eval_classifier`:
spectrograms of the recorded training and test clips, about 10 % of the training videos held
out by `split_by_video` to pick the best epoch, `train_eval_classifier` (AdamW, cosine schedule,
`augment_spectrograms`), accuracy on the real test clips, and `reference_distances`, the FID and
KID between sets of real recordings that a generator's numbers compare with. The network and its
folder format are `physfoley.evaluation.classifier`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from physfoley.config import AudioConfig
from physfoley.errors import InputError
from physfoley.evaluation.classifier import (
    ClassifierConfig,
    EvalClassifier,
    MaterialResNet,
    classifier_outputs,
    waves_to_spectrograms,
)
from physfoley.evaluation.metrics import frechet_distance, kernel_inception_distance
from physfoley.evaluation.runner import evenly_spaced

#: Fraction of the training videos held out to pick the classifier's best epoch.
VAL_VIDEO_FRACTION = 0.1
#: Training clips (at most, evenly spaced) compared with the test clips in `reference_distances`.
REFERENCE_TRAIN_CLIPS = 2000


def augment_spectrograms(
    spec: torch.Tensor, cfg: ClassifierConfig, gen: torch.Generator
) -> torch.Tensor:
    """Training augmentation of `spec: Tensor[B, F, T]` (values in [-1, 1], silence = -1).

    A random time roll and frequency shift (per batch), one time and one frequency mask per
    clip (SpecAugment, filled with silence), and Gaussian noise.
    """
    b, f, t = spec.shape
    if cfg.time_shift_frames > 0:
        k = int(
            torch.randint(-cfg.time_shift_frames, cfg.time_shift_frames + 1, (1,), generator=gen)
        )
        spec = torch.roll(spec, shifts=k, dims=-1)
    if cfg.freq_shift_bins > 0:
        k = int(torch.randint(-cfg.freq_shift_bins, cfg.freq_shift_bins + 1, (1,), generator=gen))
        if k:
            spec = torch.roll(spec, shifts=k, dims=-2)
            edge = slice(0, k) if k > 0 else slice(f + k, f)
            spec[:, edge, :] = -1.0
    masks = torch.zeros(b, f, t, dtype=torch.bool)
    for size, axis, length in ((cfg.mask_frames, 2, t), (cfg.mask_bins, 1, f)):
        if size <= 0:
            continue
        width = torch.randint(0, size + 1, (b, 1), generator=gen)
        start = (torch.rand(b, 1, generator=gen) * (length - width + 1)).long()
        pos = torch.arange(length)[None, :]
        hit = (pos >= start) & (pos < start + width)  # [B, length]
        masks |= hit[:, None, :] if axis == 2 else hit[:, :, None]
    spec = spec.masked_fill(masks, -1.0)
    if cfg.noise_std > 0:
        spec = spec + cfg.noise_std * torch.randn(spec.shape, generator=gen)
    return spec


def evaluate_accuracy(
    model: MaterialResNet, specs: torch.Tensor, labels: torch.Tensor, *, device: str = "cpu"
) -> float:
    """Top-1 accuracy of `model` on `specs: Tensor[B, F, T]` with `labels: Tensor[B]`."""
    if len(labels) == 0:
        raise InputError("no clips to evaluate the classifier on")
    probs = classifier_outputs(model, specs, device=device)["probs"]
    return float((probs.argmax(axis=1) == np.asarray(labels)).mean())


def train_eval_classifier(
    train_specs: torch.Tensor,
    train_labels: torch.Tensor,
    cfg: ClassifierConfig,
    *,
    val_specs: torch.Tensor | None = None,
    val_labels: torch.Tensor | None = None,
    device: str = "cpu",
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[MaterialResNet, list[dict[str, float]]]:
    """Train a `MaterialResNet` on `train_specs: Tensor[N, F, T]`, `train_labels: Tensor[N]` (long).

    AdamW, cosine learning-rate decay, label-smoothing-free cross-entropy, seeded. When
    validation data are given, the weights of the epoch with the best validation accuracy are
    returned. `on_epoch(epoch, record)` is called after each epoch (for progress display).

    Returns (model in eval mode, history: one record per epoch with "loss", "train_acc" and,
    with validation data, "val_acc").
    """
    train_specs = torch.as_tensor(train_specs, dtype=torch.float32)
    train_labels = torch.as_tensor(train_labels, dtype=torch.long)
    n = train_specs.shape[0]
    if n == 0 or train_labels.shape != (n,):
        raise InputError(
            f"need N >= 1 spectrograms and N labels, got {n} and {tuple(train_labels.shape)}"
        )
    if int(train_labels.max()) >= cfg.num_classes or int(train_labels.min()) < 0:
        raise InputError(
            f"labels must lie in [0, {cfg.num_classes}), got max {int(train_labels.max())}"
        )
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = MaterialResNet(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=max(1, cfg.epochs * steps_per_epoch), pct_start=0.15
    )
    history: list[dict[str, float]] = []
    best_acc, best_state = -1.0, None
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        total_loss, correct = 0.0, 0
        for i in range(0, n, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            if len(idx) < 2 and n >= 2:  # batch norm needs 2 samples
                continue
            x = augment_spectrograms(train_specs[idx], cfg, gen).to(device)
            y = train_labels[idx].to(device)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(-1) == y).sum())
        record = {"epoch": epoch + 1, "loss": total_loss / n, "train_acc": correct / n}
        if val_specs is not None and val_labels is not None and len(val_labels):
            record["val_acc"] = evaluate_accuracy(model, val_specs, val_labels, device=device)
            if record["val_acc"] > best_acc:
                best_acc = record["val_acc"]
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        history.append(record)
        if on_epoch is not None:
            on_epoch(epoch + 1, record)
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), history


def split_by_video(videos: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, val) holding out ~`fraction` of the videos (never splitting one).

    videos : [N] the video of each clip. With fewer than 5 videos nothing is held out.
    """
    names = np.unique(videos)
    if names.size < 5:
        return np.ones(videos.size, bool), np.zeros(videos.size, bool)
    rng = np.random.default_rng(seed)
    held = rng.choice(names, size=max(1, round(fraction * names.size)), replace=False)
    val = np.isin(videos, held)
    return ~val, val


def reference_distances(
    model: MaterialResNet,
    train_specs: torch.Tensor,
    test_out: dict[str, np.ndarray],
    test_videos: np.ndarray,
    *,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, Any]:
    """FID/KID between sets of real recordings: the scale a generator's numbers compare with.

    train_specs : [N, F, T] training spectrograms; test_out : `classifier_outputs` of the test
    clips; test_videos : [M] their videos. "test_half_vs_half": two halves of the test split
    (split by video); "train_vs_test": up to `REFERENCE_TRAIN_CLIPS` training clips against the
    test clips. Each entry: {"n": [n_a, n_b], "fid", "kid_mean", "kid_std"}.
    """
    out: dict[str, Any] = {}
    first, second = split_by_video(test_videos, 0.5, seed)
    pairs = {"test_half_vs_half": (test_out["embedding"][first], test_out["embedding"][second])}
    pick = evenly_spaced(np.arange(len(train_specs)), REFERENCE_TRAIN_CLIPS)
    train_emb = classifier_outputs(model, train_specs[pick], device=device)["embedding"]
    pairs["train_vs_test"] = (train_emb, test_out["embedding"])
    for name, (a, b) in pairs.items():
        if len(a) < 2 or len(b) < 2:
            continue
        kid_mean, kid_std = kernel_inception_distance(a, b, subsets=100, seed=seed)
        out[name] = {
            "n": [len(a), len(b)],
            "fid": frechet_distance(a, b),
            "kid_mean": kid_mean,
            "kid_std": kid_std,
        }
    return out


def classifier_rows(data, *, max_train: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, test rows) of a `PreparedData` to train and test the classifier on,
    sorted; `max_train` keeps that many evenly spaced training clips (quick runs)."""
    train_rows, test_rows = data.indices("train"), data.indices("test")
    if train_rows.size == 0 or test_rows.size == 0:
        raise InputError(f"{data.root} needs clips in both the train and test splits")
    if max_train is not None:
        if max_train < 2:
            raise InputError("--max-train must be at least 2")
        train_rows = evenly_spaced(train_rows, max_train)
    return np.sort(train_rows), np.sort(test_rows)


def fit_eval_classifier(
    data,
    cfg: ClassifierConfig,
    audio: AudioConfig,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    *,
    device: str = "cpu",
    command: str = "",
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> EvalClassifier:
    """Train the evaluation classifier on the recorded clips of a `PreparedData`.

    train_rows, test_rows : `classifier_rows`. `VAL_VIDEO_FRACTION` of the training videos are
    held out (seeded by `cfg.seed`) to pick the best epoch; the accuracy on the test clips,
    per material, and the `reference_distances` go into the classifier's `info`, with `command`
    (the command line that reproduces the run).
    """
    labels = data.column("material_id")
    videos = data.column("video")
    waves = data.arrays["waves"]
    train_specs = waves_to_spectrograms(waves[train_rows], audio)
    test_specs = waves_to_spectrograms(waves[test_rows], audio)
    fit_mask, val_mask = split_by_video(videos[train_rows], VAL_VIDEO_FRACTION, cfg.seed)
    y_train = torch.as_tensor(labels[train_rows], dtype=torch.long)
    y_test = labels[test_rows]
    model, history = train_eval_classifier(
        train_specs[torch.as_tensor(fit_mask)],
        y_train[torch.as_tensor(fit_mask)],
        cfg,
        val_specs=train_specs[torch.as_tensor(val_mask)] if val_mask.any() else None,
        val_labels=y_train[torch.as_tensor(val_mask)] if val_mask.any() else None,
        device=device,
        on_epoch=on_epoch,
    )
    test_out = classifier_outputs(model, test_specs, device=device)
    pred = test_out["probs"].argmax(axis=1)
    test_acc = float((pred == y_test).mean())
    per_material = {
        name: float((pred[y_test == k] == k).mean())
        for k, name in enumerate(data.materials)
        if (y_test == k).any()
    }
    info = {
        "data": str(data.root),
        "command": command,
        "reference_distances": reference_distances(
            model, train_specs, test_out, videos[test_rows], seed=cfg.seed, device=device
        ),
        "train_clips": int(fit_mask.sum()),
        "val_clips": int(val_mask.sum()),
        "test_clips": int(test_rows.size),
        "test_accuracy": test_acc,
        "test_accuracy_per_material": per_material,
        "history": history,
    }
    return EvalClassifier(model, cfg, audio, list(data.materials), info)
