"""Stage `pavas`: PAVAS' flow-matching DiT, backbone then Phy-Adapter (paper section 3.4).

phase "backbone": the latent DiT (a `PavasDiT` whose physics path is unused, i.e. exactly the
backbone) trained by flow matching on the scaled VAE latents, conditioned on CAVP E_v, E_v
dropped with the network's `cond_drop_prob` for classifier-free guidance.
phase "adapter": the backbone's weights (a pavas model directory, or the `ldm` part of a
diff-foley one) are loaded, the VAE and CAVP stay frozen, and the transformer plus the
Phy-Adapter train at the config's (lower) lr; each row's physics is replaced by the null
tokens with probability `physics_drop_prob` (0.1).

Physics at train time (`physics`): "truth", SynthHits' record stored in the segments
(`hit_physics`): one object, the striker, with its mass, and a per-visual-frame velocity
rebuilt from the hits (speed rising linearly to speed_before over `ramp_s` before each contact,
falling from speed_after over `ramp_s` after it; downwards before, upwards after), its visual
feature the CAVP patch features pooled over the whole frame (SynthHits records no masks); or
"ppe", the physics estimator run on each training video (`videos`: the SynthHits folder the
segments were prepared from), exactly what the pipeline gives the model at inference. Writes
OUT/model, family "pavas" (parts vae, cavp, pavas; the normalisation statistics are in the
pavas part's config).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from physfoley.diffusion.flow import flow_matching_loss
from physfoley.errors import InputError
from physfoley.model_dir import DIFF_FOLEY, PAVAS, model_dir_family
from physfoley.models.latent_dit import condition_dropout
from physfoley.models.soundtrack_factory import build_network, network_config
from physfoley.pavas_pipeline import object_inputs
from physfoley.soundtrack_dir import load_state, write_model_dir
from physfoley.training import common as C
from physfoley.training.soundtrack_common import (
    PavasTrainConfig,
    open_stage,
    random_items,
    run_loop,
    stage_dir,
)
from physfoley.training.timelines import cached_timelines, feature_slice, latent_slice, load_frozen
from physfoley.video.objects import estimate_objects, read_work_video


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


def physics_stats(physics: dict[int, dict]) -> tuple[tuple[float, float], tuple[float, float]]:
    """(mean, std) of log(1 + mass) over the objects, and (0, rms) of the nonzero velocity
    components (so the z-scored inputs span about [-3, 3])."""
    m = np.concatenate([np.log1p(p["mass"][p["obj_valid"]]) for p in physics.values()])
    v = np.concatenate([p["velocity"][np.isfinite(p["velocity"])] for p in physics.values()])
    v = v[v != 0] if (v != 0).any() else np.ones(1)
    if m.size == 0:
        raise InputError("no training video has a moving object with a mass; nothing to adapt to")
    rms = float(np.sqrt(np.mean(v**2)))
    return (float(m.mean()), float(max(m.std(), 1e-3))), (0.0, max(rms, 1e-3))


def true_masses(data, physics: dict[int, dict]) -> float:
    """Give every found object of each video (in place) the striker's recorded mass from the
    segments' `hit_physics` (the median where a video has no hit); returns that median, kg."""
    known = {v: hits[0][1] for v in physics if (hits := data.videos[v].get("hit_physics"))}
    if not known:
        raise InputError("mass: truth needs segments with SynthHits' hit_physics")
    median = float(np.median(list(known.values())))
    for v, p in physics.items():
        p["mass"] = np.where(p["obj_valid"], known.get(v, median), 0.0).astype(np.float32)
    return median


def truth_physics(data, video: int, feats: np.ndarray, ramp_s: float) -> dict[str, np.ndarray]:
    """One object, the striker: CAVP patch features pooled over the whole frame, its mass and
    the velocity rebuilt from the hits (`truth_velocity`) on the video's visual grid."""
    hits = data.videos[video].get("hit_physics")
    if hits is None:
        raise InputError(
            "the segments carry no SynthHits physics (hit_physics); prepare them again with "
            "`physfoley data segments ROOT --out DIR --force` from SynthHits videos"
        )
    n = len(feats)
    return {
        "obj_feat": feats[None].astype(np.float32),
        "obj_present": np.ones((1, n), bool),
        "obj_valid": np.array([bool(hits)]),
        "mass": np.array([hits[0][1] if hits else 0.0], np.float32),
        "velocity": truth_velocity(hits, 0.0, n, data.cfg.visual_fps, ramp_s)[None],
    }


