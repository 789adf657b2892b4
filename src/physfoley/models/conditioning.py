"""Condition embedding shared by the denoisers: [time, mu, nu, ...] as a dict of named tensors.

Su et al. concatenate the physics latent mu and the visual latent nu to the sinusoidal time
embedding and apply the result as FiLM in every block. Conditions are a dict so that later
conditions (PAVAS mass/velocity, Diff-Foley CAVP features) slot in by name. Each condition has
a learned "null" vector that replaces it when it is dropped (classifier-free guidance).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps.

    t: Tensor[B] -> Tensor[B, dim]
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class ConditionEmbedder(nn.Module):
    """Time MLP plus named condition vectors, concatenated (and optionally projected).

    Parameters
    ----------
    time_dim : int
        Width of the time embedding after its MLP.
    cond_dims : dict[str, int]
        Name -> width of each condition vector (e.g. {"mu": 256, "nu": 128}).
    out_dim : int or None
        If given, the concatenation goes through SiLU + Linear to `out_dim` (DiT);
        if None, the concatenation itself is returned (the paper's U-Net).
    """

    def __init__(self, time_dim: int, cond_dims: dict[str, int], out_dim: int | None = None):
        super().__init__()
        self.time_dim = time_dim
        self.cond_dims = dict(cond_dims)
        self.time_mlp = nn.Sequential(
            nn.Linear(time_dim, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim)
        )
        self.null = nn.ParameterDict(
            {name: nn.Parameter(torch.zeros(dim)) for name, dim in self.cond_dims.items()}
        )
        concat_dim = time_dim + sum(self.cond_dims.values())
        self.proj = (
            nn.Sequential(nn.SiLU(), nn.Linear(concat_dim, out_dim))
            if out_dim is not None
            else None
        )
        self.out_dim = out_dim if out_dim is not None else concat_dim

    def forward(self, t: Tensor, cond: dict[str, Tensor], drop: Tensor | None = None) -> Tensor:
        """t: Tensor[B]; cond: name -> Tensor[B, D_name]; drop: Tensor[B] bool -> Tensor[B, out_dim].

        Rows with `drop` true get every condition replaced by its learned null vector.
        """
        missing = set(self.cond_dims) - set(cond)
        if missing:
            raise ValueError(
                f"missing conditions {sorted(missing)}; expected {sorted(self.cond_dims)}"
            )
        parts = [self.time_mlp(timestep_embedding(t, self.time_dim))]
        for name in self.cond_dims:
            value = cond[name].to(parts[0].dtype)
            if drop is not None:
                value = torch.where(drop[:, None], self.null[name][None].expand_as(value), value)
            parts.append(value)
        c = torch.cat(parts, dim=-1)
        return self.proj(c) if self.proj is not None else c
