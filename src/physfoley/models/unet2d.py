"""The paper's 2-D U-Net denoiser (Su et al.; REFERENCE_NOTES.md), conditioned by FiLM.

Base 64 channels, multipliers 1/2/4/8, two ResNet blocks per level with GroupNorm, linear
attention per level, full attention in the middle (about 35 M parameters at the paper size).
The condition [time embedding, mu, nu] (concatenated, no cross-attention) sets a FiLM scale and
shift in every ResNet block. The spectrogram (1 x F x T) is padded to a multiple of 2^levels
and cropped back, so any F x T works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from physfoley.models.conditioning import ConditionEmbedder


def _groups(channels: int, groups: int) -> int:
    while channels % groups:
        groups //= 2
    return max(groups, 1)


class ResnetBlock(nn.Module):
    """Two conv-GroupNorm-SiLU layers; FiLM (scale, shift) from the condition after the first norm."""

    def __init__(self, dim_in: int, dim_out: int, cond_dim: int, groups: int = 8):
        super().__init__()
        self.film = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 2 * dim_out))
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, padding=1)
        self.norm1 = nn.GroupNorm(_groups(dim_out, groups), dim_out)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(_groups(dim_out, groups), dim_out)
        self.skip = nn.Conv2d(dim_in, dim_out, 1) if dim_in != dim_out else nn.Identity()

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """x: Tensor[B, Cin, H, W], c: Tensor[B, C] -> Tensor[B, Cout, H, W]."""
        scale, shift = self.film(c)[:, :, None, None].chunk(2, dim=1)
        h = self.norm1(self.conv1(x)) * (scale + 1) + shift
        h = F.silu(h)
        h = F.silu(self.norm2(self.conv2(h)))
        return h + self.skip(x)


class LinearAttention(nn.Module):
    """Linear (softmax-kernel) attention over all pixels (Shen et al.), pre-normed, residual."""

    def __init__(self, dim: int, heads: int = 4, dim_head: int = 32):
        super().__init__()
        self.heads, self.scale = heads, dim_head**-0.5
        hidden = heads * dim_head
        self.norm = nn.GroupNorm(1, dim)
        self.qkv = nn.Conv2d(dim, 3 * hidden, 1, bias=False)
        self.out = nn.Sequential(nn.Conv2d(hidden, dim, 1), nn.GroupNorm(1, dim))

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=1)
        q, k, v = (rearrange(z, "b (h c) x y -> b h c (x y)", h=self.heads) for z in (q, k, v))
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        context = torch.einsum("bhdn,bhen->bhde", k, v)
        y = torch.einsum("bhde,bhdn->bhen", context, q)
        y = rearrange(y, "b h c (x y) -> b (h c) x y", x=h, y=w)
        return x + self.out(y)


class Attention(nn.Module):
    """Full softmax attention (used at the lowest resolution only), pre-normed, residual."""

    def __init__(self, dim: int, heads: int = 4, dim_head: int = 32):
        super().__init__()
        self.heads = heads
        hidden = heads * dim_head
        self.norm = nn.GroupNorm(1, dim)
        self.qkv = nn.Conv2d(dim, 3 * hidden, 1, bias=False)
        self.out = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=1)
        q, k, v = (rearrange(z, "b (h c) x y -> b h (x y) c", h=self.heads) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(rearrange(y, "b h (x y) c -> b (h c) x y", x=h, y=w))


class UNet2D(nn.Module):
    """2-D U-Net denoiser: Tensor[B, 1, F, T] -> predicted noise Tensor[B, 1, F, T].

    Parameters
    ----------
    cond_dims : dict[str, int]
        Condition vectors by name, concatenated to the time embedding (width 4 * base).
    base, mults, blocks_per_level, groups : U-Net size (paper: 64, (1, 2, 4, 8), 2, 8).
    """

    def __init__(
        self,
        cond_dims: dict[str, int],
        *,
        base: int = 64,
        mults: tuple[int, ...] = (1, 2, 4, 8),
        blocks_per_level: int = 2,
        groups: int = 8,
        in_channels: int = 1,
    ):
        super().__init__()
        self.levels = len(mults)
        self.embed = ConditionEmbedder(4 * base, cond_dims, out_dim=None)
        cdim = self.embed.out_dim
        dims = [base] + [base * m for m in mults]
        pairs = list(zip(dims[:-1], dims[1:], strict=True))
        self.init_conv = nn.Conv2d(in_channels, base, 7, padding=3)
        # Like denoising-diffusion-pytorch: a level works at its input width and its
        # down-sampling conv widens; the widest (8x) width is the middle's.
        self.downs = nn.ModuleList()
        for i, (d_in, d_out) in enumerate(pairs):
            last = i == len(pairs) - 1
            self.downs.append(
                nn.ModuleDict(
                    {
                        "blocks": nn.ModuleList(
                            ResnetBlock(d_in, d_in, cdim, groups) for _ in range(blocks_per_level)
                        ),
                        "attn": LinearAttention(d_in),
                        "down": nn.Conv2d(d_in, d_out, 3, padding=1)
                        if last
                        else nn.Conv2d(d_in, d_out, 4, stride=2, padding=1),
                    }
                )
            )
        mid = dims[-1]
        self.mid1 = ResnetBlock(mid, mid, cdim, groups)
        self.mid_attn = Attention(mid)
        self.mid2 = ResnetBlock(mid, mid, cdim, groups)
        self.ups = nn.ModuleList()
        for i, (d_in, d_out) in enumerate(reversed(pairs)):
            last = i == len(pairs) - 1
            self.ups.append(
                nn.ModuleDict(
                    {
                        "blocks": nn.ModuleList(
                            ResnetBlock(d_out + d_in, d_out, cdim, groups)
                            for _ in range(blocks_per_level)
                        ),
                        "attn": LinearAttention(d_out),
                        "up": nn.Conv2d(d_out, d_in, 3, padding=1)
                        if last
                        else nn.Sequential(
                            nn.Upsample(scale_factor=2, mode="nearest"),
                            nn.Conv2d(d_out, d_in, 3, padding=1),
                        ),
                    }
                )
            )
        self.final = ResnetBlock(2 * base, base, cdim, groups)
        self.out = nn.Conv2d(base, in_channels, 1)

    def forward(
        self, x: Tensor, t: Tensor, cond: dict[str, Tensor], drop: Tensor | None = None
    ) -> Tensor:
        """x: Tensor[B, 1, F, T], t: Tensor[B], cond: name -> Tensor[B, D] -> Tensor[B, 1, F, T]."""
        c = self.embed(t, cond, drop)
        height, width = x.shape[-2:]
        m = 2 ** (self.levels - 1)
        x = F.pad(x, (0, (-width) % m, 0, (-height) % m))
        h = self.init_conv(x)
        stem = h
        skips = []
        for level in self.downs:
            for block in level["blocks"]:
                h = block(h, c)
                skips.append(h)
            h = level["attn"](h)
            h = level["down"](h)
        h = self.mid2(self.mid_attn(self.mid1(h, c)), c)
        for level in self.ups:
            for block in level["blocks"]:
                h = block(torch.cat([h, skips.pop()], dim=1), c)
            h = level["attn"](h)
            h = level["up"](h)
        h = self.final(torch.cat([h, stem], dim=1), c)
        return self.out(h)[..., :height, :width]
