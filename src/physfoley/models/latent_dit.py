"""Latent frame-token diffusion transformer with cross-attention (the Diff-Foley denoiser here).

Each latent frame of `z: Tensor[B, C', F', T']` is one token (its C' x F' values projected to
`dim`), so a 4 x 16 x 64 latent is a 64-token sequence. Conditions are a dict of named tensors:
sequences (`context`, e.g. "video": E_v [B, T_v, C]) are projected, given a time encoding in
seconds (the same function as the latent tokens', so equal times line up) and attended to by
cross-attention in every block (Diff-Foley's crossattn conditioning); the names in `aligned`
are also resampled to the latent frames and added to the tokens (MMAudio's aligned features);
vectors (`vectors`, e.g. PAVAS' mass) join the timestep embedding that sets the AdaLN-Zero
shift, scale and gate of every block (DiT). `drop` marks rows whose conditions are replaced by
learned null embeddings (classifier-free guidance). `LatentTransformer` is the trunk, shared by
the denoiser (`LatentDiT`, epsilon head) and the alignment classifier (pooled logit head).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class LatentDiTConfig:
    dim: int = 192
    depth: int = 6
    heads: int = 6
    mlp_ratio: float = 4.0
    time_dim: int = 128  # sinusoidal embedding of the diffusion timestep
    context: dict = field(default_factory=lambda: {"video": 128})  # name -> channels
    aligned: tuple[str, ...] = ("video",)  # context names also added frame by frame
    vectors: dict = field(default_factory=dict)  # name -> dim, into AdaLN
    cond_drop_prob: float = 0.2


LDM_PRESETS = {
    "small": LatentDiTConfig(mlp_ratio=3.0),  # 4.5M parameters: the model ships under 15 MB
    # Diff-Foley's LDM is a 320-channel U-Net with cross-attention to 512-d CAVP features; here
    # the same conditioning on a 46M-parameter frame-token transformer (one CPU step in tests).
    "paper": LatentDiTConfig(dim=512, depth=8, heads=8, context={"video": 512}, aligned=()),
}


def sinusoid(x: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """x: Tensor[...] -> Tensor[..., dim] (cos, sin) of x at geometric frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=x.device) / half)
    args = x.float()[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def time_encoding(times_s: Tensor, dim: int) -> Tensor:
    """Encoding of positions in seconds, periods from about 0.06 s to 60 s: [T] -> [T, dim]."""
    return sinusoid(times_s * 100.0, dim, max_period=6000.0)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """x: Tensor[B, L, D]; shift, scale: Tensor[B, 1, D]."""
    return x * (1 + scale) + shift


class Attention(nn.Module):
    """Multi-head attention; self-attention when `context` is None."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.q, self.kv, self.out = (
            nn.Linear(dim, dim),
            nn.Linear(dim, 2 * dim),
            nn.Linear(dim, dim),
        )

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """x: Tensor[B, L, D], context: Tensor[B, S, D] -> Tensor[B, L, D]."""
        b, n, d = x.shape
        src = x if context is None else context
        q = self.q(x).view(b, n, self.heads, -1).transpose(1, 2)  # (B, h, L, d/h)
        k, v = self.kv(src).view(b, src.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """AdaLN-Zero self-attention and MLP, with a plain pre-norm cross-attention between them."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, cross: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.cross = Attention(dim, heads) if cross else None
        self.norm_c = nn.LayerNorm(dim, eps=1e-6) if cross else None
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU("tanh"), nn.Linear(hidden, dim))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.ada[-1].weight)
        nn.init.zeros_(self.ada[-1].bias)

    def modulation(self, c: Tensor) -> tuple[Tensor, ...]:
        """c: Tensor[B, D] -> six Tensor[B, 1, D]; PAVAS' Delta-modulation overrides this."""
        return self.ada(c).unsqueeze(1).chunk(6, dim=-1)

    def forward(self, x: Tensor, c: Tensor, context: Tensor | None) -> Tensor:
        """x: Tensor[B, L, D], c: Tensor[B, D], context: Tensor[B, S, D] -> Tensor[B, L, D]."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(c)
        x = x + gate1 * self.attn(modulate(self.norm1(x), shift1, scale1))
        if self.cross is not None and context is not None:
            x = x + self.cross(self.norm_c(x), context)
        return x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))


class LatentTransformer(nn.Module):
    """Trunk: tokens + conditions -> hidden states Tensor[B, T', dim] and the AdaLN vector c."""

    def __init__(self, cfg: LatentDiTConfig, latent_shape: tuple[int, int, int], rate_hz: float):
        super().__init__()
        self.cfg, self.latent_shape, self.rate_hz = cfg, tuple(latent_shape), rate_hz
        channels, freqs, _ = latent_shape
        d = cfg.dim
        self.proj_in = nn.Linear(channels * freqs, d)
        self.t_embed = nn.Sequential(nn.Linear(cfg.time_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.ctx_proj = nn.ModuleDict({k: nn.Linear(c, d) for k, c in cfg.context.items()})
        self.ctx_null = nn.ParameterDict({k: nn.Parameter(torch.zeros(d)) for k in cfg.context})
        self.aligned_proj = nn.ModuleDict({k: nn.Linear(cfg.context[k], d) for k in cfg.aligned})
        self.vec_proj = nn.ModuleDict({k: nn.Linear(c, d) for k, c in cfg.vectors.items()})
        self.vec_null = nn.ParameterDict({k: nn.Parameter(torch.zeros(d)) for k in cfg.vectors})
        cross = bool(cfg.context)
        self.blocks = nn.ModuleList(
            Block(d, cfg.heads, cfg.mlp_ratio, cross) for _ in range(cfg.depth)
        )
        for proj in self.aligned_proj.values():  # aligned features start switched off
            nn.init.zeros_(proj.weight)
            nn.init.zeros_(proj.bias)

    def _times(self, n: int, rate_hz: float, device) -> Tensor:
        return (torch.arange(n, device=device) + 0.5) / rate_hz

    def forward(
        self,
        z: Tensor,
        t: Tensor,
        cond: dict[str, Tensor],
        drop: Tensor | None = None,
        context_rates_hz: dict[str, float] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """z: Tensor[B, C', F', T'], t: Tensor[B], cond: name -> Tensor[B, S, C] (context) or
        Tensor[B, D] (vectors), drop: bool Tensor[B]; context_rates_hz: frames per second of
        each context (default: spread over the segment). -> (h [B, T', dim], c [B, dim])."""
        b, ch, fr, n = z.shape
        if (ch, fr) != self.latent_shape[:2]:
            raise ValueError(f"latent {tuple(z.shape[1:3])} != {self.latent_shape[:2]}")
        d = self.cfg.dim
        h = self.proj_in(z.permute(0, 3, 1, 2).reshape(b, n, ch * fr))  # (B, T', C' F')
        h = h + time_encoding(self._times(n, self.rate_hz, z.device), d)
        keep = None if drop is None else (~drop.to(z.device)).view(b, 1, 1).float()
        c = self.t_embed(sinusoid(t.float(), self.cfg.time_dim))
        for name, proj in self.vec_proj.items():
            v = proj(cond[name].float())
            c = c + (v if keep is None else keep[:, 0] * v + (1 - keep[:, 0]) * self.vec_null[name])
        tokens = []
        for name, proj in self.ctx_proj.items():
            seq = cond[name].float()
            s = seq.shape[1]
            rate = (context_rates_hz or {}).get(name, s * self.rate_hz / n)
            x = proj(seq) + time_encoding(self._times(s, rate, z.device), d)
            if keep is not None:
                x = keep * x + (1 - keep) * self.ctx_null[name]
            tokens.append(x)
            if name in self.aligned_proj:
                a = self.aligned_proj[name](seq).transpose(1, 2)  # (B, D, S)
                a = F.interpolate(a, size=n, mode="nearest").transpose(1, 2)
                h = h + (a if keep is None else keep * a)
        context = torch.cat(tokens, dim=1) if tokens else None
        for block in self.blocks:
            h = block(h, c, context)
        return h, c


class LatentDiT(nn.Module):
    """Epsilon-prediction denoiser: (z_t, t, cond) -> eps Tensor[B, C', F', T']."""

    def __init__(self, cfg: LatentDiTConfig, latent_shape: tuple[int, int, int], rate_hz: float):
        super().__init__()
        self.cfg = cfg
        self.trunk = LatentTransformer(cfg, latent_shape, rate_hz)
        d = cfg.dim
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.proj_out = nn.Linear(d, latent_shape[0] * latent_shape[1])
        for layer in (self.ada_out[-1], self.proj_out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self,
        z: Tensor,
        t: Tensor,
        cond: dict[str, Tensor],
        drop: Tensor | None = None,
        context_rates_hz: dict[str, float] | None = None,
    ) -> Tensor:
        """z: Tensor[B, C', F', T'], t: Tensor[B] -> Tensor[B, C', F', T'] (see the trunk)."""
        h, c = self.trunk(z, t, cond, drop, context_rates_hz)
        shift, scale = self.ada_out(c).unsqueeze(1).chunk(2, dim=-1)
        out = self.proj_out(modulate(self.norm_out(h), shift, scale))  # (B, T', C' F')
        b, ch, fr, n = z.shape
        return out.view(b, n, ch, fr).permute(0, 2, 3, 1)


def condition_dropout(batch: int, prob: float, generator: torch.Generator | None) -> Tensor:
    """bool Tensor[batch]: rows whose conditions are dropped during training (CFG)."""
    return torch.rand(batch, generator=generator) < prob
