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


# ---------------------------------------------------------------------------- contact crop
#
# SynthHits (and Greatest Hits) scenes hold several objects and the struck one is often small,
# so a global-pooled CNN over the full frame learns scenes, not the struck material (0.13 test
# accuracy, chance 0.10). Cropping the window around the contact point fixes what the network
# looks at. The point is found from the frames alone, identically at training time (prepared
# windows) and on a user's video (the pipeline's windows): no annotation is needed.


def contact_point(
    frames: Tensor,
    *,
    onset: int | None = None,
    lag: int = 2,
    threshold: float = 120.0,
    min_pixels: int = 2,
) -> Tensor:
    """Where the striker touches the object, from the picture alone.

    frames : Tensor[B, W, H, W', 3] uint8 windows whose frame `onset` (default W // 2, as
    `video.windows.onset_windows` builds them) is the contact frame.
    Returns Tensor[B, 2] float (x, y) in pixels of the frames.

    The striker is the thing that moved between frame onset - lag and the onset frame; strikes
    come from above, so its tip is the LOWEST image row where the two frames differ (RGB
    absolute difference summed over channels, 3x3 box blur, > `threshold` grey levels in at
    least `min_pixels` pixels of the row); x is the mean column of those pixels. A window
    with too little motion retries at half the threshold, then falls back to the frame centre.
    On the SynthHits test windows this lands within 12 px (of 112) of the true striker
    position at contact for 97 % of hits, median error 2.5 px (docs/results/model.md).
    """
    b, w, h, wd = frames.shape[:4]
    o = w // 2 if onset is None else onset
    a = frames[:, o].float()
    c = frames[:, max(o - lag, 0)].float()
    diff = (a - c).abs().sum(-1)[:, None]  # [B, 1, H, W']
    diff = F.avg_pool2d(diff, 3, 1, 1, count_include_pad=False)[:, 0]
    rows_idx = torch.arange(h, device=frames.device)
    cols_idx = torch.arange(wd, device=frames.device, dtype=torch.float32)
    x = torch.full((b,), (wd - 1) / 2.0, device=frames.device)
    y = torch.full((b,), (h - 1) / 2.0, device=frames.device)
    found = torch.zeros(b, dtype=torch.bool, device=frames.device)
    for thr in (threshold, threshold / 2):
        mask = diff > thr  # [B, H, W']
        rows = mask.sum(-1) >= min_pixels  # [B, H]
        has = rows.any(-1) & ~found
        low = torch.where(rows, rows_idx, -1).amax(-1).clamp(min=0)  # [B]
        row_mask = mask[torch.arange(b, device=frames.device), low].float()  # [B, W']
        mean_x = (row_mask * cols_idx).sum(-1) / row_mask.sum(-1).clamp(min=1)
        x = torch.where(has, mean_x, x)
        y = torch.where(has, low.float(), y)
        found = found | has
    return torch.stack([x, y], dim=-1)


def crop_windows(frames: Tensor, centres: Tensor, size: int) -> Tensor:
    """Square crops of every frame of each window, one box per window.

    frames : Tensor[B, W, H, W', 3]; centres : Tensor[B, 2] (x, y) pixels; size : crop side
    (pixels, <= min(H, W')). Boxes are shifted to stay inside the frame.
    Returns Tensor[B, W, size, size, 3].
    """
    b, _, h, wd = frames.shape[:4]
    size = int(min(size, h, wd))
    x0 = (centres[:, 0] - size / 2).round().long().clamp(0, wd - size)
    y0 = (centres[:, 1] - size / 2).round().long().clamp(0, h - size)
    steps = torch.arange(size, device=frames.device)
    rows = y0[:, None] + steps  # [B, size]
    cols = x0[:, None] + steps
    bi = torch.arange(b, device=frames.device)[:, None, None]
    out = frames[bi, :, rows[:, :, None], cols[:, None, :]]  # [B, size, size, W, 3]
    return out.permute(0, 3, 1, 2, 4)


def contact_crop(frames: Tensor, size_frac: float, offset_frac: float = 0.0) -> Tensor:
    """Crop each window around its contact point (`contact_point`).

    frames : Tensor[B, W, H, W', 3] uint8 -> Tensor[B, W, s, s, 3], s = round(size_frac *
    min(H, W')); the box centre sits `offset_frac * H` below the contact point (the struck
    object lies under the striker's tip).
    """
    h, wd = frames.shape[2:4]
    centres = contact_point(frames)
    centres = centres + torch.tensor([0.0, offset_frac * h], device=centres.device)
    return crop_windows(frames, centres, round(size_frac * min(h, wd)))


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
