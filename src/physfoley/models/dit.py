"""Frame-token diffusion transformer (the `small` denoiser) with AdaLN-Zero conditioning.

Each of the 44 spectrogram frames is one token (its F log-magnitudes projected to d), so a
257 x 44 spectrogram is a 44-token sequence: cheap enough to train on a CPU. Conditioning
[t, mu, nu] goes through `ConditionEmbedder` to one vector c that sets, per block, the shift,
scale and gate of both sub-layers (AdaLN-Zero, Peebles & Xie). PAVAS extends exactly this block
with Delta-modulation: override `DiTBlock.modulation` to add zero-initialised residuals.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physfoley.models.conditioning import ConditionEmbedder


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """x: Tensor[B, L, D]; shift, scale: Tensor[B, 1, D]."""
    return x * (1 + scale) + shift


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"model width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """x: Tensor[B, L, D] -> Tensor[B, L, D]."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class DiTBlock(nn.Module):
    """Pre-norm transformer block whose norms are modulated by the condition vector."""

    def __init__(self, dim: int, heads: int, cond_dim: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim)
        )
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * dim))
        nn.init.zeros_(self.ada[-1].weight)  # AdaLN-Zero: every block starts as the identity
        nn.init.zeros_(self.ada[-1].bias)

    def modulation(self, c: Tensor) -> tuple[Tensor, ...]:
        """c: Tensor[B, C] -> six Tensor[B, 1, D] (shift1, scale1, gate1, shift2, scale2, gate2)."""
        return self.ada(c).unsqueeze(1).chunk(6, dim=-1)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """x: Tensor[B, L, D], c: Tensor[B, C] -> Tensor[B, L, D]."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(c)
        x = x + gate1 * self.attn(modulate(self.norm1(x), shift1, scale1))
        return x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))


class FrameDiT(nn.Module):
    """Denoiser over spectrogram frames.

    Parameters
    ----------
    num_freqs, num_frames : int
        Spectrogram shape (F, T); input and output are Tensor[B, 1, F, T].
    cond_dims : dict[str, int]
        Condition vectors by name (e.g. {"mu": 256, "nu": 128}).
    dim, depth, heads, mlp_ratio : transformer size.
    """

    def __init__(
        self,
        num_freqs: int,
        num_frames: int,
        cond_dims: dict[str, int],
        *,
        dim: int = 256,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        time_dim: int = 128,
    ):
        super().__init__()
        self.num_freqs, self.num_frames = num_freqs, num_frames
        self.embed = ConditionEmbedder(time_dim, cond_dims, out_dim=dim)
        self.proj_in = nn.Linear(num_freqs, dim)
        self.pos = nn.Parameter(torch.randn(num_frames, dim) * 0.02)
        self.blocks = nn.ModuleList(DiTBlock(dim, heads, dim, mlp_ratio) for _ in range(depth))
        self.norm_out = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.proj_out = nn.Linear(dim, num_freqs)
        # A frame token (dim < F) cannot carry F independent noise values, so the noise that
        # passes straight through x_t gets a per-bin, condition- and time-dependent gain
        # (a full-rank skip, like a U-Net's full-resolution path); the tokens model the rest.
        self.skip_gain = nn.Sequential(nn.SiLU(), nn.Linear(dim, num_freqs))
        for layer in (self.ada_out[-1], self.proj_out, self.skip_gain[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self, x: Tensor, t: Tensor, cond: dict[str, Tensor], drop: Tensor | None = None
    ) -> Tensor:
        """x: Tensor[B, 1, F, T], t: Tensor[B], cond: name -> Tensor[B, D] -> Tensor[B, 1, F, T]."""
        if x.shape[-2:] != (self.num_freqs, self.num_frames):
            raise ValueError(
                f"spectrogram shape {tuple(x.shape[-2:])} != ({self.num_freqs}, {self.num_frames})"
            )
        c = self.embed(t, cond, drop)
        h = self.proj_in(x[:, 0].transpose(1, 2)) + self.pos
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.ada_out(c).unsqueeze(1).chunk(2, dim=-1)
        h = self.proj_out(modulate(self.norm_out(h), shift, scale))
        return h.transpose(1, 2).unsqueeze(1) + self.skip_gain(c)[:, None, :, None] * x
