"""PAVAS' Phy-Adapter (section 3.2) and Delta-modulation (section 3.3) on the latent DiT.

Phy-Adapter. Per object k and visual frame t, the object's visual feature is the mask-weighted
mean of the CAVP video encoder's last-stage patch features (`VideoEncoder.feature_map`: the
only spatial features this backbone has; the pooled E_v has no "where"), projected to `phys_dim`
and layer-normalised; frames where the object is not seen take a learnable occlusion token.
Mass enters as log(1 + m), velocity per frame as its two image-plane components, both
z-scored with statistics stored in the config (so with the model). Each goes through Fourier
features [x, sin 2 pi w_k x, cos 2 pi w_k x] (w_k = 2^(k - 3)) and an MLP giving FiLM (gamma,
beta), applied as h' = (1 + tanh(gamma) / 2) * h + tanh(beta) / 2; mass's FiLM is constant
over time, velocity's per frame. Gated (softmax) pooling over the objects gives c_mass
[B, D] (also averaged over the frames an object is seen in) and c_vel [B, T, D] (resampled to
the latent frames). Rows marked null (classifier-free guidance, the physics dropout, or no
object found) take learned null tokens instead.

Delta-modulation. Every block's AdaLN parameters become
    omega~ = omega(c_multi) + alpha_m g_m(c_mass) + alpha_v g_v(c_vel)
with g_m, g_v MLPs whose last layer starts at zero and learnable gates alpha (start 1), so a
fresh `PavasDiT` carrying a backbone's weights computes exactly the backbone. c_vel is per
latent frame, so the velocity term modulates each token at its own time. `modulation="sum"` is
the ablation's "direct summation": omega(c_multi + s_m(c_mass) + s_v(c_vel)), physics added to
the condition vector before the backbone's own AdaLN MLP (s zero-initialised too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physfoley.models.latent_dit import Block, LatentDiT, LatentDiTConfig

MODULATIONS = ("delta", "sum")
#: Keys of the condition dict the adapter reads (the backbone ignores them).
PHYSICS_KEYS = ("obj_feat", "obj_present", "obj_valid", "mass", "velocity")


@dataclass(frozen=True)
class PavasDiTConfig(LatentDiTConfig):
    feat_dim: int = 64  # channels of the CAVP video encoder's last stage
    phys_dim: int = 128  # object token width (D of c_mass, c_vel)
    fourier: int = 6  # Fourier frequencies per scalar
    max_objects: int = 2
    modulation: str = "delta"  # delta | sum (the ablation's direct summation)
    use_mass: bool = True  # ablation rows "+ c_mass" / "+ c_vel": switch a token off
    use_velocity: bool = True
    mass_stats: tuple[float, float] = (0.0, 1.0)  # mean, std of log(1 + mass_kg)
    vel_stats: tuple[float, float] = (0.0, 1.0)  # mean, std of a velocity component, m/s
    # set when the mass path was trained on known masses (`mass: truth`): the mass an object
    # gets when the picture could only estimate it (the median training mass, kg)
    prior_mass_kg: float | None = None


def fourier_features(x: Tensor, count: int) -> Tensor:
    """x: Tensor[...] -> Tensor[..., 1 + 2 count]: [x, sin 2 pi w_k x, cos 2 pi w_k x]."""
    w = 2.0 ** (torch.arange(count, device=x.device, dtype=torch.float32) - 3)
    arg = 2 * math.pi * x[..., None].float() * w
    return torch.cat([x[..., None].float(), torch.sin(arg), torch.cos(arg)], dim=-1)


def film(h: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
    """h' = (1 + tanh(gamma) / 2) * h + tanh(beta) / 2 (bounded FiLM)."""
    return (1 + 0.5 * torch.tanh(gamma)) * h + 0.5 * torch.tanh(beta)


def _mlp(cin: int, hidden: int, cout: int, zero_last: bool = False) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(cin, hidden), nn.SiLU(), nn.Linear(hidden, cout))
    if zero_last:
        nn.init.zeros_(net[-1].weight)
        nn.init.zeros_(net[-1].bias)
    return net


