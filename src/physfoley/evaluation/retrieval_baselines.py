"""The two retrieval baselines of Su et al. Table 3: a test clip gets a training clip's recorded sound.

1. NN via visual features: the training clip whose visual features are nearest to the test
   clip's (Euclidean, FAISS) lends its audio.
2. NN via predicted sound features (Owens et al., "Visually Indicated Sounds", CVPR 2016): an
   LSTM over the per-frame visual features predicts the clip's sound features (a cochleagram in
   the original; here a 42-band mel envelope on 11 time steps, compressed with power 0.3 as
   Owens' cochleagram), and the training clip whose sound features are nearest to the prediction
   lends its audio.

Both return rows of the training set; the recorded spectrograms of those rows are the
baseline's output, scored by `physfoley eval --generated` (KL and spectrogram MSE only: the
outputs are real recordings, so FID/KID would be meaningless, as the paper notes). The visual
features are whatever the caller passes; "all on the same visual features" means the model's
visual encoder (`VisualEncoder.frame_features` per frame, their mean as the clip feature).
`retrieval_baseline` runs either baseline on a prepared dataset (`physfoley eval baseline`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from physfoley.audio.spectrogram import log_spectrogram_inverse
from physfoley.config import AudioConfig, get_preset
from physfoley.errors import InputError
from physfoley.evaluation.classifier import waves_to_spectrograms
from physfoley.models.visual_encoder import segment_indices


def _matrix(x: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise InputError(f"{name} must be [N >= 1, D], got shape {arr.shape}")
    return arr


def nearest_rows(
    train_keys: np.ndarray | torch.Tensor,
    queries: np.ndarray | torch.Tensor,
    *,
    metric: str = "l2",
) -> np.ndarray:
    """Row of the nearest `train_keys: [N, D]` for each of `queries: [M, D]` -> int64 [M].

    One exact FAISS search (flat index; "l2" Euclidean as the paper, or "l1").
    """
    import faiss

    keys, q = _matrix(train_keys, "train_keys"), _matrix(queries, "queries")
    if keys.shape[1] != q.shape[1]:
        raise InputError(f"key width {keys.shape[1]} differs from query width {q.shape[1]}")
    if metric == "l2":
        index = faiss.IndexFlatL2(keys.shape[1])
    elif metric == "l1":
        index = faiss.IndexFlat(keys.shape[1], faiss.METRIC_L1)
    else:
        raise InputError(f"unknown metric {metric!r}; choose 'l2' or 'l1'")
    index.add(keys)
    _, idx = index.search(q, 1)
    return idx[:, 0].astype(np.int64)


def sound_features(
    specs: np.ndarray | torch.Tensor,
    audio: AudioConfig | str,
    *,
    n_bands: int = 42,
    n_times: int = 11,
) -> torch.Tensor:
    """Cochleagram-like sound features of normalised log-spectrograms.

    specs : [B, F, T] in [-1, 1] (`log_spectrogram`). The magnitude is recovered, pooled into
    `n_bands` mel bands (librosa filterbank) and `n_times` equal time bins, and compressed with
    power 0.3. Returns Tensor[B, n_bands * n_times].
    """
    import librosa

    audio = get_preset(audio)
    spec_t = torch.as_tensor(specs, dtype=torch.float32)
    if spec_t.ndim != 3 or spec_t.shape[1] != audio.num_freqs:
        raise InputError(f"expected specs [B, {audio.num_freqs}, T], got {tuple(spec_t.shape)}")
    mag = log_spectrogram_inverse(spec_t, audio)  # [B, F, T]
    mel = torch.as_tensor(
        librosa.filters.mel(sr=audio.sample_rate, n_fft=audio.n_fft, n_mels=n_bands),
        dtype=torch.float32,
    )  # [n_bands, F]
    banded = torch.einsum("mf,bft->bmt", mel, mag)
    pooled = F.adaptive_avg_pool1d(banded, n_times)  # [B, n_bands, n_times]
    return pooled.clamp_min(0.0).pow(0.3).flatten(1)


class SoundFeaturePredictor(nn.Module):
    """LSTM over per-frame visual features predicting a clip's (standardised) sound features.

    `forward(frame_feats: Tensor[B, W, C]) -> Tensor[B, S]`: a 1-layer LSTM reads the W frames,
    its last hidden state goes through a linear layer to the S sound features.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, frame_feats: torch.Tensor) -> torch.Tensor:
        if frame_feats.ndim != 3:
            raise InputError(f"expected frame features [B, W, C], got {tuple(frame_feats.shape)}")
        _, (h, _) = self.lstm(frame_feats)
        return self.out(h[-1])


@dataclass
class PredictedSoundRetrieval:
    """A trained `SoundFeaturePredictor` and the standardised sound features of the training clips.

    `rows(test_frame_feats [M, W, C]) -> int64 [M]`: nearest training clip to each prediction.
    """

    predictor: SoundFeaturePredictor
    train_features: np.ndarray  # [N, S], standardised
    mean: np.ndarray  # [S]
    std: np.ndarray  # [S]

    @torch.no_grad()
    def predict(self, frame_feats: np.ndarray | torch.Tensor) -> np.ndarray:
        """Standardised predicted sound features [M, S] of `frame_feats: [M, W, C]`."""
        self.predictor.eval()
        return self.predictor(torch.as_tensor(frame_feats, dtype=torch.float32)).numpy()

    def rows(self, frame_feats: np.ndarray | torch.Tensor) -> np.ndarray:
        return nearest_rows(self.train_features, self.predict(frame_feats))


