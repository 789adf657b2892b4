"""Alignment classifier P(aligned | z_t, t, E_v) of Diff-Foley's double guidance (section 2.4).

The latent transformer trunk (frame tokens, AdaLN on the timestep, cross-attention to E_v)
followed by mean pooling over the latent frames and one logit. Trained on noisy latents of
true pairs (label 1), temporally shifted pairs of the same video and pairs of other videos
(label 0); its gradient with respect to z_t steers sampling (`diffusion.guidance`).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from physfoley.models.latent_dit import LatentDiTConfig, LatentTransformer

ALIGN_PRESETS = {
    "small": LatentDiTConfig(dim=128, depth=3, heads=4, mlp_ratio=2.0, cond_drop_prob=0.0),
    # Diff-Foley's classifier: a 128-channel U-Net encoder with cross-attention to 512-d features.
    "paper": LatentDiTConfig(
        dim=384, depth=6, heads=6, context={"video": 512}, aligned=(), cond_drop_prob=0.0
    ),
}


class AlignClassifier(nn.Module):
    """(z_t Tensor[B, C', F', T'], t Tensor[B], cond) -> logit Tensor[B] of "aligned"."""

    def __init__(self, cfg: LatentDiTConfig, latent_shape: tuple[int, int, int], rate_hz: float):
        super().__init__()
        self.cfg = replace(cfg, cond_drop_prob=0.0)
        self.trunk = LatentTransformer(self.cfg, latent_shape, rate_hz)
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, 1)

    def forward(
        self,
        z: Tensor,
        t: Tensor,
        cond: dict[str, Tensor],
        context_rates_hz: dict[str, float] | None = None,
    ) -> Tensor:
        # an all-False drop keeps the (unused) null embeddings in the graph, as DDP wants
        keep_all = torch.zeros(z.shape[0], dtype=torch.bool, device=z.device)
        h, _ = self.trunk(z, t, cond, keep_all, context_rates_hz)
        return self.head(self.norm(h.mean(dim=1)))[:, 0]
