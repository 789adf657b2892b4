"""Networks of the per-impact model, built from its config (`physfoley.config.ModelConfig`).

`ImpactDiffusionModel` bundles what inference needs: the visual encoder (frames -> nu), the
physics encoder (physics parameters -> mu) and the denoiser (x_t, t | mu, nu -> noise); the
`build_*` functions make each network (randomly initialised) from a config. This module knows
nothing of files: `physfoley.model_dir` reads and writes model directories.
"""

from __future__ import annotations

from torch import Tensor, nn

from physfoley.config import ModelConfig, VisualConfig, model_config
from physfoley.errors import InputError
from physfoley.models.dit import FrameDiT
from physfoley.models.physics_encoder import PhysicsEncoder
from physfoley.models.residual_encoder import ResidualEncoder
from physfoley.models.unet2d import UNet2D
from physfoley.models.visual_encoder import VisualEncoder, contact_crop, segment_indices


class ImpactDiffusionModel(nn.Module):
    """Visual encoder + physics encoder + denoiser (what inference needs).

    `visual_latent(frames)` -> nu, `physics_latent(physics)` -> mu,
    `forward(x_t, t, cond, drop)` -> predicted noise (or velocity, per the objective).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.visual = build_visual_encoder(cfg)
        self.physics = build_physics_encoder(cfg)
        p = cfg.physics
        cond_dims = {"mu": p.latent_dim, "nu": self.visual.latent_dim}
        self.denoiser = build_denoiser(cfg, cond_dims)

    @property
    def spec_shape(self) -> tuple[int, int, int]:
        """(1, F, T) of one generated spectrogram."""
        return (1, *self.cfg.audio.spec_shape)

    def visual_frames(self, frames: Tensor) -> Tensor:
        """What the visual encoder looks at: the window, cropped around its contact point when
        `cfg.visual.crop == "contact"`. frames: Tensor[B, W, H, W', 3] -> Tensor[B, W, h, w, 3]."""
        return window_view(frames, self.cfg.visual)

    def visual_latent(self, frames: Tensor) -> Tensor:
        """frames: Tensor[B, W, H, W, 3] uint8 window (W frames) -> nu Tensor[B, D].

        The window is cropped first (`visual_frames`); the encoder then sees the centre frame
        of each of `cfg.visual.num_segments` equal segments.
        """
        return self.visual.latent(self._encoder_input(frames))

    def _encoder_input(self, frames: Tensor) -> Tensor:
        """Tensor[B, W, H, W', 3] window -> the cropped segment frames Tensor[B, S, h, w, 3]."""
        frames = self.visual_frames(frames)
        idx = segment_indices(frames.shape[1], self.cfg.visual.num_segments).to(frames.device)
        return frames.index_select(1, idx)

    def physics_latent(self, physics: dict[str, Tensor]) -> Tensor:
        """Raw physics parameters (PHYSICS_KEYS, [B, K] / [B, M]) -> mu Tensor[B, latent_dim]."""
        return self.physics(physics)

    def latent_and_key(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """frames: Tensor[B, W, H, W', 3] uint8 window -> (nu Tensor[B, D], retrieval key
        Tensor[B, D]). The key is nu unless `cfg.visual.retrieval_tta == "flip"`: then the mean
        of nu and the latent of the horizontally mirrored window (one more encoder pass)."""
        x = self._encoder_input(frames)
        nu = self.visual.latent(x)
        tta = self.cfg.visual.retrieval_tta
        if tta == "none":
            return nu, nu
        if tta == "flip":  # x: [B, S, h, w, 3]; axis 3 is the width, as in training's flip
            return nu, 0.5 * (nu + self.visual.latent(x.flip(3)))
        raise InputError(f"unknown visual.retrieval_tta {tta!r}; choose 'none' or 'flip'")

    def retrieval_key(self, frames: Tensor) -> Tensor:
        """frames: Tensor[B, W, H, W', 3] uint8 -> the PhysicsBank key Tensor[B, D]."""
        return self.latent_and_key(frames)[1]

    # Names the pipeline uses.
    encode_visual = visual_latent
    encode_physics = physics_latent

    def forward(
        self, x: Tensor, t: Tensor, cond: dict[str, Tensor], drop: Tensor | None = None
    ) -> Tensor:
        """x: Tensor[B, 1, F, T], t: Tensor[B], cond {"mu", "nu"} -> Tensor[B, 1, F, T]."""
        return self.denoiser(x, t, cond, drop)


def window_view(frames: Tensor, visual: VisualConfig) -> Tensor:
    """The part of each frame window the visual encoder sees (see `VisualConfig.crop`).

    frames: Tensor[B, W, H, W', 3] uint8, frame W // 2 the contact frame -> Tensor[B, W, h, w, 3].
    """
    if visual.crop == "none":
        return frames
    if visual.crop == "contact":
        return contact_crop(frames, visual.crop_size, visual.crop_offset)
    raise InputError(f"unknown visual crop {visual.crop!r}; choose 'none' or 'contact'")


def build_visual_encoder(cfg: ModelConfig) -> VisualEncoder:
    """The ResNet + TSM visual encoder of `cfg` (classifier over `cfg.materials`)."""
    v = cfg.visual
    return VisualEncoder(
        len(cfg.materials),
        block=v.block,
        widths=v.widths,
        depths=v.depths,
        stem_width=v.stem_width,
        shift_div=v.shift_div,
        feature=v.feature,
        input_size=v.input_size,
        dropout=v.dropout,
    )


def build_physics_encoder(cfg: ModelConfig) -> PhysicsEncoder:
    """The five-MLP physics encoder of `cfg`."""
    p = cfg.physics
    return PhysicsEncoder(
        cfg.audio,
        num_bands=cfg.audio.num_bands,
        mode_hidden=p.mode_hidden,
        mode_out=p.mode_out,
        band_hidden=p.band_hidden,
        band_out=p.band_out,
        latent_dim=p.latent_dim,
    )


def build_denoiser(cfg: ModelConfig, cond_dims: dict[str, int]) -> nn.Module:
    d = cfg.denoiser
    if d.kind == "unet2d":
        return UNet2D(
            cond_dims, base=d.unet_base, mults=d.unet_mults, blocks_per_level=d.unet_blocks
        )
    if d.kind == "dit":
        f, t = cfg.audio.spec_shape
        return FrameDiT(
            f, t, cond_dims, dim=d.dit_dim, depth=d.dit_depth, heads=d.dit_heads,
            mlp_ratio=d.dit_mlp_ratio,
        )  # fmt: skip
    raise InputError(f"unknown denoiser kind {d.kind!r}; choose 'unet2d' or 'dit'")


def build_model(cfg: ModelConfig | str = "small") -> ImpactDiffusionModel:
    """Build the inference model (randomly initialised) for a config or preset name."""
    return ImpactDiffusionModel(cfg if isinstance(cfg, ModelConfig) else model_config(cfg))


def build_residual_encoder(cfg: ModelConfig) -> ResidualEncoder:
    """The residual network of `cfg` (trained in its own stage; not part of the model dir)."""
    f, t = cfg.audio.spec_shape
    r = cfg.residual
    return ResidualEncoder(
        f, t, num_bands=cfg.audio.num_bands, dim=r.dim, depth=r.depth, heads=r.heads,
        max_decay_s=r.max_decay_s,
    )  # fmt: skip