def train_predicted_sound_retrieval(
    frame_feats: np.ndarray | torch.Tensor,
    sound_feats: np.ndarray | torch.Tensor,
    *,
    hidden: int = 256,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
) -> tuple[PredictedSoundRetrieval, list[float]]:
    """Fit the Owens et al. baseline on training clips.

    frame_feats : [N, W, C] per-frame visual features of the training clips.
    sound_feats : [N, S] their sound features (`sound_features` of the recorded clips).
    Targets are standardised per feature; loss is MSE; Adam; seeded.
    Returns (the retrieval baseline, mean training loss per epoch).
    """
    x = torch.as_tensor(frame_feats, dtype=torch.float32)
    y_raw = np.asarray(sound_feats, dtype=np.float32)
    if x.ndim != 3 or y_raw.ndim != 2 or x.shape[0] != y_raw.shape[0] or x.shape[0] < 2:
        raise InputError(
            f"need frame features [N, W, C] and sound features [N, S] for N >= 2 clips, "
            f"got {tuple(x.shape)} and {y_raw.shape}"
        )
    mean = y_raw.mean(axis=0)
    std = y_raw.std(axis=0) + 1e-6
    y = torch.as_tensor((y_raw - mean) / std)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = SoundFeaturePredictor(x.shape[2], y.shape[1], hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    n = x.shape[0]
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            loss = F.mse_loss(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / n)
    retrieval = PredictedSoundRetrieval(model.eval(), y.numpy(), mean, std)
    return retrieval, losses


@torch.no_grad()
def visual_frame_features(
    model: nn.Module,
    windows: np.ndarray,
    rows: np.ndarray | None = None,
    *,
    batch_size: int = 64,
    device: str = "cpu",
) -> np.ndarray:
    """Per-frame features of a trained model's visual encoder (the features the model itself uses).

    model : an `ImpactDiffusionModel` (`model.visual_frames`, `model.visual.frame_features`,
        `model.cfg.visual`): windows are cropped as the model crops them.
    windows : uint8 [M, 22, S, S, 3] RGB windows (memory-mapped is fine).
    rows : which windows, [N] (default: all); read batch by batch.
    Returns float32 [N, W, C] for the encoder's W = `num_segments` TSN segments; their mean over
    W is the clip-level visual feature of the "NN via visual features" baseline.
    """
    model = model.to(device).eval()
    idx = segment_indices(int(windows.shape[1]), int(model.cfg.visual.num_segments))
    rows = np.arange(int(windows.shape[0])) if rows is None else np.asarray(rows, dtype=np.int64)
    out = []
    for start in range(0, int(rows.size), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(windows[rows[start : start + batch_size]]))
        # The same view of the window the model's own visual latent uses (contact crop).
        batch = model.visual_frames(batch.to(device))
        feats = model.visual.frame_features(batch[:, idx])
        out.append(feats.float().cpu().numpy())
    if not out:
        raise InputError("no windows to encode")
    return np.concatenate(out)


#: The retrieval baselines of Table 3.
KINDS = ("nn-visual", "nn-sound")


@dataclass
class RetrievedSounds:
    """A retrieval baseline's output for the query clips.

    rows : [N] the query clips (rows of the prepared dataset); neighbours : [N] the training
    clip retrieved for each; specs : float32 [N, F, T] the neighbours' recorded spectrograms;
    same_material : fraction of queries whose neighbour has their material; info : training
    record ("train_loss": first and last epoch loss, for nn-sound).
    """

    rows: np.ndarray
    neighbours: np.ndarray
    specs: np.ndarray
    same_material: float
    info: dict[str, Any] = field(default_factory=dict)


def baseline_rows(data, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, query rows of `split`) of a `PreparedData`; `InputError` if one is empty."""
    train_rows, query_rows = data.indices("train"), data.indices(split)
    if train_rows.size == 0 or query_rows.size == 0:
        raise InputError(f"{data.root} needs clips in the train split and in {split!r}")
    return train_rows, query_rows


def retrieval_baseline(
    kind: str,
    model: nn.Module,
    data,
    audio: AudioConfig,
    train_rows: np.ndarray,
    query_rows: np.ndarray,
    *,
    epochs: int = 30,
    seed: int = 0,
    device: str = "cpu",
) -> RetrievedSounds:
    """For every query clip, retrieve a training clip and lend its recorded sound.

    kind : "nn-visual" (nearest mean visual feature of `model`'s encoder) or "nn-sound"
    (nearest sound features predicted by an LSTM trained for `epochs` on the training clips).
    """
    if kind not in KINDS:
        raise InputError(f"unknown retrieval baseline {kind!r}; choose one of {KINDS}")
    frames = data.arrays["frames"]
    train_feats = visual_frame_features(model, frames, train_rows, device=device)
    query_feats = visual_frame_features(model, frames, query_rows, device=device)
    info: dict[str, Any] = {}
    if kind == "nn-visual":
        picked = nearest_rows(train_feats.mean(axis=1), query_feats.mean(axis=1))
    else:
        train_specs = waves_to_spectrograms(data.arrays["waves"][train_rows], audio)
        targets = sound_features(train_specs, audio)
        retrieval, losses = train_predicted_sound_retrieval(
            train_feats, targets, epochs=epochs, seed=seed
        )
        picked = retrieval.rows(query_feats)
        info["train_loss"] = [losses[0], losses[-1]]
    neighbours = train_rows[picked]
    specs = waves_to_spectrograms(data.arrays["waves"][neighbours], audio).numpy()
    labels = data.column("material_id")
    same = float((labels[neighbours] == labels[query_rows]).mean())
    return RetrievedSounds(query_rows, neighbours, specs, same, info)
