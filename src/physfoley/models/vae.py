"""Spectrogram VAE (Rombach et al.'s KL autoencoder, Diff-Foley eq. 3-5 diffuse in its latent).

A log-mel `x: Tensor[B, 1, M, T]` in [-1, 1] is encoded to a diagonal Gaussian over
`z: Tensor[B, C', M / r, T / r]` (r = 2 ** (len(channel_mult) - 1)) and decoded back. The blocks
follow the latent-diffusion `Encoder`/`Decoder` (ResNet blocks with GroupNorm and SiLU,
stride-2 convolution down, nearest-neighbour up, an optional self-attention block in the
middle). `paper` is Diff-Foley's first stage (ch 128, mult 1-2-4-4, 2 blocks, z 4, r = 8);
`small` is a CPU-sized r = 4 one. The network is fully convolutional, so it trains on short
crops and encodes a whole video's timeline at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class VAEConfig:
    """channels: width of the first level; channel_mult: per level (len - 1 halvings)."""

    channels: int = 32
    channel_mult: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    latent_channels: int = 4
    mid_attention: bool = False

    @property
    def stride(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)


VAE_PRESETS = {
    "small": VAEConfig(),
    "paper": VAEConfig(
        channels=128,
        channel_mult=(1, 2, 4, 4),
        num_res_blocks=2,
        latent_channels=4,
        mid_attention=True,
    ),
}


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, max(1, channels // 4)), channels, eps=1e-6)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm1, self.conv1 = group_norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = group_norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """x: Tensor[B, cin, H, W] -> Tensor[B, cout, H, W]."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all positions (the latent-diffusion mid block)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """x: Tensor[B, C, H, W] -> same."""
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=-1)  # (B, HW, C)
        y = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return x + self.out(y.transpose(1, 2).reshape(b, c, h, w))


def _mid(channels: int, attention: bool) -> nn.Sequential:
    layers = [ResBlock(channels, channels)]
    if attention:
        layers.append(AttnBlock(channels))
    return nn.Sequential(*layers, ResBlock(channels, channels))


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        widths = [cfg.channels * m for m in cfg.channel_mult]
        self.conv_in = nn.Conv2d(1, widths[0], 3, padding=1)
        layers: list[nn.Module] = []
        cin = widths[0]
        for level, width in enumerate(widths):
            for _ in range(cfg.num_res_blocks):
                layers.append(ResBlock(cin, width))
                cin = width
            if level < len(widths) - 1:
                layers.append(nn.Conv2d(cin, cin, 3, stride=2, padding=1))
        self.down = nn.Sequential(*layers)
        self.mid = _mid(cin, cfg.mid_attention)
        self.norm_out = group_norm(cin)
        self.conv_out = nn.Conv2d(cin, 2 * cfg.latent_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """x: Tensor[B, 1, M, T] -> moments Tensor[B, 2 C', M / r, T / r]."""
        h = self.mid(self.down(self.conv_in(x)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        widths = [cfg.channels * m for m in cfg.channel_mult]
        cin = widths[-1]
        self.conv_in = nn.Conv2d(cfg.latent_channels, cin, 3, padding=1)
        self.mid = _mid(cin, cfg.mid_attention)
        layers: list[nn.Module] = []
        for level in reversed(range(len(widths))):
            for _ in range(cfg.num_res_blocks + 1):
                layers.append(ResBlock(cin, widths[level]))
                cin = widths[level]
            if level > 0:
                layers += [
                    nn.Upsample(scale_factor=2.0, mode="nearest"),
                    nn.Conv2d(cin, cin, 3, 1, 1),
                ]
        self.up = nn.Sequential(*layers)
        self.norm_out = group_norm(cin)
        self.conv_out = nn.Conv2d(cin, 1, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        """z: Tensor[B, C', M / r, T / r] -> Tensor[B, 1, M, T]."""
        h = self.up(self.mid(self.conv_in(z)))
        return self.conv_out(F.silu(self.norm_out(h)))


class DiagonalGaussian:
    """Posterior N(mean, exp(logvar)); mean, logvar: Tensor[B, C', M', T']."""

    def __init__(self, moments: Tensor):
        self.mean, logvar = moments.chunk(2, dim=1)
        self.logvar = logvar.clamp(-30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype)
        return self.mean + self.std * noise.to(self.mean.device)

    def kl(self) -> Tensor:
        """KL to N(0, I), summed over latent elements: Tensor[B]."""
        terms = self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar
        return 0.5 * terms.flatten(1).sum(dim=1)


class SpectrogramVAE(nn.Module):
    """Encoder + decoder; `encode` gives the posterior, `decode` the log-mel."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def _pad(self, x: Tensor) -> tuple[Tensor, int]:
        extra = (-x.shape[-1]) % self.cfg.stride
        return (F.pad(x, (0, extra, 0, 0), mode="replicate") if extra else x), x.shape[-1]

    def encode(self, mel: Tensor) -> DiagonalGaussian:
        """mel: Tensor[B, M, T] (or [B, 1, M, T]) in [-1, 1]; T is padded up to a multiple of r."""
        x = mel if mel.dim() == 4 else mel[:, None]
        x, _ = self._pad(x)
        return DiagonalGaussian(self.encoder(x))

    def decode(self, z: Tensor) -> Tensor:
        """z: Tensor[B, C', M / r, T'] -> log-mel Tensor[B, M, T' r]."""
        return self.decoder(z)[:, 0]

    def forward(
        self, mel: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, DiagonalGaussian]:
        """mel: Tensor[B, M, T] -> (reconstruction Tensor[B, M, T], posterior)."""
        posterior = self.encode(mel)
        rec = self.decode(posterior.sample(generator))
        return rec[..., : mel.shape[-1]], posterior


def vae_loss(mel: Tensor, rec: Tensor, posterior: DiagonalGaussian, kl_weight: float) -> dict:
    """Rombach et al.'s objective without the perceptual and GAN terms: L1 summed per example
    plus kl_weight x KL. mel, rec: Tensor[B, M, T]. Returns {"loss", "l1", "kl"} (scalars)."""
    l1 = (mel - rec).abs().flatten(1).sum(dim=1).mean()
    kl = posterior.kl().mean()
    return {"loss": l1 + kl_weight * kl, "l1": l1 / mel[0].numel(), "kl": kl}
