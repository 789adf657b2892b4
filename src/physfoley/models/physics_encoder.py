"""Physics encoder: modal and residual parameters -> physics latent mu (Su et al. section 3.2).

Five parallel MLPs take the normalised per-mode frequency, power and decay ([B, K] each, one
mode per STFT bin) and the per-band residual weights and decays ([B, M] each); their outputs
(64 + 64 + 64 + 32 + 32 = 256 at the paper size) are concatenated and mapped by Linear + tanh to
mu. Normalisation follows the reference code (REFERENCE_NOTES.md): the frequency as its offset
within its STFT bin in [-1, 1], the power in dB relative to the clip peak over the top_db floor,
decays as 60 dB decay times mapped from their range to [-1, 1]. It uses only the audio preset,
so no statistics need to be stored.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from physfoley.audio.params import PHYSICS_KEYS
from physfoley.config import AudioConfig


def normalize_physics(
    physics: dict[str, Tensor], audio: AudioConfig, *, max_band_decay_s: float = 0.5
) -> dict[str, Tensor]:
    """Map raw physics parameters to [-1, 1] per quantity.

    physics: "freq_hz", "power_db", "decay_db_per_s" Tensor[B, K];
    "band_weight", "band_decay_db_per_s" Tensor[B, M] -> same keys, same shapes, in [-1, 1].
    """
    f = physics["freq_hz"].float()
    bin_hz = audio.sample_rate / audio.n_fft
    centre = torch.arange(f.shape[-1], device=f.device, dtype=f.dtype) * bin_hz
    out = {"freq_hz": ((f - centre) / (bin_hz / 2)).clamp(-1, 1)}
    out["power_db"] = (1 + 2 * physics["power_db"].float() / audio.top_db).clamp(-1, 1)
    # 60 dB decay time, between half an STFT frame and the clip length (reference convention).
    frame_s = audio.hop_length / audio.sample_rate
    t_min, t_max = frame_s / 2, audio.num_frames * frame_s
    t60 = 60.0 / physics["decay_db_per_s"].float().clamp(min=1e-6)
    out["decay_db_per_s"] = (2 * (t60.clamp(t_min, t_max) - t_min) / (t_max - t_min) - 1).clamp(
        -1, 1
    )
    out["band_weight"] = 2 * physics["band_weight"].float().clamp(0, 1) - 1
    band_t = 60.0 / physics["band_decay_db_per_s"].float().clamp(min=1e-6)
    out["band_decay_db_per_s"] = 2 * band_t.clamp(0, max_band_decay_s) / max_band_decay_s - 1
    return out


def _mlp(sizes: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class PhysicsEncoder(nn.Module):
    """Five MLPs + Linear + tanh: raw physics parameters -> mu Tensor[B, latent_dim].

    Parameters
    ----------
    audio : AudioConfig (gives K = num_freqs and the normalisation ranges).
    num_bands : M.
    mode_hidden : hidden widths of the frequency/power/decay MLPs (paper: 512, 512, 512).
    mode_out, band_hidden, band_out : the other widths (paper: 64, (64, 64), 32).
    latent_dim : width of mu (256).
    """

    def __init__(
        self,
        audio: AudioConfig,
        *,
        num_bands: int = 100,
        mode_hidden: tuple[int, ...] = (512, 512, 512),
        mode_out: int = 64,
        band_hidden: tuple[int, ...] = (64, 64),
        band_out: int = 32,
        latent_dim: int = 256,
    ):
        super().__init__()
        self.audio = audio
        k = audio.num_freqs
        self.mlps = nn.ModuleDict(
            {
                "freq_hz": _mlp((k, *mode_hidden, mode_out)),
                "power_db": _mlp((k, *mode_hidden, mode_out)),
                "decay_db_per_s": _mlp((k, *mode_hidden, mode_out)),
                "band_weight": _mlp((num_bands, *band_hidden, band_out)),
                "band_decay_db_per_s": _mlp((num_bands, *band_hidden, band_out)),
            }
        )
        self.out = nn.Linear(3 * mode_out + 2 * band_out, latent_dim)
        self.latent_dim = latent_dim

    def forward(self, physics: dict[str, Tensor], *, normalized: bool = False) -> Tensor:
        """physics: raw parameters (see `normalize_physics`) -> mu Tensor[B, latent_dim] in (-1, 1)."""
        missing = [key for key in PHYSICS_KEYS if key not in physics]
        if missing:
            raise ValueError(f"physics parameters lack {missing}; expected {list(PHYSICS_KEYS)}")
        x = physics if normalized else normalize_physics(physics, self.audio)
        h = torch.cat([self.mlps[key](x[key]) for key in PHYSICS_KEYS], dim=-1)
        return torch.tanh(self.out(h))
