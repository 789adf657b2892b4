"""Residual encoder (Su et al. section 3.1): spectrogram frames -> per-band noise weights and decays.

As the reference code: each log-spectrogram frame is projected to `dim`, learned positions are
added, a non-causal transformer encoder (4 layers, 4 heads) mixes the frames, the tokens are
mean-pooled and two linear heads give, per noise band, a weight w = sigmoid(.) in (0, 1) and a
decay time in (min_decay_s, max_decay_s] seconds, returned as a decay rate in dB/s (60 / T,
the convention of eq. 4 and of `ResidualSynth`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ResidualEncoder(nn.Module):
    """Transformer over log-spectrogram frames predicting residual band parameters.

    Parameters
    ----------
    num_freqs, num_frames : spectrogram shape (F, T) of the input Tensor[B, F, T].
    num_bands : noise bands (100).
    dim, depth, heads : transformer size (256, 4, 4 in the reference).
    min_decay_s, max_decay_s : range of the per-band 60 dB decay time.
    """

    def __init__(
        self,
        num_freqs: int,
        num_frames: int,
        *,
        num_bands: int = 100,
        dim: int = 256,
        depth: int = 4,
        heads: int = 4,
        min_decay_s: float = 1e-5,
        max_decay_s: float = 0.5,
    ):
        super().__init__()
        self.min_decay_s, self.max_decay_s = min_decay_s, max_decay_s
        self.proj = nn.Linear(num_freqs, dim)
        self.pos = nn.Parameter(torch.randn(num_frames, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=4 * dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.weight_head = nn.Linear(dim, num_bands)
        self.decay_head = nn.Linear(dim, num_bands)

    def forward(self, spec: Tensor) -> tuple[Tensor, Tensor]:
        """spec: Tensor[B, F, T] normalised log-spectrogram -> (band_weight Tensor[B, M] in (0, 1),
        band_decay_db_per_s Tensor[B, M] > 0)."""
        h = self.proj(spec.transpose(1, 2)) + self.pos
        h = self.norm(self.encoder(h)).mean(dim=1)
        weight = torch.sigmoid(self.weight_head(h))
        decay_s = torch.sigmoid(self.decay_head(h)) * self.max_decay_s
        decay_s = decay_s.clamp(min=self.min_decay_s)
        return weight, 60.0 / decay_s
