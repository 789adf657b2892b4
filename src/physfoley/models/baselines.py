"""The networks of the generative baselines of Su et al. section 4.3 and the ablations of Fig. 5.

Every baseline sees the same visual features (the per-frame features of one trained visual
encoder, [N, W, C], and their mean nu). Three kinds of network:

- `ConvNetBaseline`: the per-frame features upsampled in time to the spectrogram's T frames, a
  1-D U-Net over time (frequency bins as channels) regresses the normalised log-spectrogram.
- `TransformerBaseline`: a TTS-style conditional transformer decoder (Transformer-TTS): causal
  self-attention over previous spectrogram frames, cross-attention to the per-frame visual
  features, generated frame by frame.
- `ConditionalDiffusion`: the `small` preset's `FrameDiT` denoiser with one of `CONDITIONS`:
  ``video`` (nu only), ``video+label`` (nu + a learned material embedding), ``video+mfcc``
  (nu + an MLP latent of the clip's MFCCs), ``video+spec`` (nu + an MLP latent of the pooled
  log-spectrogram) and ``video+physics`` (nu + the physics encoder's mu, ours).

Only networks live here; their fitting loop is `physfoley.training.baselines` and the
evaluation that feeds and scores them `physfoley.evaluation.baselines`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physfoley.audio.params import PHYSICS_KEYS
from physfoley.config import AudioConfig, model_config
from physfoley.errors import InputError
from physfoley.models.dit import FrameDiT
from physfoley.models.factory import build_physics_encoder

CONDITIONS = ("video", "video+label", "video+mfcc", "video+spec", "video+physics")
METHODS = ("convnet", "transformer", *CONDITIONS)
#: Pooled spectrogram (frequency, time) that the spectrogram latent encodes.
SPEC_POOL = (32, 11)


def latent_mlp(d_in: int, d_out: int, hidden: int = 256) -> nn.Sequential:
    """`x: Tensor[B, d_in]` -> `Tensor[B, d_out]` in (-1, 1): Linear, SiLU, Linear, tanh."""
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
        if condition not in CONDITIONS:
            raise InputError(f"unknown condition {condition!r}; choose one of {CONDITIONS}")
        self.condition = condition
        self.data_scale = float(data_scale)
        cond_dims = {"nu": nu_dim}
        self.latent: nn.Module | None = None
        if condition == "video+label":
            self.latent, cond_dims["z"] = nn.Embedding(num_classes, 64), 64
        elif condition == "video+mfcc":
            self.latent, cond_dims["z"] = latent_mlp(mfcc_dim, 128), 128
        elif condition == "video+spec":
            self.latent, cond_dims["z"] = latent_mlp(SPEC_POOL[0] * SPEC_POOL[1], 128), 128
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