class PhyAdapter(nn.Module):
    """Objects' features, masses and velocities -> (c_mass [B, D], c_vel [B, T, D])."""

    def __init__(self, cfg: PavasDiTConfig):
        super().__init__()
        d, nf = cfg.phys_dim, 1 + 2 * cfg.fourier
        self.cfg = cfg
        self.proj = nn.Linear(cfg.feat_dim, d)
        self.norm = nn.LayerNorm(d)
        self.occlusion = nn.Parameter(torch.randn(d) * 0.02)
        self.film_mass = _mlp(nf, d, 2 * d)
        self.film_vel = _mlp(2 * nf, d, 2 * d)
        self.gate_mass, self.gate_vel = nn.Linear(d, 1), nn.Linear(d, 1)
        self.null_mass = nn.Parameter(torch.zeros(d))
        self.null_vel = nn.Parameter(torch.zeros(d))

    def normalise(self, mass_kg: Tensor, velocity: Tensor) -> tuple[Tensor, Tensor]:
        """z-scored log(1 + m) [B, K] and velocity [B, K, T, 2] (unknown velocity -> 0)."""
        (mm, ms), (vm, vs) = self.cfg.mass_stats, self.cfg.vel_stats
        m = (torch.log1p(mass_kg.float().clamp(min=0)) - mm) / ms
        v = (torch.nan_to_num(velocity.float(), nan=vm) - vm) / vs
        return torch.nan_to_num(m), v

    def forward(
        self, feat: Tensor, present: Tensor, valid: Tensor, mass_kg: Tensor, velocity: Tensor,
        null: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        """feat [B, K, T, C_f], present bool [B, K, T], valid bool [B, K] (padding objects
        False), mass_kg [B, K], velocity m/s [B, K, T, 2] (NaN where unknown), null bool [B]."""
        h = self.norm(self.proj(feat.float()))  # (B, K, T, D)
        present = present.bool() & valid.bool()[..., None]
        h = torch.where(present[..., None], h, self.occlusion)
        m, v = self.normalise(mass_kg, velocity)
        gm, bm = self.film_mass(fourier_features(m, self.cfg.fourier)).chunk(2, dim=-1)
        h_mass = film(h, gm[:, :, None], bm[:, :, None])  # constant over time
        vf = fourier_features(v, self.cfg.fourier).flatten(-2)  # (B, K, T, 2 nf)
        gv, bv = self.film_vel(vf).chunk(2, dim=-1)
        h_vel = film(h, gv, bv)  # per frame
        off = ~valid.bool()[:, :, None, None]  # padding objects get no weight
        a_m = torch.softmax(self.gate_mass(h_mass).masked_fill(off, -1e9), dim=1)
        a_v = torch.softmax(self.gate_vel(h_vel).masked_fill(off, -1e9), dim=1)
        c_vel = (a_v * h_vel).sum(dim=1)  # (B, T, D)
        seen = present.any(dim=1).float()[..., None]  # (B, T, 1)
        c_mass = ((a_m * h_mass).sum(dim=1) * seen).sum(1) / seen.sum(1).clamp(min=1)
        none = ~valid.bool().any(dim=1)
        null = none if null is None else (null.bool().to(none.device) | none)
        c_mass = torch.where(null[:, None], self.null_mass, c_mass)
        c_vel = torch.where(null[:, None, None], self.null_vel, c_vel)
        return c_mass, c_vel


#: Parameter names of the physics path (adapter, Delta-modulation MLPs and gates, summation).
PHYSICS_PATH = (
    "adapter.",
    ".g_mass.",
    ".g_vel.",
    ".alpha_mass",
    ".alpha_vel",
    ".s_mass.",
    ".s_vel.",
)


def _physics_path(key: str) -> bool:
    return any(part in key for part in PHYSICS_PATH)


class DeltaBlock(Block):
    """A latent DiT block whose AdaLN parameters the physics tokens shift (set `physics`)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, cross: bool, cfg: PavasDiTConfig):
        super().__init__(dim, heads, mlp_ratio, cross)
        self.mode, self.use = cfg.modulation, (cfg.use_mass, cfg.use_velocity)
        p = cfg.phys_dim
        if self.mode == "delta":
            self.g_mass = _mlp(p, p, 6 * dim, zero_last=True)
            self.g_vel = _mlp(p, p, 6 * dim, zero_last=True)
            self.alpha_mass = nn.Parameter(torch.ones(1))
            self.alpha_vel = nn.Parameter(torch.ones(1))
        else:
            self.s_mass, self.s_vel = nn.Linear(p, dim), nn.Linear(p, dim)
            for layer in (self.s_mass, self.s_vel):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        self.physics: tuple[Tensor, Tensor] | None = None  # (c_mass [B, P], c_vel [B, L, P])

    def modulation(self, c: Tensor) -> tuple[Tensor, ...]:
        if self.physics is None:
            return super().modulation(c)
        c_mass, c_vel = self.physics
        c_mass = c_mass if self.use[0] else torch.zeros_like(c_mass)
        c_vel = c_vel if self.use[1] else torch.zeros_like(c_vel)
        if self.mode == "delta":
            omega = self.ada(c).unsqueeze(1)
            omega = omega + self.alpha_mass * self.g_mass(c_mass).unsqueeze(1)
            omega = omega + self.alpha_vel * self.g_vel(c_vel)
        else:
            omega = self.ada(c.unsqueeze(1) + self.s_mass(c_mass).unsqueeze(1) + self.s_vel(c_vel))
        return omega.chunk(6, dim=-1)


class PavasDiT(LatentDiT):
    """The latent DiT with a Phy-Adapter and Delta-modulated blocks (velocity-field head).

    Without the physics keys in `cond` it is the backbone itself; `load_backbone` copies a
    `LatentDiT`'s weights in (the new parameters keep their zero start).
    """

    def __init__(self, cfg: PavasDiTConfig, latent_shape: tuple[int, int, int], rate_hz: float):
        if cfg.modulation not in MODULATIONS:
            raise ValueError(f"modulation must be one of {MODULATIONS}, not {cfg.modulation!r}")
        super().__init__(cfg, latent_shape, rate_hz)
        old = self.trunk.blocks
        cross = bool(cfg.context)
        self.trunk.blocks = nn.ModuleList(
            DeltaBlock(cfg.dim, cfg.heads, cfg.mlp_ratio, cross, cfg) for _ in range(cfg.depth)
        )
        for new, block in zip(self.trunk.blocks, old, strict=True):
            new.load_state_dict(block.state_dict(), strict=False)
        self.adapter = PhyAdapter(cfg)

    def load_backbone(self, state: dict[str, Tensor]) -> None:
        """Load a `LatentDiT` state dict, or a phase-1 `PavasDiT`'s (its physics path, never
        used in that phase, is left out when this model's modulation has other parameters);
        every other key must exist here (missing ones are ours)."""
        own = self.state_dict()
        state = {k: v for k, v in state.items() if k in own or not _physics_path(k)}
        unknown = sorted(set(state) - set(own))
        if unknown:
            raise ValueError(f"backbone weights have keys this model lacks: {unknown[:3]}")
        self.load_state_dict({**own, **{k: v.float() for k, v in state.items()}})

    def physics_tokens(self, cond: dict[str, Tensor], drop: Tensor | None, tokens: int):
        """(c_mass [B, P], c_vel [B, tokens, P]) or None when `cond` carries no physics."""
        if "mass" not in cond:
            return None
        null = cond.get("physics_null")
        if drop is not None:
            drop = drop.bool()
            null = drop if null is None else (null.bool() | drop)
        c_mass, c_vel = self.adapter(
            cond["obj_feat"], cond["obj_present"], cond["obj_valid"], cond["mass"],
            cond["velocity"], null,
        )  # fmt: skip
        c_vel = F.interpolate(c_vel.transpose(1, 2), size=tokens, mode="nearest")
        return c_mass, c_vel.transpose(1, 2)

    def forward(self, z, t, cond, drop=None, context_rates_hz=None):
        """As `LatentDiT.forward`; cond may add the PHYSICS_KEYS (and "physics_null" [B])."""
        physics = self.physics_tokens(cond, drop, z.shape[-1])
        for block in self.trunk.blocks:
            block.physics = physics
        try:
            return super().forward(z, t, cond, drop, context_rates_hz)
        finally:
            for block in self.trunk.blocks:
                block.physics = None


PAVAS_PRESETS = {
    "small": PavasDiTConfig(mlp_ratio=3.0, phys_dim=64),  # 5.6M parameters
    # PAVAS' transformer is MMAudio-sized; here the Diff-Foley paper backbone with the adapter
    "paper": PavasDiTConfig(
        dim=512,
        depth=8,
        heads=8,
        context={"video": 512},
        aligned=(),
        feat_dim=512,
        phys_dim=256,
        fourier=8,
    ),
}
