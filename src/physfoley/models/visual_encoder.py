"""Visual encoder: ResNet + temporal shift module (TSM, Lin et al. 2019) over a frame window.

Written by hand because torchvision is not a dependency of physfoley (and no ImageNet weights
exist here anyway): `resnet50` is the standard bottleneck ResNet-50 (3-4-6-3, 2048-d features),
`small` a basic-block ResNet of configurable widths for CPU training. TSM shifts 1/shift_div of
the channels one frame forward and 1/shift_div one frame backward inside each residual branch
(the "residual shift" of the TSM paper), so 2-D convolutions see neighbouring frames for free.
The network is trained as a material classifier (TSN consensus: per-frame logits averaged over
frames); the visual latent nu is the frame-averaged penultimate feature or the averaged logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Per-channel statistics used to standardise uint8 RGB frames (Kinetics/ImageNet convention).
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def temporal_shift(x: Tensor, num_frames: int, shift_div: int) -> Tensor:
    """Shift channel groups along time.

    x: Tensor[B*T, C, H, W] -> Tensor[B*T, C, H, W]; the first C/shift_div channels take the next
    frame's values, the next C/shift_div the previous frame's, the rest stay (zeros at the edges).
    """
    bt, c, h, w = x.shape
    x = x.view(bt // num_frames, num_frames, c, h, w)
    fold = c // shift_div
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]
    out[:, 1:, fold : 2 * fold] = x[:, :-1, fold : 2 * fold]
    out[:, :, 2 * fold :] = x[:, :, 2 * fold :]
    return out.view(bt, c, h, w)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, dim_in: int, width: int, stride: int = 1):
        super().__init__()
        dim_out = width * self.expansion
        self.conv1 = nn.Conv2d(dim_in, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, dim_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(dim_out)
        self.down = _shortcut(dim_in, dim_out, stride)

    def residual(self, x: Tensor) -> Tensor:
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, dim_in: int, width: int, stride: int = 1):
        super().__init__()
        dim_out = width * self.expansion
        self.conv1 = nn.Conv2d(dim_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, dim_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(dim_out)
        self.down = _shortcut(dim_in, dim_out, stride)

    def residual(self, x: Tensor) -> Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        return self.bn3(self.conv3(h))


def _shortcut(dim_in: int, dim_out: int, stride: int) -> nn.Module:
    if stride == 1 and dim_in == dim_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(dim_in, dim_out, 1, stride, bias=False), nn.BatchNorm2d(dim_out))


class VisualEncoder(nn.Module):
    """ResNet + TSM material classifier over a window of frames.

    Parameters
    ----------
    num_classes : int
        Materials to classify.
    block : "basic" | "bottleneck"
    widths, depths : per-stage widths and block counts (ResNet-50: (64, 128, 256, 512), (3, 4, 6, 3)).
    stem_width : channels of the stem convolution.
    shift_div : TSM fold divisor (8 in the TSM paper); 0 disables the shift.
    feature : "penultimate" | "logits"
        What `latent` returns as nu.
    input_size : int or None
        Frames are resized (bilinear) to this square size first, if given.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        block: str = "bottleneck",
        widths: tuple[int, ...] = (64, 128, 256, 512),
        depths: tuple[int, ...] = (3, 4, 6, 3),
        stem_width: int = 64,
        shift_div: int = 8,
        feature: str = "penultimate",
        input_size: int | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        if block not in ("basic", "bottleneck"):
            raise ValueError(f"block must be 'basic' or 'bottleneck', not {block!r}")
        if feature not in ("penultimate", "logits"):
            raise ValueError(f"feature must be 'penultimate' or 'logits', not {feature!r}")
        block_cls = Bottleneck if block == "bottleneck" else BasicBlock
        self.shift_div, self.feature, self.input_size = shift_div, feature, input_size
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_width, 7, 2, 3, bias=False),
            nn.BatchNorm2d(stem_width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        blocks, ch = [], stem_width
        for i, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            for j in range(depth):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block_cls(ch, width, stride))
                ch = width * block_cls.expansion
        self.blocks = nn.ModuleList(blocks)
        self.feature_dim = ch
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(ch, num_classes)
        self.num_classes = num_classes

    @property
    def latent_dim(self) -> int:
        """Width of nu."""
        return self.feature_dim if self.feature == "penultimate" else self.num_classes

    def frame_features(self, frames: Tensor) -> Tensor:
        """frames: Tensor[B, T, H, W, 3] uint8 (or float in [0, 1]) -> Tensor[B, T, C] features."""
        b, t = frames.shape[:2]
        x = frames.reshape(b * t, *frames.shape[2:]).permute(0, 3, 1, 2)
        x = x.float() / 255.0 if frames.dtype == torch.uint8 else x.float()
        if self.input_size is not None and x.shape[-1] != self.input_size:
            x = F.interpolate(
                x,
                size=(self.input_size, self.input_size),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )
        x = self.stem((x - self.mean) / self.std)
        for block in self.blocks:
            h = temporal_shift(x, t, self.shift_div) if self.shift_div else x
            x = F.relu(block.residual(h) + block.down(x))
        return x.mean(dim=(2, 3)).view(b, t, -1)

    def forward(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """frames: Tensor[B, T, H, W, 3] -> (logits Tensor[B, classes], features Tensor[B, C]).

        Logits and features are averaged over the T frames (TSN consensus).
        """
        feats = self.frame_features(frames)
        logits = self.fc(self.dropout(feats)).mean(dim=1)
        return logits, feats.mean(dim=1)

    def latent(self, frames: Tensor) -> Tensor:
        """The visual latent nu: frames Tensor[B, T, H, W, 3] -> Tensor[B, latent_dim]."""
        logits, feats = self(frames)
        return feats if self.feature == "penultimate" else logits


def segment_indices(
    num_frames: int,
    num_segments: int,
    *,
    generator: torch.Generator | None = None,
    random: bool = False,
) -> Tensor:
    """TSN segment sampling: one frame per equal segment (its centre, or a random one).

    Returns Tensor[num_segments] long indices into a window of `num_frames` frames.
    """
    if num_segments >= num_frames:
        return torch.arange(num_frames)
    edges = torch.linspace(0, num_frames, num_segments + 1)
    if random:
        offsets = torch.rand(num_segments, generator=generator)
        idx = edges[:-1] + offsets * (edges[1:] - edges[:-1])
    else:
        idx = (edges[:-1] + edges[1:]) / 2
    return idx.floor().long().clamp(0, num_frames - 1)
