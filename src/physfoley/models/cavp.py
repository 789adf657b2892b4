"""CAVP, contrastive audio-visual pretraining (Diff-Foley section 2.1): encoders and objectives.

The video encoder f_V (SlowOnly-like: 2-D convolutions per frame in the early stages,
3-D convolutions with a temporal kernel of 3 in the late ones, no temporal striding, then
spatial pooling and a small temporal head) maps frames `Tensor[B, T, H, W, 3]` uint8 to
E_v `Tensor[B, T, C]`; the audio encoder f_A (PANNs-like: conv blocks on the log-mel, time
pooled to the visual rate, frequency pooled away) maps `Tensor[B, M, T_mel]` to E_a
`Tensor[B, T, C]`. Both are L2-normalised per frame. The objective is the semantic contrast
across videos (eq. 1) plus lambda times the temporal contrast across segments of the same video
(eq. 2) on temporally pooled features, with a learnable temperature; `frame_contrast` adds
the public code's per-time-step contrast inside each segment (ClipLoss_Temporal_Semantic), which
is what ties each visual frame to the sound at its own time. Neither encoder knows its absolute
position, so a whole video's timeline is encoded in one pass and sliced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class CAVPConfig:
    embed_dim: int = 128  # C of E_v and E_a
    video_channels: tuple[int, ...] = (8, 16, 32, 64)  # per stage, each halves H and W
    temporal_stages: int = 2  # the last stages use 3-D (3 x 3 x 3) convolutions
    audio_channels: tuple[int, ...] = (16, 32, 64, 128)  # PANNs-like conv blocks
    head_layers: int = 2  # temporal (kernel 3) residual layers after pooling
    init_temperature: float = 0.07


CAVP_PRESETS = {
    "small": CAVPConfig(),
    "paper": CAVPConfig(
        embed_dim=512,
        video_channels=(64, 128, 256, 512),
        audio_channels=(64, 128, 256, 512),
    ),
}


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, max(1, channels // 4)), channels)


class VideoBlock(nn.Module):
    """Residual block over [B, C, T, H, W], halving H and W; kt = temporal kernel (1 or 3)."""

    def __init__(self, cin: int, cout: int, kt: int):
        super().__init__()
        pad = (kt // 2, 1, 1)
        self.conv1 = nn.Conv3d(cin, cout, (kt, 3, 3), stride=(1, 2, 2), padding=pad)
        self.norm1 = _norm(cout)
        self.conv2 = nn.Conv3d(cout, cout, (kt, 3, 3), padding=pad)
        self.norm2 = _norm(cout)
        self.skip = nn.Conv3d(cin, cout, 1, stride=(1, 2, 2))

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.skip(x) + self.norm2(self.conv2(h)))


class TemporalHead(nn.Module):
    """Linear to C, then residual kernel-3 temporal convolutions: [B, T, Cin] -> [B, T, C]."""

    def __init__(self, cin: int, dim: int, layers: int):
        super().__init__()
        self.proj = nn.Linear(cin, dim)
        self.convs = nn.ModuleList(nn.Conv1d(dim, dim, 3, padding=1) for _ in range(layers))
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        h = self.proj(x).transpose(1, 2)  # (B, C, T)
        for conv in self.convs:
            h = h + conv(F.gelu(h))
        return self.out(h.transpose(1, 2))


class VideoEncoder(nn.Module):
    """f_V: frames uint8 Tensor[B, T, H, W, 3] -> E_v Tensor[B, T, C] (unit norm per frame)."""

    def __init__(self, cfg: CAVPConfig):
        super().__init__()
        c = cfg.video_channels
        self.stem = nn.Conv3d(3, c[0], (1, 5, 5), stride=(1, 2, 2), padding=(0, 2, 2))
        first_3d = len(c) - cfg.temporal_stages
        self.stages = nn.Sequential(
            *(VideoBlock(c[max(i - 1, 0)], c[i], 3 if i >= first_3d else 1) for i in range(len(c)))
        )
        self.head = TemporalHead(c[-1], cfg.embed_dim, cfg.head_layers)

    def feature_map(self, frames: Tensor) -> Tensor:
        """frames uint8 Tensor[B, T, H, W, 3] -> the last stage's patch features [B, C, T, h, w]
        (what PAVAS' Phy-Adapter pools under each object's mask)."""
        x = frames.permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0  # (B, 3, T, H, W)
        return self.stages(F.relu(self.stem(x)))

    def forward(self, frames: Tensor) -> Tensor:
        h = self.feature_map(frames).mean(dim=(3, 4))  # (B, C, T)
        return F.normalize(self.head(h.transpose(1, 2)), dim=-1)


class AudioEncoder(nn.Module):
    """f_A: log-mel Tensor[B, M, T_mel] -> E_a Tensor[B, T, C], T = `num_frames` (time pooled)."""

    def __init__(self, cfg: CAVPConfig):
        super().__init__()
        blocks, cin = [], 1
        for cout in cfg.audio_channels:
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(cin, cout, 3, padding=1),
                    _norm(cout),
                    nn.ReLU(),
                    nn.Conv2d(cout, cout, 3, padding=1),
                    _norm(cout),
                    nn.ReLU(),
                )
            )
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.head = TemporalHead(cin, cfg.embed_dim, cfg.head_layers)

    def forward(self, mel: Tensor, num_frames: int) -> Tensor:
        x = mel[:, None].transpose(2, 3)  # (B, 1, T_mel, M), PANNs' layout
        for i, block in enumerate(self.blocks):
            x = block(x)
            # halve time while it stays above the visual rate, always halve frequency
            kt = 2 if i < len(self.blocks) - 1 and x.shape[2] >= 2 * num_frames else 1
            x = F.avg_pool2d(x, (kt, 2)) if x.shape[3] >= 2 else x
        h = F.adaptive_avg_pool1d(x.mean(dim=3), num_frames)  # (B, C, T)
        return F.normalize(self.head(h.transpose(1, 2)), dim=-1)


class CAVP(nn.Module):
    """Both encoders and the learnable temperature (logit scale = 1 / tau)."""

    def __init__(self, cfg: CAVPConfig):
        super().__init__()
        self.cfg = cfg
        self.video = VideoEncoder(cfg)
        self.audio = AudioEncoder(cfg)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / cfg.init_temperature)))

    def forward(self, frames: Tensor, mel: Tensor) -> tuple[Tensor, Tensor]:
        """frames: uint8 Tensor[B, T, H, W, 3], mel: Tensor[B, M, T_mel] -> (E_v, E_a) [B, T, C]."""
        e_v = self.video(frames)
        return e_v, self.audio(mel, e_v.shape[1])

    def scale(self) -> Tensor:
        return self.logit_scale.clamp(max=math.log(100.0)).exp()


def _symmetric_ce(logits: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean of both directions' cross-entropy with the diagonal as target: logits [..., N, N].

    mask: bool [N, N], False entries are left out of the denominators (never the diagonal).
    """
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    n = logits.shape[-1]
    target = torch.arange(n, device=logits.device).expand(logits.shape[:-1])
    a2v = F.cross_entropy(logits.reshape(-1, n), target.reshape(-1))
    v2a = F.cross_entropy(logits.transpose(-1, -2).reshape(-1, n), target.reshape(-1))
    return 0.5 * (a2v + v2a)


