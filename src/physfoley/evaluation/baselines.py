"""Inputs and test-time retrieval of the generative baselines of Su et al. section 4.3 and Fig. 5.

Every method sees the same visual features: the per-frame features of one trained visual
encoder (`VisualEncoder.frame_features` on its TSN segments, [N, W, C]) and their mean nu
(the model's visual latent). `clip_inputs` computes them, with each clip's spectrogram, MFCCs,
pooled spectrogram and physics parameters, into the `ClipInputs` that
`physfoley.training.baselines.train_method` fits the methods on (networks in
`physfoley.models.baselines`: ``convnet``, ``transformer`` and diffusion with a conditioning
choice, ``video``, ``video+label``, ``video+mfcc``, ``video+spec``, ``video+physics`` = ours).

At test time the extra latent (label, MFCC, spectrogram, physics) cannot come from the test
clip's sound; as in the paper for physics, it is taken from the training clip whose nu is
nearest (FAISS L2) to the test clip's (`retrieve`), for every variant, so the comparison is
fair. `physics_resynthesis` is the Fig. 5(b) resynthesis of the retrieved physics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physfoley.audio.params import PHYSICS_KEYS
from physfoley.audio.residual import ResidualSynth
from physfoley.audio.spectrogram import log_spectrogram, peak_normalize
from physfoley.audio.synthesis import modal_synthesis
from physfoley.config import AudioConfig, config_from_dict
from physfoley.errors import InputError
from physfoley.evaluation.retrieval_baselines import nearest_rows
from physfoley.models.baselines import SPEC_POOL
from physfoley.models.factory import build_visual_encoder, window_view
from physfoley.models.physics_encoder import normalize_physics
from physfoley.models.visual_encoder import segment_indices
from physfoley.training.baselines import ClipInputs

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
        frames = window_view(frames, self.model_cfg.visual)  # the model's contact crop
        idx = segment_indices(int(frames.shape[1]), int(self.model_cfg.visual.num_segments))
        return self.encoder.eval().frame_features(frames[:, idx])


def load_shared_visual(run_dir) -> SharedVisual:
    """The visual encoder of a finished visual stage (RUN/visual: visual.json + weights)."""
    from safetensors.torch import load_file

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
    return nearest_rows(train.nu, test.nu)


def retrieve_same_material(train: ClipInputs, test: ClipInputs) -> np.ndarray | None:
    """Diagnostic retrieval: nearest nu among training clips of the test clip's *true* material
    -> int64 [N_test] training rows, or None when a test material has no training clip."""
    out = np.empty(len(test), dtype=np.int64)
    for label in np.unique(test.labels):
        pool = np.flatnonzero(train.labels == label)
        if pool.size == 0:
            return None
        q = np.flatnonzero(test.labels == label)
        out[q] = pool[nearest_rows(train.nu[pool], test.nu[q])]
    return out


@torch.no_grad()
def physics_resynthesis(
    raw_physics: dict[str, np.ndarray], audio: AudioConfig, *, residual: bool, seed: int = 0
) -> Tensor:
    """Fig. 5(b) "modal only" / "+ residual": the (retrieved) physics parameters resynthesised
    (eq. 4, plus the noise bands of eq. 5-6 when `residual`) -> log-spectrograms [N, F, T]."""
    p = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in raw_physics.items()}
    wave = peak_normalize(
        modal_synthesis(p["freq_hz"], p["power_db"], p["decay_db_per_s"], audio.sample_rate,
                        audio.num_samples)
    )  # fmt: skip
    if residual:
        synth = ResidualSynth(audio, p["band_weight"].shape[1], seed=seed)
        wave = peak_normalize(wave + synth(p["band_weight"], p["band_decay_db_per_s"]))
    return log_spectrogram(wave, audio)
