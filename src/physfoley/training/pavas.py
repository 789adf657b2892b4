"""Stage `pavas`: PAVAS' flow-matching DiT, backbone then Phy-Adapter (paper section 3.4).

phase "backbone": the latent DiT (a `PavasDiT` whose physics path is unused, i.e. exactly the
backbone) trained by flow matching on the scaled VAE latents, conditioned on CAVP E_v, E_v
dropped with the network's `cond_drop_prob` for classifier-free guidance.
phase "adapter": the backbone's weights (a pavas model directory, or the `ldm` part of a
diff-foley one) are loaded, the VAE and CAVP stay frozen, and the transformer plus the
Phy-Adapter train at the config's (lower) lr; each row's physics is replaced by the null
tokens with probability `physics_drop_prob` (0.1).

Physics at train time is SynthHits' truth stored in the segments (`hit_physics`): one object,
the striker, with its mass, and a per-visual-frame velocity rebuilt from the hits (speed rising
linearly to speed_before over `ramp_s` before each contact, falling from speed_after over
`ramp_s` after it; downwards before, upwards after). Its visual feature is the CAVP patch
features pooled over the whole frame (SynthHits records no masks). Writes OUT/model, family
"pavas" (parts vae, cavp, pavas; the normalisation statistics are in the pavas part's config).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch

from physfoley.diffusion.flow import flow_matching_loss
from physfoley.errors import InputError
from physfoley.model_dir import DIFF_FOLEY, PAVAS, model_dir_family
from physfoley.models.latent_dit import condition_dropout
from physfoley.models.soundtrack_factory import build_network, network_config
from physfoley.soundtrack_dir import load_state, write_model_dir
from physfoley.training import common as C
from physfoley.training.soundtrack_common import (
    PavasTrainConfig,
    open_segments,
    random_items,
    run_loop,
    stage_dir,
)
from physfoley.training.timelines import cached_timelines, feature_slice, latent_slice, load_frozen


def truth_velocity(hits: list, t0: float, count: int, fps: float, ramp_s: float) -> np.ndarray:
    """Striker velocity float32 [count, 2] (m/s, image plane, y down) on the visual frames
    (i + 0.5) / fps after t0, rebuilt from hits [time_s, mass, speed_before, speed_after]."""
    t = t0 + (np.arange(count) + 0.5) / fps
    vel = np.zeros((count, 2), np.float32)
    for time_s, _, before, after in hits:
        dt = t - time_s
        up = np.where((dt > -ramp_s) & (dt <= 0), before * (1 + dt / ramp_s), 0.0)
        down = np.where((dt > 0) & (dt < ramp_s), after * (1 - dt / ramp_s), 0.0)
        vel[:, 1] += up.astype(np.float32)
        vel[:, 1] -= down.astype(np.float32)
    return vel


def physics_stats(data, videos) -> tuple[tuple[float, float], tuple[float, float]]:
    """(mean, std) of log(1 + striker mass) over the videos and of the velocity components
    at the hits (so the z-scored inputs span about [-3, 3])."""
    masses, speeds = [], [0.0]
    for v in videos:
        for _, m, before, after in data.videos[int(v)].get("hit_physics", []):
            masses.append(np.log1p(m))
            speeds += [before, -after]
    if not masses:
        raise InputError(
            "the segments carry no SynthHits physics (hit_physics); prepare them again with "
            "`physfoley data segments ROOT --out DIR --force` from SynthHits videos"
        )
    m, s = np.asarray(masses), np.asarray(speeds)
    return (float(m.mean()), float(max(m.std(), 1e-3))), (0.0, float(max(s.std(), 1e-3)))


@torch.no_grad()
def pooled_features(out: Path, env, cavp, data, videos) -> dict[int, np.ndarray]:
    """Per video, CAVP patch features pooled over the whole frame: float32 [T_v, C_f]
    (cached in OUT/cache/pavas_feats.npz)."""
    cache = out / "cache" / "pavas_feats.npz"
    if env.is_main and not cache.is_file():
        arrays = {}
        for v in videos:
            frames = torch.from_numpy(np.array(data.frames(int(v)))[None]).to(env.device)
            fmap = cavp.video.feature_map(frames)[0].mean(dim=(2, 3))  # (C, T)
            arrays[f"v{int(v)}"] = fmap.T.cpu().numpy()
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(".pavas_feats.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, cache)
    C.barrier(env)
    with np.load(cache) as z:
        return {int(v): z[f"v{int(v)}"] for v in videos}


def training_batch(data, tl, feats, videos, cfg: PavasTrainConfig, rng, physics: bool):
    """Latents [B, C', F', T'], E_v [B, T_v, C] and (physics) the adapter's inputs, K = 1."""
    sound = data.cfg
    items = random_items(data, videos, cfg.batch_size, rng)
    z = np.stack([
        latent_slice(tl, v, s, sound.latent_frames, rng.standard_normal(sound.latent_shape))
        for v, s in items
    ]).astype(np.float32)  # fmt: skip
    first = [sound.visual_index(s) for _, s in items]
    ev = np.stack(
        [
            feature_slice(tl, v, f, sound.visual_frames)
            for (v, _), f in zip(items, first, strict=True)
        ]
    )
    cond = {"video": torch.from_numpy(ev.astype(np.float32))}
    if not physics:
        return z, cond
    n = sound.visual_frames
    obj, vel, mass = [], [], []
    for (v, s), f in zip(items, first, strict=True):
        idx = np.minimum(np.arange(f, f + n), len(feats[v]) - 1)
        obj.append(feats[v][idx])
        hits = data.videos[v].get("hit_physics", [])
        t0 = s / sound.latent_rate_hz
        vel.append(truth_velocity(hits, t0, n, sound.visual_fps, cfg.ramp_s))
        mass.append(hits[0][1] if hits else float("nan"))
    b = len(items)
    cond.update({
        "obj_feat": torch.from_numpy(np.stack(obj)[:, None].astype(np.float32)),
        "obj_present": torch.ones(b, 1, n, dtype=torch.bool),
        "obj_valid": torch.from_numpy(np.isfinite(mass))[:, None],
        "mass": torch.from_numpy(np.nan_to_num(np.asarray(mass, np.float32)))[:, None],
        "velocity": torch.from_numpy(np.stack(vel)[:, None]),
    })  # fmt: skip
    return z, cond


def backbone_state(path: Path) -> dict[str, torch.Tensor]:
    """The denoiser weights of a pavas (part "pavas") or diff-foley (part "ldm") directory."""
    family = model_dir_family(path)
    if family not in (PAVAS, DIFF_FOLEY):
        raise InputError(
            f"backbone_dir {path} holds a {family!r} model; give a pavas or diff-foley one"
        )
    return load_state(path, "pavas" if family == PAVAS else "ldm")


def train_pavas(cfg: PavasTrainConfig, *, data_dir, out_dir, resume=False, device=None,
                progress=False) -> dict:  # fmt: skip
    """Train one phase; write the complete pavas model directory OUT/model."""
    if cfg.phase not in ("backbone", "adapter"):
        raise InputError(f"phase must be backbone or adapter, not {cfg.phase!r}")
    env = C.setup_distributed(device)
    try:
        data = open_segments(data_dir or cfg.data, cfg.preset)
        sound = data.cfg
        out = C.prepare_out_dir(out_dir, resume, cfg) if env.is_main else Path(out_dir)
        C.barrier(env)
        vae_dir = stage_dir(cfg.vae_dir, out_dir, "vae")
        cavp_dir = stage_dir(cfg.cavp_dir, out_dir, "cavp")
        vae, cavp, scale, docs = load_frozen(vae_dir, cavp_dir, sound, env.device)
        videos = data.indices("train")
        adapter = cfg.phase == "adapter"
        overrides = {"feat_dim": cavp.cfg.video_channels[-1], **cfg.model}
        if adapter:
            mass_stats, vel_stats = physics_stats(data, videos)
            overrides.update(mass_stats=mass_stats, vel_stats=vel_stats)
        tl = cached_timelines(out, env, vae, cavp, data, videos, scale, "train")
        feats = pooled_features(out, env, cavp, data, videos) if adapter else {}
        C.seed_everything(cfg.seed)
        net_cfg = network_config("pavas", cfg.preset, overrides, context_dim=cavp.cfg.embed_dim)
        net = build_network("pavas", net_cfg, sound).to(env.device)
        if adapter:
            net.load_backbone(backbone_state(Path(cfg.backbone_dir or Path(out_dir).parent
                                                  / "pavas_backbone" / "model")))  # fmt: skip

        def loss_fn(model, step, rng, gen):
            z1, cond = training_batch(data, tl, feats, videos, cfg, rng, adapter)
            drop = condition_dropout(len(z1), net_cfg.cond_drop_prob, gen)
            if adapter:
                cond["physics_null"] = condition_dropout(len(z1), cfg.physics_drop_prob, gen)
            cond = {k: v.to(env.device) for k, v in cond.items()}
            return {"loss": flow_matching_loss(model, torch.from_numpy(z1).to(env.device),
                                               cond, drop, gen)}  # fmt: skip

        result = run_loop(cfg, out=out, env=env, trainable=net, loss_fn=loss_fn, resume=resume,
                          progress=progress)  # fmt: skip
        summary = {"stage": "pavas", "phase": cfg.phase, "steps": result["steps"],
                   **result["losses"]}  # fmt: skip
        if env.is_main:
            summary["model_dir"] = str(_write_final(out / "model", cfg, net, net_cfg, docs,
                                                    vae_dir, cavp_dir, summary, sound))  # fmt: skip
        C.barrier(env)
        return summary
    finally:
        C.cleanup_distributed()


def _write_final(model_dir, cfg, net, net_cfg, docs, vae_dir, cavp_dir, summary, sound):
    if cfg.model_dtype not in ("float16", "float32"):
        raise InputError(f"model_dtype must be float16 or float32, not {cfg.model_dtype!r}")
    dtype = getattr(torch, cfg.model_dtype)
    parts = {
        "vae": (load_state(vae_dir, "vae"), docs["vae"]["parts"]["vae"]),
        "cavp": (load_state(cavp_dir, "cavp"), docs["cavp"]["parts"]["cavp"]),
        "pavas": (net.state_dict(), dataclasses.asdict(net_cfg)),
    }
    parts = {
        name: ({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, doc)
        for name, (state, doc) in parts.items()
    }
    training = {**docs["vae"].get("training", {}), **docs["cavp"].get("training", {})}
    training[f"pavas_{cfg.phase}"] = {**summary, "train_config": dataclasses.asdict(cfg)}
    sampling = {"sampler": "euler", "steps": cfg.steps, "cfg_scale": cfg.cfg_scale,
                "cg_scale": 0.0}  # fmt: skip
    return write_model_dir(model_dir, soundtrack=sound, parts=parts, force=True, family=PAVAS,
                           extra={"sampling": sampling, "training": training})  # fmt: skip