@torch.no_grad()
def video_physics(out: Path, env, cavp, data, videos, cfg: PavasTrainConfig, k_max: int,
                  progress: bool = False):  # fmt: skip
    """Per video, the adapter's inputs over its whole visual grid (`truth_physics`, or with
    physics "ppe" the estimator on cfg.videos/NAME_denoised.mp4 and `object_inputs`), cached
    in OUT/cache/pavas_physics_SOURCE.npz; a progress bar with `progress` (ppe: ~2 s a video)."""
    keys = ("obj_feat", "obj_present", "obj_valid", "mass", "velocity")
    cache = out / "cache" / f"pavas_physics_{cfg.physics}.npz"
    if env.is_main and not cache.is_file():
        arrays = {}
        bar = tqdm(videos, desc=f"pavas physics ({cfg.physics})", unit="video",
                   disable=not progress, dynamic_ncols=True)  # fmt: skip
        for v in bar:
            grid = np.array(data.frames(int(v)))
            if cfg.physics == "ppe":
                path = Path(cfg.videos or "") / f"{data.videos[int(v)]['name']}_denoised.mp4"
                if not cfg.videos or not path.is_file():
                    raise InputError(
                        f"physics ppe reads the videos: set `videos:` ({path} missing)"
                    )
                frames, pixel_scale = read_work_video(path)
                objects = estimate_objects(frames, pixel_scale=pixel_scale)
                inputs = object_inputs(cavp, grid, objects, frames.times_s, data.cfg.visual_fps,
                                       k_max, env.device)  # fmt: skip
                phys = {k: t[0].numpy() for k, t in inputs.items()}
            else:
                fmap = cavp.video.feature_map(torch.from_numpy(grid)[None].to(env.device))
                feats = fmap[0].mean(dim=(2, 3)).T.cpu().numpy()  # (T, C)
                phys = truth_physics(data, int(v), feats, cfg.ramp_s)
            arrays.update({f"{k}{int(v)}": phys[k] for k in keys})
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.stem}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, cache)
    C.barrier(env)
    with np.load(cache) as z:
        return {int(v): {k: z[f"{k}{int(v)}"] for k in keys} for v in videos}


AUGMENT_FACTORS = (0.5, 2.0)  # what-if augmentation: speed or mass x k, sound 20 log10 k dB


def augment_gain_db(k: float) -> float:
    return float(20.0 * np.log10(k))


