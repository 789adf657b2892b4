"""Train every section-4.3 baseline at the `small` size and regenerate Tables 1 and 3 and Fig. 5.

Usage (from the repository root; see docs/evaluation.md, "Reproducing the tables"):

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/reproduce_tables.py DATA \
        --visual RUN/visual --classifier CLASSIFIER --out OUT [--steps 2000] [--quick]

DATA is a prepared `small` folder with band parameters (`physfoley data prepare` + the residual
stage), RUN/visual a finished visual stage (the shared visual features of every method),
CLASSIFIER an evaluation classifier trained on DATA (`physfoley eval train-classifier`).
For every method (`physfoley.models.baselines.METHODS`) and seed it trains on the training
split, generates one spectrogram per test clip (latents retrieved by visual features), scores it
with the evaluation classifier (`runner.score_generated`, the code of `physfoley eval`) and writes
OUT/runs/<method>_s<seed>.json; finished runs are reused when the script is started again
(resumable per run). Then OUT/tables.json + OUT/tables.md (Tables 1 and 3, the Fig. 5
numbers, n and seeds) and the Fig. 5 plots (OUT/eval_fig5a.png, OUT/eval_fig5b.png; copied to
`--img-dir` when given). `--quick` shrinks everything (a few steps, a few clips) for the test.
Defaults (relative to the repository root, made by docs/RESULTS.md section 5): DATA
data/prepared_small_regen, --visual runs/v3/visual, --classifier runs/eval_classifier_regen,
--out runs/tables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

HEADLINE = ("video+physics", "video")
BEGIN = "<!-- reproduce_tables:begin -->"
END = "<!-- reproduce_tables:end -->"


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    from physfoley.models.baselines import METHODS

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "data",
        nargs="?",
        default="data/prepared_small_regen",
        help="prepared `small` folder (with band parameters; default: %(default)s)",
    )
    p.add_argument(
        "--visual",
        default="runs/v3/visual",
        help="finished visual stage folder (shared features; default: %(default)s)",
    )
    p.add_argument(
        "--classifier",
        default="runs/eval_classifier_regen",
        help="evaluation classifier folder (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        default="runs/tables",
        help="output folder (runs/, tables, plots; default: %(default)s)",
    )
    p.add_argument("--steps", type=int, default=2500, help="training steps per method")
    p.add_argument("--batch-size", type=int, default=24)
    p.add_argument("--sample-steps", type=int, default=100, help="ancestral sampling steps")
    p.add_argument("--seeds", default="0,1,2", help="seeds of the headline rows")
    p.add_argument("--all-seeds", action="store_true", help="every row over all seeds")
    order = [*HEADLINE, *(m for m in METHODS if m not in HEADLINE)]
    p.add_argument("--methods", default=",".join(order))
    p.add_argument("--residual-steps", type=int, default=150, help="Fig. 5(a) steps per band count")
    p.add_argument("--bands", default="0,25,50,100,200")
    p.add_argument("--limit-train", type=int, default=0, help="use only N training clips")
    p.add_argument("--limit-test", type=int, default=0, help="use only N test clips")
    p.add_argument("--img-dir", default=None, help="also copy the plots here (e.g. docs/img)")
    p.add_argument(
        "--results-md",
        default=None,
        help="also write the tables into this Markdown file (e.g. docs/RESULTS.md), replacing "
        f"the text between the lines {BEGIN!r} and {END!r}, which it must contain",
    )
    p.add_argument("--quick", action="store_true", help="tiny run for the test suite")
    a = p.parse_args(argv)
    if a.quick:
        a.steps, a.sample_steps, a.residual_steps, a.batch_size = 3, 2, 1, 8
        a.bands = "0,4"
        a.limit_train, a.limit_test = a.limit_train or 40, a.limit_test or 16
    return a


def _rows(data, split: str, limit: int) -> np.ndarray:
    rows = data.indices(split)
    return rows[:limit] if limit else rows


def _run_file(out: Path, method: str, seed: int) -> Path:
    return out / "runs" / f"{method.replace('+', '_')}_s{seed}.json"


def _save_run(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path)


def main(argv=None) -> int:
    from physfoley.data.datasets import PreparedData
    from physfoley.evaluation import baselines as B
    from physfoley.evaluation.classifier import load_eval_classifier
    from physfoley.evaluation.report import build_report, table1_markdown, table3_markdown
    from physfoley.evaluation.retrieval_baselines import (
        sound_features,
        train_predicted_sound_retrieval,
    )
    from physfoley.evaluation.runner import score_generated, summarize_runs
    from physfoley.models.baselines import METHODS
    from physfoley.training import baselines as TB

    a = parse_args(argv)
    t_start = time.time()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    data = PreparedData.open(a.data)
    visual = B.load_shared_visual(a.visual)
    audio = visual.model_cfg.audio
    clf = load_eval_classifier(a.classifier)
    seeds = [int(s) for s in a.seeds.split(",")]
    methods = [m for m in a.methods.split(",") if m]
    bands = tuple(int(b) for b in a.bands.split(","))

    _log("encoding train/test clips with the shared visual encoder")
    train = B.clip_inputs(visual, data, _rows(data, "train", a.limit_train), audio)
    test = B.clip_inputs(visual, data, _rows(data, "test", a.limit_test), audio)
    nn_rows = B.retrieve(train, test)
    retrieved = train.take(nn_rows)
    same_material = float((retrieved.labels == test.labels).mean())
    real = torch.from_numpy(test.spec)
    real_out = clf.features(real)
    real_acc = float((real_out["probs"].argmax(1) == test.labels).mean())
    _log(
        f"{len(train)} train / {len(test)} test clips; retrieval same material {same_material:.3f}"
    )

    same_rows = B.retrieve_same_material(train, test)  # None if a material has no train clip
    right = retrieved.labels == test.labels  # retrieval lent a clip of the right material

    def score(specs: torch.Tensor, seed: int) -> dict:
        m = score_generated(clf, real, test.labels, specs, seed=seed, real_outputs=real_out)
        # Diagnostic: recognition split by whether retrieval found the right material.
        ok = clf.features(specs)["probs"].argmax(1) == test.labels
        m["acc_retrieval_right"] = float(ok[right].mean()) if right.any() else float("nan")
        m["acc_retrieval_wrong"] = float(ok[~right].mean()) if (~right).any() else float("nan")
        return m

    def trained_method(method: str, seed: int):
        """Train (or load the saved weights of) one method for one seed."""
        s = TB.TrainSettings(**{**settings.__dict__, "seed": seed})
        path = out / "models" / f"{method.replace('+', '_')}_s{seed}.pt"
        if path.is_file():
            tm = TB.train_method(
                method, train, audio, TB.TrainSettings(**{**s.__dict__, "steps": 0})
            )
            tm.module.load_state_dict(torch.load(path, weights_only=True))
            tm.module.eval()
            return tm
        tm = TB.train_method(method, train, audio, s)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(tm.module.state_dict(), path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
        return tm

    settings = TB.TrainSettings(steps=a.steps, batch_size=a.batch_size, sample_steps=a.sample_steps)
    runs: dict[str, list[dict]] = {}

    def record(key: str, seed: int, fn) -> None:
        path = _run_file(out, key, seed)
        if path.is_file():
            doc = json.loads(path.read_text())
        else:
            t0 = time.time()
            doc = {"key": key, "seed": seed, "metrics": fn(), "time_s": None}
            doc["time_s"] = round(time.time() - t0, 1)
            _save_run(path, doc)
            m = doc["metrics"]
            _log(
                f"{key} seed {seed}: FID {m['fid']:.2f} KL {m['kl']:.3f} acc "
                f"{100 * m['recognition_acc']:.1f} % MSE {m['spec_mse']:.4f} ({doc['time_s']} s)"
            )
        runs.setdefault(key, []).append(doc)

    for method in methods:
        row_seeds = seeds if (a.all_seeds or method in HEADLINE) else seeds[:1]
        for seed in row_seeds:

            def run_method(method=method, seed=seed) -> dict:
                tm = trained_method(method, seed)
                return score(tm.generate(test, retrieved, seed=seed), seed)

            record(method, seed, run_method)
            if method == "video+physics":

                def run_predicted(seed=seed) -> dict:
                    tm = trained_method("video+physics", seed)
                    pred = TB.train_latent_predictor(tm, train, seed=seed,
                                                     steps=20 if a.quick else 600)  # fmt: skip
                    with torch.no_grad():
                        z = pred(torch.from_numpy(test.nu))
                    return score(tm.generate(test, retrieved, seed=seed, latent_override=z), seed)

                def run_oracle(seed=seed) -> dict:
                    # Diagnostic, not a method: the test clip's own physics instead of retrieval.
                    tm = trained_method("video+physics", seed)
                    return score(tm.generate(test, test, seed=seed), seed)

                def run_same_material(seed=seed) -> dict:
                    # Diagnostic: retrieval restricted to training clips of the right material
                    # (what a visual encoder that recognised materials would lend).
                    tm = trained_method("video+physics", seed)
                    return score(tm.generate(test, train.take(same_rows), seed=seed), seed)

                record("ablation:predicted-latent", seed, run_predicted)
                record("diagnostic:oracle-physics", seed, run_oracle)
                if same_rows is not None:
                    record("diagnostic:same-material-retrieval", seed, run_same_material)

    # Fig. 5(b): physics retrieved by visual features, resynthesised without diffusion.
    for residual, key in ((False, "ablation:modal-only"), (True, "ablation:modal+residual")):
        record(key, seeds[0], lambda r=residual: score(
            B.physics_resynthesis(retrieved.raw_physics, audio, residual=r, seed=seeds[0]),
            seeds[0]))  # fmt: skip

    # Table 3 retrieval baselines (outputs are training recordings).
    record("nn-visual", seeds[0], lambda: score(torch.from_numpy(retrieved.spec), seeds[0]))

    def run_nn_sound() -> dict:
        sf = sound_features(train.spec, audio)
        retr, _ = train_predicted_sound_retrieval(
            train.frame_feats, sf, epochs=2 if a.quick else 30, seed=seeds[0]
        )
        rows = retr.rows(test.frame_feats)
        return score(torch.from_numpy(train.spec[rows]), seeds[0])

    record("nn-sound", seeds[0], run_nn_sound)

    # Fig. 5(a): MR-STFT against the number of residual bands.
    fig5a_path = out / "fig5a.json"
    if fig5a_path.is_file():
        fig5a = {int(k): v for k, v in json.loads(fig5a_path.read_text()).items()}
    else:
        _log(f"Fig. 5(a): residual bands {bands}, {a.residual_steps} steps each")
        fig5a = TB.residual_band_ablation(
            data, audio, bands, steps=a.residual_steps, eval_clips=len(test),
            resolutions={"fft_sizes": [256, 512, 1024], "hop_sizes": [64, 128, 256],
                         "win_lengths": [256, 512, 1024]},
        )  # fmt: skip
        _save_run(fig5a_path, {str(k): v for k, v in fig5a.items()})

    names = {
        **B.METHOD_NAMES,
        "nn-visual": "NN via Visual Features",
        "nn-sound": "NN via Predicted Sound Features",
        "ablation:modal-only": "Modal synthesis only (retrieved physics)",
        "ablation:modal+residual": "Modal + residual (retrieved physics)",
        "ablation:predicted-latent": "Physics latent predicted from video + diffusion",
        "diagnostic:oracle-physics": "Video + Physics Diffusion, test clip's own physics (oracle)",
        "diagnostic:same-material-retrieval": "Video + Physics Diffusion, retrieval within the true material",
    }
    cfg_doc = {
        "data": str(a.data), "visual": str(a.visual), "classifier": str(a.classifier),
        "train_steps": a.steps, "batch_size": a.batch_size, "sampler": "ancestral",
        "sample_steps": a.sample_steps, "retrieval": "nearest training clip by visual latent nu (L2)",
        "retrieval_same_material": same_material, "real_recognition_acc": real_acc,
        "train_clips": len(train), "test_clips": len(test),
    }  # fmt: skip
    reports = {
        key: build_report(
            summarize_runs([d["metrics"] for d in docs]),
            name=names.get(key, key),
            n_clips=len(test),
            seeds=[d["seed"] for d in docs],
            settings=cfg_doc,
        )
        for key, docs in runs.items()
    }
    t1_keys = [m for m in METHODS if m in reports]
    t3_keys = [k for k in ("nn-visual", "nn-sound", "video+physics") if k in reports]
    diag_keys = [
        k for k in ("video+physics", "diagnostic:same-material-retrieval",
                    "diagnostic:oracle-physics", "video") if k in reports
    ]  # fmt: skip
    f5b_keys = [
        k for k in ("ablation:modal-only", "ablation:modal+residual", "video+physics",
                    "ablation:predicted-latent") if k in reports
    ]  # fmt: skip
    elapsed = time.time() - t_start
    run_s = sum(float(d.get("time_s") or 0.0) for docs in runs.values() for d in docs)
    doc = {
        "settings": cfg_doc,
        "command": " ".join(["benchmarks/reproduce_tables.py", *(argv or sys.argv[1:])]),
        "wall_time_s": round(elapsed, 1),
        "table1": {k: reports[k] for k in t1_keys},
        "table3": {k: reports[k] for k in t3_keys},
        "fig5a_mrstft_by_bands": {str(k): v for k, v in fig5a.items()},
        "fig5b": {k: reports[k] for k in f5b_keys},
        "diagnostic": {k: reports[k] for k in diag_keys},
    }
    (out / "tables.json").write_text(json.dumps(doc, indent=2))
    md = [
        "## Table 1 (Su et al. layout)", "", table1_markdown([reports[k] for k in t1_keys]),
        "## Table 3 (Su et al. layout)", "", table3_markdown([reports[k] for k in t3_keys]),
        "## Fig. 5(a): MR-STFT loss against the number of residual bands", "",
        "| bands | " + " | ".join(str(k) for k in fig5a) + " |",
        "|---|" + "---|" * len(fig5a),
        "| MR-STFT ↓ | " + " | ".join(f"{v:.3f}" for v in fig5a.values()) + " |", "",
        "## Fig. 5(b): components (FID, KL, recognition)", "",
        table1_markdown([reports[k] for k in f5b_keys]),
        "## Diagnostic: retrieved vs the test clip's own physics", "",
        table1_markdown([reports[k] for k in diag_keys]),
        "| Model | Recog. when retrieval right (%) | Recog. when retrieval wrong (%) |",
        "|---|---|---|",
        *(f"| {reports[k]['name']} | "
          f"{100 * reports[k]['metrics']['acc_retrieval_right']['mean']:.1f} | "
          f"{100 * reports[k]['metrics']['acc_retrieval_wrong']['mean']:.1f} |"
          for k in t1_keys + diag_keys[1:-1] if "acc_retrieval_right" in reports[k]["metrics"]),
        "",
        f"Real test clips recognised by the classifier: {100 * real_acc:.2f} %; retrieval by "
        f"visual features lends a clip of the right material for {100 * same_material:.1f} % of "
        f"test clips. Training and scoring time of the {sum(map(len, runs.values()))} runs, "
        f"summed: {run_s / 60:.1f} min (this start of the script: {elapsed / 60:.1f} min; "
        "encoding the clips and Fig. 5(a) not included).", "",
    ]  # fmt: skip
    (out / "tables.md").write_text("\n".join(md))
    _plots(out, fig5a, [reports[k] for k in f5b_keys], a.img_dir)
    if a.results_md:
        _update_results(Path(a.results_md), doc["command"], "\n".join(md), a.img_dir)
    _log(f"done in {elapsed / 60:.1f} min: {out / 'tables.md'}")
    print(json.dumps({"tables_md": str(out / "tables.md"), "wall_time_s": round(elapsed, 1)}))
    return 0


def _update_results(path: Path, command: str, tables_md: str, img_dir: str | None) -> None:
    """Replace the generated block of `path` (between BEGIN and END) with the new tables."""
    from physfoley.atomic import write_text_atomic
    from physfoley.errors import InputError

    text = path.read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise InputError(f"{path} must contain one line {BEGIN!r} followed by one line {END!r}")
    # Headings one level down so that they nest under the file's own section.
    body = "\n".join(("#" + ln) if ln.startswith("## ") else ln for ln in tables_md.splitlines())
    plots = ""
    if img_dir:
        rel = os.path.relpath(Path(img_dir), path.parent)
        plots = f"![Fig. 5(a)]({rel}/eval_fig5a.png) ![Fig. 5(b)]({rel}/eval_fig5b.png)\n\n"
    block = (
        f"{BEGIN}\n<!-- generated by: .venv/bin/python {command} -->\n\n"
        f"{plots}{body.strip()}\n\n{END}"
    )
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    write_text_atomic(path, head + block + tail, force=True)


def _plots(out: Path, fig5a: dict, f5b: list[dict], img_dir: str | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(list(fig5a), list(fig5a.values()), "o-")
    ax.set_xlabel("number of residual bands")
    ax.set_ylabel("MR-STFT loss (test clips)")
    ax.set_title("Fig. 5(a): residual bands")
    fig.tight_layout()
    fig.savefig(out / "eval_fig5a.png", dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    short = {
        "Modal synthesis only (retrieved physics)": "modal only",
        "Modal + residual (retrieved physics)": "+ residual",
        "Video + Physics Diffusion (ours)": "+ diffusion\n(ours)",
        "Physics latent predicted from video + diffusion": "predicted latent\n+ diffusion",
    }
    labels = [short.get(r["name"], r["name"]) for r in f5b]
    means = [r["metrics"]["fid"]["mean"] for r in f5b]
    stds = [r["metrics"]["fid"]["std"] for r in f5b]
    ax.bar(range(len(f5b)), means, yerr=stds, capsize=4)
    ax.set_xticks(range(len(f5b)), labels, fontsize=8)
    ax.set_ylabel("FID (eval-classifier embedding) ↓")
    ax.set_title("Fig. 5(b): components")
    fig.tight_layout()
    fig.savefig(out / "eval_fig5b.png", dpi=120)
    plt.close(fig)
    if img_dir:
        Path(img_dir).mkdir(parents=True, exist_ok=True)
        for name in ("eval_fig5a.png", "eval_fig5b.png"):
            shutil.copyfile(out / name, Path(img_dir) / name)


if __name__ == "__main__":
    torch.set_num_threads(int(__import__("os").environ.get("OMP_NUM_THREADS", "1")))
    raise SystemExit(main())
