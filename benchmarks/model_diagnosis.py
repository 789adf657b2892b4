"""Where does a trained model lose generated-clip recognition? Retrieval or the denoiser?

For every clip of a prepared split, the model generates with the physics of
  retrieved   : the training clip nearest in visual latent (top-1, what `synthesize` does),
  same-mat    : the nearest training clip of the clip's TRUE material (a perfect material pick),
  oracle      : the test clip's own physics (modal parameters + band parameters fitted by the
                residual stage given with --residual, else those stored in the prepared folder),
and the evaluation classifier scores them (Su et al. 4.4). Reference rows: the retrieved
neighbour's real recording (`nn-real`: what a perfect renderer of the retrieved clip would give)
and the real test clips. Also reports how often retrieval lends the right material.

    .venv/bin/python benchmarks/model_diagnosis.py --model DIR --data PREP_TEST \
        --train-data PREP_TRAIN --classifier CLF [--residual RUN/residual] \
        [--modes retrieved,oracle,same-mat,nn-real] [--guidance 1,2] [--seeds 0,1,2]

Prints one line per (mode, guidance, seed) and a summary table (mean ± std over seeds).
Defaults (relative to the repository root, made by docs/RESULTS.md): --model the shipped model,
--data data/prepared_small_regen, --classifier runs/eval_classifier_regen.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--model", default="src/physfoley/assets/models/small", help="(default: %(default)s)"
    )
    p.add_argument(
        "--data",
        default="data/prepared_small_regen",
        help="prepared folder with the evaluated split (default: %(default)s)",
    )
    p.add_argument("--train-data", help="prepared folder the bank was built from (for nn-real)")
    p.add_argument(
        "--classifier", default="runs/eval_classifier_regen", help="(default: %(default)s)"
    )
    p.add_argument("--residual", help="residual run dir: fit the oracle's band parameters with it")
    p.add_argument("--split", default="test")
    p.add_argument("--modes", default="retrieved,oracle,same-mat,nn-real")
    p.add_argument("--guidance", default="1")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--sampler")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json-out", help="also write all runs to this JSON file")
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    from physfoley.audio.params import PHYSICS_KEYS
    from physfoley.data.datasets import PreparedData
    from physfoley.evaluation.classifier import load_eval_classifier, waves_to_spectrograms
    from physfoley.evaluation.metrics import recognition_ratio_ci
    from physfoley.evaluation.runner import score_generated, summarize_runs
    from physfoley.pipeline import ImpactPipeline
    from physfoley.video.windows import resize_frames

    pipe = ImpactPipeline.from_pretrained(a.model, device=a.device)
    audio = pipe.audio
    data = PreparedData.open(a.data)
    train = PreparedData.open(a.train_data) if a.train_data else None
    clf = load_eval_classifier(a.classifier, device=a.device)
    rows = data.indices(a.split)
    labels = data.column("material_id")[rows]
    materials = np.asarray(data.materials)

    # visual latents of the evaluated clips
    nus, keys_q = [], []
    for s in range(0, rows.size, a.batch_size):
        w = np.asarray(data.arrays["frames"][rows[s : s + a.batch_size]])
        if w.shape[-2] != pipe.image_size:
            w = resize_frames(w, pipe.image_size)
        nu_b, key_b = pipe.encode_windows_and_keys(w)
        nus.append(nu_b.float())
        keys_q.append(key_b.float())
    nu = torch.cat(nus)
    key_q = torch.cat(keys_q)  # the bank search key (nu unless the model asks for TTA)

    # bank rows = the training split of --train-data, in order (build_physics_bank)
    bank = pipe.bank
    train_rows = train.indices("train") if train else np.arange(len(bank))
    if len(train_rows) != len(bank):
        raise SystemExit(
            f"bank has {len(bank)} clips, {a.train_data} train split {len(train_rows)}"
        )
    bank_mat = np.asarray(bank.materials)
    found = bank.lookup(key_q.cpu().numpy(), k=1)
    nn_idx = found.indices[:, 0]
    right_clip = bank_mat[nn_idx] == materials[labels]  # [N] the neighbour has the clip's material
    right = float(right_clip.mean())
    print(f"retrieval lends the right material for {100 * right:.1f} % of {rows.size} clips")

    # same-material nearest neighbour: brute force over the bank keys of that material
    keys = torch.from_numpy(np.asarray(bank.keys, np.float32))
    d2 = torch.cdist(key_q.cpu(), keys)  # [N, bank]
    same = torch.from_numpy(bank_mat[None, :] == materials[labels][:, None])
    same_idx = torch.where(same, d2, torch.full_like(d2, float("inf"))).argmin(1).numpy()

    def bank_physics(idx: np.ndarray) -> dict[str, np.ndarray]:
        return {k: np.asarray(bank.values[k][idx], np.float32) for k in PHYSICS_KEYS}

    own = {
        k: np.asarray(data.arrays[k][rows], np.float32) for k in PHYSICS_KEYS if k in data.arrays
    }
    if a.residual:
        from physfoley.training.residual import load_residual_run, predict_band_params

        enc, _ = load_residual_run(a.residual)
        w, dcy = predict_band_params(enc, data.arrays["waves"][rows], audio)
        own["band_weight"], own["band_decay_db_per_s"] = w, dcy

    real_specs = waves_to_spectrograms(data.arrays["waves"][rows], audio)
    real_out = clf.features(real_specs)
    modes = a.modes.split(",")
    guidances = [float(g) for g in a.guidance.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    results: dict[str, list] = {}
    correct: dict[str, list] = {}  # per-clip correctness of each run, for intervals by video
    videos = data.column("video")[rows]
    real_correct = None

    def run(name: str, gen: torch.Tensor, seed: int) -> None:
        nonlocal real_correct
        clip: dict = {}
        m = score_generated(
            clf, real_specs, labels, gen, seed=seed, real_outputs=real_out, per_clip=clip
        )
        results.setdefault(name, []).append(m)
        correct.setdefault(name, []).append(clip["generated_correct"])
        real_correct = clip["real_correct"]
        print(
            f"{name:28s} seed {seed}: recog {100 * m['recognition_acc']:.1f} % "
            f"(ratio {m['recognition_ratio']:.2f}) FID {m['fid']:.1f} KL {m['kl']:.3f} "
            f"MSE {m['spec_mse']:.4f}",
            flush=True,
        )

    if "nn-real" in modes and train is not None:
        tr = train_rows[nn_idx]
        order = np.argsort(tr)
        specs = waves_to_spectrograms(train.arrays["waves"][tr[order]], audio)
        inv = np.empty_like(order)
        inv[order] = np.arange(order.size)
        run("nn-real (neighbour's clip)", specs[torch.from_numpy(inv)], 0)
    physics_of = {
        "retrieved": lambda: bank_physics(nn_idx),
        "same-mat": lambda: bank_physics(same_idx),
        "oracle": lambda: own,
    }
    for mode in modes:
        if mode not in physics_of:
            continue
        phys = physics_of[mode]()
        mu = pipe.physics_latent(phys).float()
        for g in guidances:
            for seed in seeds:
                t0 = time.time()
                out = []
                for b, s in enumerate(range(0, rows.size, a.batch_size)):
                    spec, _, _ = pipe.sample_spectrograms(
                        mu[s : s + a.batch_size],
                        nu[s : s + a.batch_size],
                        sampler=a.sampler,
                        steps=a.steps,
                        seed=seed * 1_000_003 + b,
                        guidance=g,
                    )
                    out.append(spec.float().cpu())
                run(f"{mode} g={g:g}", torch.cat(out), seed)
                print(f"  ({time.time() - t0:.1f} s)", flush=True)

    print(
        "\n| physics | recognition % (ratio) | ratio, 95 % interval over videos | FID | KL "
        "| spec MSE | seeds |\n|---|---|---|---|---|---|---|"
    )
    intervals = {}
    for name, runs in results.items():
        s = summarize_runs(runs)
        lo, hi = recognition_ratio_ci(np.stack(correct[name]), real_correct, videos)
        intervals[name] = [lo, hi]
        print(
            f"| {name} | {100 * s['recognition_acc']['mean']:.1f} ± {100 * s['recognition_acc']['std']:.1f} "
            f"({s['recognition_ratio']['mean']:.2f}) | {lo:.2f}-{hi:.2f} "
            f"| {s['fid']['mean']:.1f} ± {s['fid']['std']:.1f} "
            f"| {s['kl']['mean']:.3f} | {s['spec_mse']['mean']:.4f} | {len(runs)} |"
        )
    # Where the ratio is lost: each run split by whether retrieval lent the right material.
    print("\n| physics | neighbour's material | clips | generated recognised | real | ratio |")
    print("|---|---|---|---|---|---|")
    for name in results:
        gen = np.stack(correct[name]).astype(np.float64).mean(axis=0)
        for what, sel in (("right", right_clip), ("wrong", ~right_clip)):
            n_real = float(real_correct[sel].sum())
            ratio = f"{gen[sel].sum() / n_real:.2f}" if n_real else "-"
            print(
                f"| {name} | {what} | {int(sel.sum())} | {100 * gen[sel].mean():.1f} % "
                f"| {100 * real_correct[sel].mean():.1f} % | {ratio} |"
            )
    print(
        f"\nretrieval right material: {100 * right:.1f} %; real clips recognised: "
        f"{100 * results[next(iter(results))][0]['real_recognition_acc']:.1f} %"
    )
    if a.json_out:
        Path(a.json_out).write_text(
            json.dumps(
                {
                    "right_material": right,
                    "runs": results,
                    "ratio_ci95_by_video": intervals,
                    "per_clip": {
                        "rows": rows.tolist(),
                        "videos": videos.tolist(),
                        "real_correct": real_correct.astype(int).tolist(),
                        "retrieved_right_material": right_clip.astype(int).tolist(),
                        "generated_correct": {
                            k: np.stack(v).astype(int).tolist() for k, v in correct.items()
                        },
                    },
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