def training_batch(data, tl, physics, videos, cfg: PavasTrainConfig, rng, shifted=None):
    """Latents [B, C', F', T'], E_v [B, T_v, C] and (with `physics`) the adapter's inputs.

    `shifted` ({k: Timelines of the sound 20 log10 k dB louder}) turns on the what-if
    augmentation: a `cfg.level_augment` share of the segments comes from them, with the speed
    or the mass (at random) scaled by k."""
    sound = data.cfg
    items = random_items(data, videos, cfg.batch_size, rng)
    factors = [1.0] * len(items)
    scaled = ["none"] * len(items)
    if shifted:
        for i in range(len(items)):
            if rng.random() < cfg.level_augment:
                factors[i] = float(AUGMENT_FACTORS[int(rng.integers(len(AUGMENT_FACTORS)))])
                scaled[i] = ("velocity", "mass")[int(rng.integers(2))]
    z = np.stack([
        latent_slice(tl if k == 1.0 else shifted[k], v, s, sound.latent_frames,
                     rng.standard_normal(sound.latent_shape))
        for (v, s), k in zip(items, factors, strict=True)
    ]).astype(np.float32)  # fmt: skip
    first = [sound.visual_index(s) for _, s in items]
    n = sound.visual_frames
    ev = np.stack([feature_slice(tl, v, f, n) for (v, _), f in zip(items, first, strict=True)])
    cond = {"video": torch.from_numpy(ev.astype(np.float32))}
    if not physics:
        return z, cond
    rows = []
    for (v, _), f in zip(items, first, strict=True):
        p = physics[v]
        idx = np.minimum(np.arange(f, f + n), p["obj_feat"].shape[1] - 1)
        rows.append({k: (a if k in ("obj_valid", "mass") else a[:, idx]) for k, a in p.items()})
    for row, k, key in zip(rows, factors, scaled, strict=True):
        if key != "none":
            row[key] = (row[key] * k).astype(row[key].dtype)
    for key in rows[0]:
        cond[key] = torch.from_numpy(np.stack([r[key] for r in rows]))
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
        data, out = open_stage(cfg, data_dir, out_dir, resume, env)
        sound = data.cfg
        vae_dir = stage_dir(cfg.vae_dir, out_dir, "vae")
        cavp_dir = stage_dir(cfg.cavp_dir, out_dir, "cavp")
        vae, cavp, scale, docs = load_frozen(vae_dir, cavp_dir, sound, env.device)
        videos = data.indices("train")
        adapter = cfg.phase == "adapter"
        overrides = {"feat_dim": cavp.cfg.video_channels[-1], **cfg.model}
        if cfg.physics not in ("truth", "ppe"):
            raise InputError(f"physics must be truth or ppe, not {cfg.physics!r}")
        if cfg.mass not in ("estimate", "truth") or (cfg.mass == "truth" and cfg.physics != "ppe"):
            raise InputError(f"mass must be estimate or truth (with physics ppe), not {cfg.mass!r}")
        net_cfg = network_config("pavas", cfg.preset, overrides, context_dim=cavp.cfg.embed_dim)
        tl = cached_timelines(out, env, vae, cavp, data, videos, scale, "train")
        shifted = {}
        if cfg.level_augment:
            if not (adapter and 0.0 < cfg.level_augment <= 1.0 and data.level == "recorded"):
                raise InputError(
                    "level_augment (a share in (0, 1]) needs the adapter phase and segments "
                    "prepared with `physfoley data segments ... --level recorded`"
                )
            for k in AUGMENT_FACTORS:
                shifted[k] = cached_timelines(out, env, vae, cavp, data, videos, scale,
                                              f"train_{augment_gain_db(k):+.2f}dB",
                                              augment_gain_db(k))  # fmt: skip
        physics = {}
        if adapter:
            physics = video_physics(
                out, env, cavp, data, videos, cfg, net_cfg.max_objects, progress
            )
            prior = true_masses(data, physics) if cfg.mass == "truth" else None
            mass_stats, vel_stats = physics_stats(physics)
            net_cfg = dataclasses.replace(net_cfg, mass_stats=mass_stats, vel_stats=vel_stats,
                                          prior_mass_kg=prior)  # fmt: skip
        C.seed_everything(cfg.seed)
        net = build_network("pavas", net_cfg, sound).to(env.device)
        if adapter:
            net.load_backbone(backbone_state(Path(cfg.backbone_dir or Path(out_dir).parent
                                                  / "pavas_backbone" / "model")))  # fmt: skip

        def loss_fn(model, step, rng, gen):
            z1, cond = training_batch(data, tl, physics, videos, cfg, rng, shifted)
            drop = condition_dropout(len(z1), net_cfg.cond_drop_prob, gen)
            if adapter:
                cond["physics_null"] = condition_dropout(len(z1), cfg.physics_drop_prob, gen)
            cond = {k: v.to(env.device) for k, v in cond.items()}
            return {"loss": flow_matching_loss(model, torch.from_numpy(z1).to(env.device),
                                               cond, drop, gen)}  # fmt: skip

        result = run_loop(cfg, out=out, env=env, trainable=net, loss_fn=loss_fn, resume=resume,
                          progress=progress)  # fmt: skip
        summary = {"stage": "pavas", "phase": cfg.phase, "steps": result["steps"],
                   "segments_level": data.level, **result["losses"]}  # fmt: skip
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
                "cg_scale": 0.0, "physics_scale": cfg.physics_scale}  # fmt: skip
    return write_model_dir(model_dir, soundtrack=sound, parts=parts, force=True, family=PAVAS,
                           extra={"sampling": sampling, "training": training})  # fmt: skip