def cavp_losses(
    e_v: Tensor, e_a: Tensor, scale: Tensor, segments_per_video: int, frame_stride: int = 1
) -> dict[str, Tensor]:
    """Diff-Foley's CAVP objectives on a batch of V videos x K segments (rows video-major).

    e_v, e_a : Tensor[V K, T, C] unit-norm per frame; scale : 1 / tau.
    semantic (eq. 1): pooled pairs across videos, another segment of the same video left out
        of the negatives. temporal (eq. 2): pooled pairs across the K segments of each video.
    frame: per time step inside each segment (after average pooling by frame_stride).
    """
    k = segments_per_video
    b = e_v.shape[0]
    if b % k:
        raise ValueError(f"batch {b} is not a multiple of {k} segments per video")
    pooled_v = F.normalize(e_v.mean(dim=1), dim=-1)
    pooled_a = F.normalize(e_a.mean(dim=1), dim=-1)
    logits = scale * pooled_a @ pooled_v.T  # (B, B): audio i vs video j
    video_of = torch.arange(b, device=e_v.device) // k
    same_video = video_of[:, None] == video_of[None, :]
    eye = torch.eye(b, dtype=torch.bool, device=e_v.device)
    semantic = _symmetric_ce(logits, ~same_video | eye)
    blocks = logits.reshape(b // k, k, b // k, k).diagonal(dim1=0, dim2=2).permute(2, 0, 1)
    temporal = _symmetric_ce(blocks) if k > 1 else logits.new_zeros(())
    if frame_stride > 1:
        e_v = F.normalize(F.avg_pool1d(e_v.transpose(1, 2), frame_stride).transpose(1, 2), dim=-1)
        e_a = F.normalize(F.avg_pool1d(e_a.transpose(1, 2), frame_stride).transpose(1, 2), dim=-1)
    frame = _symmetric_ce(scale * e_a @ e_v.transpose(1, 2))  # (B, T, T)
    return {"semantic": semantic, "temporal": temporal, "frame": frame}


@torch.no_grad()
def retrieval_at_1(query: Tensor, keys: Tensor) -> float:
    """Share of rows i whose nearest key (cosine) is key i: query, keys Tensor[N, C]."""
    sims = F.normalize(query, dim=-1) @ F.normalize(keys, dim=-1).T
    return float((sims.argmax(dim=1) == torch.arange(len(query))).float().mean())
