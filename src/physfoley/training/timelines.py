"""Frozen-feature timelines for the align and ldm stages: VAE latents and CAVP E_v per video.

Both stages see each video through the trained (frozen) VAE and CAVP video encoder only, so the
whole timeline of every video is encoded once - the VAE posterior (mean, std) over all its
latent frames and E_v over all its visual frames, each network being convolutional in time -
and cached in OUT/cache/timelines.npz. A training segment is then a slice, and the split &
merge augmentation a concatenation of slices. The pipeline encodes a video the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from physfoley.audio.mel import shift_level
from physfoley.errors import InputError
from physfoley.soundtrack_dir import load_part, read_config
from physfoley.training import common as C


@dataclass
class Timelines:
    """Per video v (lists indexed like `videos`): posterior mean/std float32 [C', F', T_lat]
    in scaled latent units, E_v float32 [T_v, C]."""

    videos: np.ndarray
    mean: list[np.ndarray]
    std: list[np.ndarray]
    video_features: list[np.ndarray]

    def position(self, video: int) -> int:
        return int(np.searchsorted(self.videos, video))


@torch.no_grad()
def encode_video_timeline(vae, cavp, mel: np.ndarray, frames: np.ndarray, scale: float, device):
    """One video: mel float [T_mel, M], frames uint8 [T_v, S, S, 3] ->
    (mean, std) float32 [C', F', T_mel // r] x scale, E_v float32 [T_v, C]."""
    r = vae.cfg.stride
    usable = (mel.shape[0] // r) * r
    x = torch.from_numpy(np.asarray(mel[:usable], np.float32).T[None]).to(device)
    posterior = vae.encode(x)
    e_v = cavp.video(torch.from_numpy(np.array(frames)[None]).to(device))[0]
    return (
        (posterior.mean[0] * scale).cpu().numpy(),
        (posterior.std[0] * scale).cpu().numpy(),
        e_v.cpu().numpy(),
    )


def cached_timelines(
    out: Path, env: C.DistEnv, vae, cavp, data, videos: np.ndarray, scale: float, name: str,
    gain_db: float = 0.0,
) -> Timelines:  # fmt: skip
    """Encode `videos` of `data` once (main rank) into OUT/cache/NAME.npz and read it back;
    with `gain_db` the sound is first made that much louder (`shift_level`)."""
    cache = out / "cache" / f"{name}.npz"
    videos = np.sort(np.asarray(videos, dtype=np.int64))
    if env.is_main and not cache.is_file():
        arrays = {"videos": videos}
        for i, v in enumerate(videos):
            mel = data.mel(int(v))
            mel = shift_level(mel, gain_db, data.cfg) if gain_db else mel
            mean, std, e_v = encode_video_timeline(
                vae, cavp, mel, data.frames(int(v)), scale, env.device
            )
            arrays.update({f"mean{i}": mean, f"std{i}": std, f"ev{i}": e_v})
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{name}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, cache)
    C.barrier(env)
    with np.load(cache) as z:
        if not np.array_equal(z["videos"], videos):
            raise InputError(f"{cache} was computed for other videos; delete it and resume")
        n = len(videos)
        return Timelines(
            videos=videos,
            mean=[z[f"mean{i}"] for i in range(n)],
            std=[z[f"std{i}"] for i in range(n)],
            video_features=[z[f"ev{i}"] for i in range(n)],
        )


def latent_slice(tl: Timelines, video: int, start: int, length: int, noise: np.ndarray | None):
    """Scaled latent [C', F', length] of `video` from latent frame `start`: the posterior mean,
    plus std x noise (a posterior sample) when `noise` [C', F', length] is given."""
    i = tl.position(video)
    mean = tl.mean[i][..., start : start + length]
    if noise is None:
        return mean
    return mean + tl.std[i][..., start : start + length] * noise


def feature_slice(tl: Timelines, video: int, first: int, count: int) -> np.ndarray:
    """E_v [count, C] of `video` from visual frame `first` (the last frame repeats past the end)."""
    feats = tl.video_features[tl.position(video)]
    idx = np.minimum(np.arange(first, first + count), len(feats) - 1)
    return feats[idx]


def load_frozen(vae_dir: Path, cavp_dir: Path, sound, device):
    """The trained VAE and CAVP (eval, no grad), the latent scale and both configs.

    Raises ModelError when a directory is missing, InputError when its timing is not `sound`'s.
    """
    docs = {"vae": read_config(vae_dir), "cavp": read_config(cavp_dir)}
    for part, doc in docs.items():
        if doc["soundtrack"] != sound.to_dict():
            raise InputError(
                f"the {part} stage was trained with preset {doc['soundtrack'].get('name')!r}, "
                f"not with the data's {sound.name!r} timing"
            )
    vae = load_part(vae_dir, "vae", docs["vae"]).to(device).requires_grad_(False)
    cavp = load_part(cavp_dir, "cavp", docs["cavp"]).to(device).requires_grad_(False)
    return vae, cavp, float(docs["vae"]["parts"]["vae"]["scale_factor"]), docs
