"""Stage `align`: the alignment classifier of double guidance (Diff-Foley section 2.4).

P(y | z_t, t, E_v) is trained on noisy VAE latents (t uniform over the 1000 steps, the LDM's
schedule) of three kinds of pairs, as in the paper: the true pair (50 %, y = 1), E_v of the
same video shifted in time by at least `min_shift_s` (25 %, y = 0) and E_v of another video
(25 %, y = 0). The VAE and CAVP are frozen (OUT/../vae/model and OUT/../cavp/model unless
vae_dir / cavp_dir say otherwise). Accuracy on held-out videos is reported per pair kind, on
clean latents and over uniform t. Writes OUT/model (part "align").

With `clean_only: true` the same stage trains the *evaluation* alignment classifier of Align
Acc (`physfoley eval soundtrack --align-classifier`): clean latents only (t = 0), its own seed
and weights, and OUT/model bundles the frozen vae and cavp it reads, so it scores any
soundtrack on its own and never shares weights with the guidance classifier.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import torch
import torch.nn.functional as F

from physfoley.diffusion.guidance import alphas_cumprod, q_sample
from physfoley.models.soundtrack_factory import build_network, network_config
from physfoley.soundtrack_dir import load_state, write_model_dir
from physfoley.training import common as C
from physfoley.training.soundtrack_common import (
    AlignTrainConfig,
    open_stage,
    run_loop,
    stage_dir,
)
from physfoley.training.timelines import (
    cached_timelines,
    feature_slice,
    latent_slice,
    load_frozen,
)

MODEL_DIR = "model"
KINDS = ("true", "shifted", "other")


def pair_items(data, videos: np.ndarray, count: int, rng, min_shift: int) -> list[tuple]:
    """`count` pairs (audio video, audio start, visual video, visual start, kind index):
    half true, a quarter shifted within the video by >= min_shift latent frames, a quarter from
    another video (a shifted pair that does not fit its video is drawn from another video)."""
    kinds = np.zeros(count, dtype=int)
    kinds[count // 2 :] = 1
    kinds[count // 2 + count // 4 :] = 2
    items = []
    for kind in kinds:
        v = int(rng.choice(videos))
        n = data.num_starts(v)
        s = int(rng.integers(0, n))
        if kind == 1:
            far = np.nonzero(np.abs(np.arange(n) - s) >= min_shift)[0]
            if len(far):
                items.append((v, s, v, int(rng.choice(far)), 1))
                continue
            kind = 2
        if kind == 2 and len(videos) > 1:
            other = int(rng.choice(videos[videos != v]))
            items.append((v, s, other, int(rng.integers(0, data.num_starts(other))), 2))
        else:
            items.append((v, s, v, s, 0))
    return items


def pair_batch(data, tl, items, rng, *, sample: bool = True):
    """Scaled latents float32 [B, C', F', T'], E_v [B, T_v, C], labels float32 [B]."""
    cfg = data.cfg
    shape = cfg.latent_shape
    z = [
        latent_slice(tl, v, s, cfg.latent_frames, rng.standard_normal(shape) if sample else None)
        for v, s, *_ in items
    ]
    ev = [
        feature_slice(tl, vv, cfg.visual_index(sv), cfg.visual_frames) for _, _, vv, sv, _ in items
    ]
    labels = np.array([k == 0 for *_, k in items], np.float32)
    return np.stack(z).astype(np.float32), np.stack(ev).astype(np.float32), labels


@torch.no_grad()
def accuracy(classifier, data, tl, videos, count: int, seed: int, min_shift: int, device):
    """Held-out accuracy per pair kind, on clean latents (t = 0) and over uniform t."""
    rng = np.random.default_rng([seed, 2])
    items = pair_items(data, videos, count, rng, min_shift)
    z0, ev, labels = pair_batch(data, tl, items, rng, sample=False)
    kinds = np.array([k for *_, k in items])
    gen = torch.Generator().manual_seed(seed)
    abar = alphas_cumprod()
    z0, ev = torch.from_numpy(z0).to(device), torch.from_numpy(ev).to(device)
    out = {}
    for label, t in (
        ("clean", torch.zeros(len(items), dtype=torch.long)),
        ("uniform_t", torch.randint(0, len(abar), (len(items),), generator=gen)),
    ):
        noise = torch.randn(z0.shape, generator=gen).to(device)
        z_t = q_sample(z0, t.to(device), noise, abar) if label != "clean" else z0
        right = (classifier(z_t, t.to(device), {"video": ev}) > 0).cpu().numpy() == (labels > 0)
        out[f"acc_{label}"] = float(right.mean())
        for k, name in enumerate(KINDS):
            if (kinds == k).any():
                out[f"acc_{label}_{name}"] = float(right[kinds == k].mean())
    out["test_pairs"] = len(items)
    return out


def train_align(
    cfg: AlignTrainConfig,
    *,
    data_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    resume: bool = False,
    device: str | None = None,
    progress: bool = False,
) -> dict:
    """Train the alignment classifier on frozen VAE latents and CAVP features; write OUT/model."""
    env = C.setup_distributed(device)
    try:
        data, out = open_stage(cfg, data_dir, out_dir, resume, env)
        sound = data.cfg
        vae, cavp, scale, docs = load_frozen(
            stage_dir(cfg.vae_dir, out_dir, "vae"),
            stage_dir(cfg.cavp_dir, out_dir, "cavp"),
            sound,
            env.device,
        )
        train_videos, test_videos = data.indices("train"), data.indices("test")
        tl = cached_timelines(out, env, vae, cavp, data, train_videos, scale, "train")
        C.seed_everything(cfg.seed)
        net_cfg = network_config("align", cfg.preset, cfg.model, context_dim=cavp.cfg.embed_dim)
        classifier = build_network("align", net_cfg, sound).to(env.device)
        abar = alphas_cumprod()
        min_shift = max(1, round(cfg.min_shift_s * sound.latent_rate_hz))

        def loss_fn(net, step, rng, gen):
            items = pair_items(data, train_videos, cfg.batch_size, rng, min_shift)
            z0, ev, labels = pair_batch(data, tl, items, rng)
            z0 = torch.from_numpy(z0).to(env.device)
            t = torch.randint(0, len(abar), (len(items),), generator=gen).to(env.device)
            noise = torch.randn(z0.shape, generator=gen).to(env.device)
            if cfg.clean_only:
                t = torch.zeros_like(t)
            z_t = z0 if cfg.clean_only else q_sample(z0, t, noise, abar)
            logits = net(z_t, t, {"video": torch.from_numpy(ev).to(env.device)})
            target = torch.from_numpy(labels).to(env.device)
            acc = ((logits > 0).float() == target).float().mean()
            return {"loss": F.binary_cross_entropy_with_logits(logits, target), "acc": acc}

        result = run_loop(
            cfg,
            out=out,
            env=env,
            trainable=classifier,
            loss_fn=loss_fn,
            resume=resume,
            progress=progress,
        )
        summary = {"stage": "align", "steps": result["steps"], **result["losses"]}
        if env.is_main:
            metrics = {}
            if len(test_videos):
                test_tl = cached_timelines(
                    out, C.DistEnv(device=env.device), vae, cavp, data, test_videos, scale, "test"
                )
                metrics = accuracy(
                    classifier,
                    data,
                    test_tl,
                    test_videos,
                    cfg.eval_segments,
                    cfg.seed,
                    min_shift,
                    env.device,
                )
            summary.update(metrics)
            part = {**dataclasses.asdict(net_cfg), "metrics": metrics}
            parts = {"align": (classifier.state_dict(), part)}
            if cfg.clean_only:  # the evaluation classifier carries the encoders it reads
                for name in ("vae", "cavp"):
                    src = stage_dir(getattr(cfg, f"{name}_dir"), out_dir, name)
                    parts[name] = (load_state(src, name), docs[name]["parts"][name])
            write_model_dir(
                out / MODEL_DIR,
                soundtrack=sound,
                parts=parts,
                extra={"training": {"align": summary}, "evaluation": cfg.clean_only},
                force=True,
            )
            summary["model_dir"] = str(out / MODEL_DIR)
        C.barrier(env)
        return summary
    finally:
        C.cleanup_distributed()
