"""`physfoley eval`: score a model on a prepared test split (Su et al. Tables 1 and 3).

physfoley eval --model DIR --data DIR [--out DIR] [--samples-per-clip K] ...
physfoley eval --generated FILE.npz --data DIR ...      (score clips made elsewhere)
physfoley eval train-classifier --data DIR [--out DIR]  (the evaluation classifier)
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

from physfoley.errors import InputError

DEFAULT_CLASSIFIER_SUBDIR = "eval_classifier"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate generated impact sounds (FID, KID, KL, recognition accuracy, spec MSE)",
        description=(
            "Generate a sound for every clip of a prepared split with a trained model (or read "
            "clips generated elsewhere with --generated) and score them against the recorded "
            "clips with the evaluation classifier: FID, KID (mean, std), KL divergence, "
            "recognition accuracy, spectrogram MSE. Writes report.json and report.md (tables in "
            "the layout of Su et al.) into --out. `physfoley eval train-classifier` trains the "
            "classifier first."
        ),
    )
    p.add_argument("--model", help="trained model directory (generates the clips)")
    p.add_argument(
        "--generated",
        help="score pre-generated clips instead: .npz with `rows` [N] (rows of --data) and "
        "`specs` [N,F,T] or [K,N,F,T] normalised log-spectrograms, or `waves` [N,S] / [K,N,S]",
    )
    p.add_argument("--data", help="prepared dataset folder (`physfoley data prepare`)")
    p.add_argument("--out", help="report folder (default: MODEL/eval-SPLIT or FILE-eval)")
    p.add_argument(
        "--classifier",
        help=f"evaluation classifier folder (default: DATA/{DEFAULT_CLASSIFIER_SUBDIR})",
    )
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument(
        "--samples-per-clip",
        type=int,
        default=1,
        help="K generated samples per clip, seeds S..S+K-1; metrics are given as mean ± std "
        "over the K runs (default: 1)",
    )
    p.add_argument("--steps", type=int, help="diffusion sampling steps (default: the sampler's)")
    p.add_argument(
        "--sampler", help="sampler name: ancestral, ddim, dpmsolver++ (default: the pipeline's)"
    )
    p.add_argument("--seed", type=int, default=0, help="first seed (default: 0)")
    p.add_argument("--max-clips", type=int, help="evaluate an evenly spaced subset of N clips")
    p.add_argument("--name", help="row label in the tables (default: the model folder's name)")
    p.add_argument("--batch-size", type=int, default=64, help="generation batch (default: 64)")
    p.add_argument("--kid-subsets", type=int, default=100, help="KID subsets (default: 100)")
    p.add_argument(
        "--kid-subset-size",
        type=int,
        default=1000,
        help="KID subset size, capped at n/2 (default 1000)",
    )
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument(
        "--save-generated",
        action="store_true",
        help="also write OUT/generated.npz (rows + float16 spectrograms [K,N,F,T]) so the same "
        "samples can be re-scored with `--generated` (another classifier, another split)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing report")
    p.set_defaults(func=run_eval, eval_parser=p, option_names=_option_names(p))

    sub = p.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")
    t = sub.add_parser(
        "train-classifier",
        help="train the evaluation classifier (material from spectrogram) on a prepared dataset",
        description=(
            "Train the material classifier whose features and posteriors `physfoley eval` uses, "
            "on the recorded clips of the training split (about 10 %% of its videos held out to "
            "pick the best epoch), and report its accuracy on the real clips of the test split."
        ),
    )
    t.add_argument("--data", required=True, help="prepared dataset folder")
    t.add_argument("--out", help=f"classifier folder (default: DATA/{DEFAULT_CLASSIFIER_SUBDIR})")
    t.add_argument("--epochs", type=int, help="training epochs (default 20)")
    t.add_argument("--batch-size", type=int, help="batch size (default 64)")
    t.add_argument("--lr", type=float, help="peak learning rate (default 2e-3)")
    t.add_argument("--widths", help="channels per ResNet stage, e.g. 16,32,64,128")
    t.add_argument("--blocks-per-stage", type=int, help="residual blocks per stage (default 1)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    t.add_argument("--max-train", type=int, help="use at most N training clips (quick runs)")
    t.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    t.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    t.add_argument("--force", action="store_true", help="overwrite an existing classifier")
    t.set_defaults(func=run_train_classifier, option_names=_option_names(t))

    o = sub.add_parser(
        "onsets",
        help="onset accuracy and AP of whole soundtracks against annotated impact times",
        description=(
            "Score every soundtrack in AUDIO_DIR (.wav, .flac, or the audio of .mp4) against "
            "NAME_times.txt in --times-dir (Greatest Hits layout; a `_denoised` suffix of the "
            "soundtrack's name is ignored): librosa onsets, confidence-ranked suppression, greedy "
            "matching within --tolerance-s, accuracy and average precision per soundtrack, "
            "averaged (the CondFoleyGen / MMAudio onset evaluation)."
        ),
    )
    o.add_argument("audio_dir", help="folder of generated soundtracks")
    o.add_argument("--times-dir", required=True, help="folder holding NAME_times.txt files")
    o.add_argument("--tolerance-s", type=float, default=0.1, help="match window (default 0.1 s)")
    o.add_argument("--delta", type=float, default=0.3, help="librosa peak threshold (0.3)")
    o.add_argument("--sample-rate", type=int, default=22050, help="analysis rate (22050 Hz)")
    o.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    o.set_defaults(func=run_onsets, option_names=_option_names(o))

    a = sub.add_parser(
        "apcc",
        help="APCC (PAVAS): onset strength vs kinetic-energy change at each impact",
        description=(
            "For every soundtrack NAME(.wav|_denoised.wav) in AUDIO_DIR, read the hits of "
            "NAME_physics.json in --physics-dir (SynthHits ground truth: time, material, kinetic "
            "energy lost), measure the onset strength at each hit, and correlate the two per "
            "material (Pearson, averaged over materials with >= 3 hits). The recorded "
            "soundtracks NAME_denoised.wav of --physics-dir give the reference APCC, and "
            "APCC-Delta = |reference - generated|."
        ),
    )
    a.add_argument("audio_dir", help="folder of generated soundtracks")
    a.add_argument("--physics-dir", required=True, help="SynthHits folder (NAME_physics.json)")
    a.add_argument("--sample-rate", type=int, default=22050, help="analysis rate (22050 Hz)")
    a.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    a.set_defaults(func=run_apcc, option_names=_option_names(a))

    b = sub.add_parser(
        "baseline",
        help="retrieval baselines of Table 3: write their outputs for `eval --generated`",
        description=(
            "For every clip of --split, retrieve a training clip and use its recorded sound: "
            "nn-visual by the nearest visual features of the model's encoder; nn-sound by the "
            "nearest sound features predicted from the per-frame visual features by an LSTM "
            "(Owens et al. 2016), trained here on the training split. Writes an .npz that "
            "`physfoley eval --generated FILE --data DIR` scores."
        ),
    )
    b.add_argument("kind", choices=("nn-visual", "nn-sound"), help="which baseline")
    b.add_argument("--model", required=True, help="model directory whose visual encoder is used")
    b.add_argument("--data", required=True, help="prepared dataset folder")
    b.add_argument("--out", required=True, help="output .npz")
    b.add_argument("--split", default="test", help="clips to produce sounds for (default: test)")
    b.add_argument("--epochs", type=int, default=30, help="nn-sound predictor epochs (30)")
    b.add_argument("--seed", type=int, default=0, help="nn-sound training seed (default: 0)")
    b.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    b.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    b.add_argument("--force", action="store_true", help="overwrite --out")
    b.set_defaults(func=run_baseline, option_names=_option_names(b))


def _option_names(parser: argparse.ArgumentParser) -> tuple[str, ...]:
    """Destinations of the --options of `parser` itself (what `_command_line` writes back)."""
    return tuple(
        a.dest for a in parser._actions if a.option_strings and a.dest not in ("help", "json")
    )


def _command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run, rebuilt from the parsed options (not sys.argv,
    which is someone else's when `cli.main(argv)` is called from Python)."""
    words = ["physfoley", "eval"]
    if getattr(args, "eval_command", None):
        words.append(args.eval_command)
    for positional in ("kind", "audio_dir"):
        if getattr(args, positional, None):
            words.append(getattr(args, positional))
    for key in args.option_names:
        value = getattr(args, key, None)
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        words += [flag] if value is True else [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)


def _emit(args: argparse.Namespace, doc: dict[str, Any], human: str) -> None:
    if args.json:
        print(json.dumps(doc))
    print(human, file=sys.stderr)


# --------------------------------------------------------------------------- train-classifier


def _split_by_video(
    videos: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, val) holding out ~`fraction` of the videos (never splitting one)."""
    names = np.unique(videos)
    if names.size < 5:
        return np.ones(videos.size, bool), np.zeros(videos.size, bool)
    rng = np.random.default_rng(seed)
    held = rng.choice(names, size=max(1, round(fraction * names.size)), replace=False)
    val = np.isin(videos, held)
    return ~val, val


def _reference_distances(model, train_specs, test_out, test_videos, args) -> dict:
    """FID/KID between sets of real recordings: the scale a generator's numbers compare with.

    "test_half_vs_half": two halves of the test split (split by video); "train_vs_test": up to
    2000 training clips against the test clips.
    """
    from physfoley.evaluation.classifier import classifier_outputs
    from physfoley.evaluation.metrics import frechet_distance, kernel_inception_distance

    out: dict[str, Any] = {}
    first, second = _split_by_video(test_videos, 0.5, args.seed)
    pairs = {"test_half_vs_half": (test_out["embedding"][first], test_out["embedding"][second])}
    pick = np.linspace(0, len(train_specs) - 1, min(2000, len(train_specs))).astype(np.int64)
    train_emb = classifier_outputs(model, train_specs[pick], device=args.device)["embedding"]
    pairs["train_vs_test"] = (train_emb, test_out["embedding"])
    for name, (a, b) in pairs.items():
        if len(a) < 2 or len(b) < 2:
            continue
        kid_mean, kid_std = kernel_inception_distance(a, b, subsets=100, seed=args.seed)
        out[name] = {
            "n": [len(a), len(b)],
            "fid": frechet_distance(a, b),
            "kid_mean": kid_mean,
            "kid_std": kid_std,
        }
    return out


def run_train_classifier(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from physfoley.config import AudioConfig
    from physfoley.data.datasets import PreparedData
    from physfoley.evaluation.classifier import (
        CONFIG_FILE,
        ClassifierConfig,
        EvalClassifier,
        classifier_outputs,
        save_eval_classifier,
        train_eval_classifier,
        waves_to_spectrograms,
    )

    data = PreparedData.open(args.data)
    out = Path(args.out) if args.out else data.root / DEFAULT_CLASSIFIER_SUBDIR
    if (out / CONFIG_FILE).exists() and not args.force:
        raise InputError(f"{out} already holds a classifier; pass --force to overwrite it")
    overrides: dict[str, Any] = {"seed": args.seed, "num_classes": len(data.materials)}
    for key in ("epochs", "batch_size", "lr", "blocks_per_stage"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.widths:
        try:
            overrides["widths"] = tuple(int(w) for w in args.widths.split(","))
        except ValueError:
            raise InputError(
                f"--widths must be comma-separated integers, got {args.widths!r}"
            ) from None
    cfg = ClassifierConfig.from_dict({**ClassifierConfig().to_dict(), **overrides})
    audio = AudioConfig.from_dict(data.meta["preset"])

    train_rows, test_rows = data.indices("train"), data.indices("test")
    if train_rows.size == 0 or test_rows.size == 0:
        raise InputError(f"{data.root} needs clips in both the train and test splits")
    if args.max_train is not None:
        if args.max_train < 2:
            raise InputError("--max-train must be at least 2")
        train_rows = train_rows[
            np.linspace(0, train_rows.size - 1, min(args.max_train, train_rows.size)).astype(
                np.int64
            )
        ]
    labels = data.column("material_id")
    videos = data.column("video")
    print(
        f"computing spectrograms of {train_rows.size} train and {test_rows.size} test clips",
        file=sys.stderr,
    )
    waves = data.arrays["waves"]
    train_rows, test_rows = np.sort(train_rows), np.sort(test_rows)
    train_specs = waves_to_spectrograms(waves[train_rows], audio)
    test_specs = waves_to_spectrograms(waves[test_rows], audio)
    fit_mask, val_mask = _split_by_video(videos[train_rows], 0.1, args.seed)
    y_train = torch.as_tensor(labels[train_rows], dtype=torch.long)
    y_test = labels[test_rows]

    bar = tqdm(total=cfg.epochs, desc="eval classifier", unit="epoch", file=sys.stderr)

    def on_epoch(epoch: int, rec: dict[str, float]) -> None:
        bar.update(1)
        bar.set_postfix({k: f"{v:.3f}" for k, v in rec.items() if k != "epoch"})

    model, history = train_eval_classifier(
        train_specs[torch.as_tensor(fit_mask)],
        y_train[torch.as_tensor(fit_mask)],
        cfg,
        val_specs=train_specs[torch.as_tensor(val_mask)] if val_mask.any() else None,
        val_labels=y_train[torch.as_tensor(val_mask)] if val_mask.any() else None,
        device=args.device,
        on_epoch=on_epoch,
    )
    bar.close()
    test_out = classifier_outputs(model, test_specs, device=args.device)
    pred = test_out["probs"].argmax(axis=1)
    test_acc = float((pred == y_test).mean())
    per_material = {
        name: float((pred[y_test == k] == k).mean())
        for k, name in enumerate(data.materials)
        if (y_test == k).any()
    }
    info = {
        "data": str(data.root),
        "command": _command_line(args),
        "reference_distances": _reference_distances(
            model, train_specs, test_out, videos[test_rows], args
        ),
        "train_clips": int(fit_mask.sum()),
        "val_clips": int(val_mask.sum()),
        "test_clips": int(test_rows.size),
        "test_accuracy": test_acc,
        "test_accuracy_per_material": per_material,
        "history": history,
    }
    clf = EvalClassifier(model, cfg, audio, list(data.materials), info)
    save_eval_classifier(out, clf, force=args.force)
    _emit(
        args,
        {"classifier": str(out), **info},
        f"saved the evaluation classifier to {out}; accuracy on the {test_rows.size} real test "
        f"clips: {100 * test_acc:.2f} %",
    )
    return 0


# --------------------------------------------------------------------------- eval


def _load_generated(path: Path, data, split_rows: np.ndarray, audio):
    """(rows [N], list of K spectrogram sets [N, F, T]) from a --generated .npz file."""
    import torch

    from physfoley.evaluation.classifier import waves_to_spectrograms

    if not path.is_file():
        raise InputError(f"--generated file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            files = dict(z.items())
    except (OSError, ValueError) as err:
        raise InputError(f"{path} is not a readable .npz file ({err})") from None
    if "rows" not in files or not ({"specs", "waves"} & set(files)):
        raise InputError(f"{path} needs arrays `rows` and `specs` (or `waves`)")
    rows = np.asarray(files["rows"], dtype=np.int64).reshape(-1)
    bad = np.setdiff1d(rows, split_rows)
    if bad.size:
        raise InputError(f"{path}: row {bad[0]} is not a clip of the evaluated split")
    if "specs" in files:
        specs = np.asarray(files["specs"], dtype=np.float32)
        if specs.ndim == 3:
            specs = specs[None]
        if specs.ndim != 4 or specs.shape[1] != rows.size or specs.shape[2:] != audio.spec_shape:
            raise InputError(
                f"{path}: specs must be [K, {rows.size}, {audio.spec_shape[0]}, "
                f"{audio.spec_shape[1]}], got {specs.shape}"
            )
        return rows, [torch.from_numpy(s) for s in specs]
    waves = np.asarray(files["waves"], dtype=np.float32)
    if waves.ndim == 2:
        waves = waves[None]
    if waves.ndim != 3 or waves.shape[1] != rows.size:
        raise InputError(f"{path}: waves must be [K, {rows.size}, S], got {waves.shape}")
    return rows, [waves_to_spectrograms(w, audio) for w in waves]


def run_eval(args: argparse.Namespace) -> int:
    if getattr(args, "eval_command", None) is None and not (args.model or args.generated):
        args.eval_parser.print_help(sys.stderr)
        return 2
    from tqdm import tqdm

    from physfoley.data.datasets import PreparedData
    from physfoley.evaluation.classifier import load_eval_classifier, waves_to_spectrograms
    from physfoley.evaluation.metrics import recognition_ratio_ci
    from physfoley.evaluation.report import REPORT_JSON, build_report, write_report
    from physfoley.evaluation.runner import (
        generate_clip_spectrograms,
        score_generated,
        summarize_runs,
    )

    if bool(args.model) == bool(args.generated):
        raise InputError("give exactly one of --model DIR or --generated FILE.npz")
    if not args.data:
        raise InputError("--data DIR (a prepared dataset) is required")
    if args.samples_per_clip < 1:
        raise InputError("--samples-per-clip must be at least 1")
    if args.steps is not None and args.steps < 1:
        raise InputError("--steps must be at least 1")
    if args.generated and (args.max_clips or args.steps or args.sampler):
        raise InputError("--max-clips, --steps and --sampler apply to --model, not --generated")
    if args.max_clips is not None and args.max_clips < 2:
        raise InputError("--max-clips must be at least 2 (FID needs two clips)")
    source = Path(args.model or args.generated)
    out = (
        Path(args.out)
        if args.out
        else (
            source / f"eval-{args.split}" if args.model else source.with_name(source.stem + "-eval")
        )
    )
    if (out / REPORT_JSON).exists() and not args.force:
        raise InputError(f"{out / REPORT_JSON} exists; pass --force to overwrite it")

    data = PreparedData.open(args.data)
    clf = load_eval_classifier(
        args.classifier or data.root / DEFAULT_CLASSIFIER_SUBDIR, device=args.device
    )
    from physfoley.config import AudioConfig

    audio = AudioConfig.from_dict(data.meta["preset"])
    if audio.spec_shape != clf.audio.spec_shape or audio.sample_rate != clf.audio.sample_rate:
        raise InputError(
            f"the classifier was trained on preset {clf.audio.name!r} spectrograms "
            f"{clf.audio.spec_shape}, the data is {audio.name!r} {audio.spec_shape}"
        )
    split_rows = data.indices(args.split)
    if split_rows.size < 2:
        raise InputError(f"split {args.split!r} of {data.root} has fewer than 2 clips")

    seeds = [args.seed + k for k in range(args.samples_per_clip)]
    settings: dict[str, Any] = {
        "data": str(data.root),
        "split": args.split,
        "classifier": str(args.classifier or data.root / DEFAULT_CLASSIFIER_SUBDIR),
        "classifier_test_accuracy": clf.info.get("test_accuracy"),
        "fid_kid": "torchmetrics FrechetInceptionDistance / KernelInceptionDistance on the "
        f"classifier's {clf.model.embedding_dim}-d embedding (no Inception)",
        "kid_subsets": args.kid_subsets,
        "command": _command_line(args),
    }
    if args.generated:
        rows, runs = _load_generated(Path(args.generated), data, split_rows, audio)
        settings["generated"] = str(args.generated)
        seeds = list(range(len(runs)))
    else:
        from physfoley.pipeline import ImpactPipeline

        rows = split_rows
        if args.max_clips is not None and args.max_clips < rows.size:
            rows = rows[np.linspace(0, rows.size - 1, args.max_clips).astype(np.int64)]
        pipe = ImpactPipeline.from_pretrained(args.model, device=args.device)
        runs = []
        for seed in seeds:
            bar = tqdm(total=rows.size, desc=f"generate seed {seed}", unit="clip", file=sys.stderr)
            specs, _ = generate_clip_spectrograms(
                pipe,
                data.arrays["frames"],
                rows,
                sampler=args.sampler,
                steps=args.steps,
                seed=seed,
                batch_size=args.batch_size,
                on_batch=bar.update,
            )
            bar.close()
            runs.append(specs)
        settings.update(
            model=str(args.model), sampler=args.sampler or "default", steps=args.steps or "default"
        )
    labels = data.column("material_id")[rows]
    real_specs = waves_to_spectrograms(data.arrays["waves"][rows], audio)
    real_out = clf.features(real_specs, device=args.device)
    per_clip = [{} for _ in runs]
    scored = [
        score_generated(
            clf,
            real_specs,
            labels,
            specs,
            kid_subsets=args.kid_subsets,
            kid_subset_size=args.kid_subset_size,
            seed=seed,
            real_outputs=real_out,
            per_clip=clip_out,
        )
        for seed, specs, clip_out in zip(seeds, runs, per_clip, strict=True)
    ]
    # Clips of one video share its object: the ratio's interval resamples whole videos.
    videos = data.column("video")[rows]
    low, high = recognition_ratio_ci(
        np.stack([c["generated_correct"] for c in per_clip]),
        per_clip[0]["real_correct"],
        videos,
        seed=args.seed,
    )
    settings["recognition_ratio_ci95"] = [round(low, 4), round(high, 4)]
    settings["recognition_ratio_ci"] = (
        f"95 % cluster bootstrap over {np.unique(videos).size} videos (2000 resamples; "
        "per-clip correctness averaged over the seeds)"
    )
    name = args.name or (source.stem if args.generated else source.name)
    report = build_report(
        summarize_runs(scored), name=name, n_clips=int(rows.size), seeds=seeds, settings=settings
    )
    write_report(out, report, force=args.force)
    if args.save_generated and args.model:
        from physfoley.atomic import atomic_path

        with atomic_path(out / "generated.npz", force=args.force) as tmp:
            with open(tmp, "wb") as fh:
                specs16 = np.stack([r.numpy() for r in runs]).astype(np.float16)
                np.savez(fh, rows=rows, specs=specs16, seeds=np.asarray(seeds))
    m = report["metrics"]
    _emit(
        args,
        report,
        f"wrote {out}/report.json and report.md: FID {m['fid']['mean']:.2f}, "
        f"KL {m['kl']['mean']:.3f}, recognition {100 * m['recognition_acc']['mean']:.1f} % "
        f"(real clips {100 * m['real_recognition_acc']['mean']:.1f} %; ratio "
        f"{m['recognition_ratio']['mean']:.3f}, 95 % interval over videos {low:.3f}-{high:.3f}), "
        f"n = {rows.size}",
    )
    return 0


# --------------------------------------------------------------------------- onsets


def read_times_file(path: Path) -> np.ndarray:
    """Impact times (s) from a Greatest Hits `NAME_times.txt` (first column of each line)."""
    times = []
    for i, line in enumerate(path.read_text().splitlines()):
        if not line.strip():
            continue
        try:
            times.append(float(line.split()[0]))
        except ValueError:
            raise InputError(f"{path} line {i + 1} does not start with a time: {line!r}") from None
    return np.asarray(times, dtype=np.float64)


def run_onsets(args: argparse.Namespace) -> int:
    from physfoley.audio.io import load_audio
    from physfoley.data.greatest_hits import read_mp4_audio
    from physfoley.evaluation.metrics import mean_onset_scores, soundtrack_onset_scores

    audio_dir, times_dir = Path(args.audio_dir), Path(args.times_dir)
    for d in (audio_dir, times_dir):
        if not d.is_dir():
            raise InputError(f"{d} is not a folder")
    files = sorted(f for f in audio_dir.iterdir() if f.suffix.lower() in (".wav", ".flac", ".mp4"))
    if not files:
        raise InputError(f"{audio_dir} holds no .wav, .flac or .mp4 soundtracks")
    per_track = {}
    scores = []
    for f in files:
        name = f.stem.removesuffix("_denoised")
        times_path = times_dir / f"{name}_times.txt"
        if not times_path.is_file():
            raise InputError(f"no annotation {times_path} for soundtrack {f.name}")
        if f.suffix.lower() == ".mp4":
            wave = read_mp4_audio(f, args.sample_rate)
        else:
            wave, _ = load_audio(f, sample_rate=args.sample_rate)
        s = soundtrack_onset_scores(
            wave,
            args.sample_rate,
            read_times_file(times_path),
            tolerance_s=args.tolerance_s,
            delta=args.delta,
        )
        scores.append(s)
        per_track[f.name] = {
            "accuracy": s.accuracy,
            "ap": s.ap,
            "detected": s.num_detected,
            "annotated": s.num_annotated,
        }
    summary = mean_onset_scores(scores)
    doc = {
        **summary,
        "tolerance_s": args.tolerance_s,
        "delta": args.delta,
        "soundtracks": per_track,
        "command": _command_line(args),
    }
    _emit(
        args,
        doc,
        f"{len(scores)} soundtracks: onset accuracy {100 * summary['onset_acc']:.2f} %, "
        f"onset AP {100 * summary['onset_ap']:.2f} %",
    )
    return 0


# --------------------------------------------------------------------------- baselines


def run_baseline(args: argparse.Namespace) -> int:
    from physfoley.atomic import atomic_path, check_output_path
    from physfoley.config import AudioConfig
    from physfoley.data.datasets import PreparedData
    from physfoley.evaluation import retrieval_baselines as rb
    from physfoley.evaluation.classifier import waves_to_spectrograms
    from physfoley.model_dir import load_model_dir

    out = check_output_path(args.out, force=args.force)
    if out.suffix != ".npz":
        raise InputError(f"--out must end in .npz, got {out.name}")
    data = PreparedData.open(args.data)
    audio = AudioConfig.from_dict(data.meta["preset"])
    model, _ = load_model_dir(args.model)
    train_rows, query_rows = data.indices("train"), data.indices(args.split)
    if train_rows.size == 0 or query_rows.size == 0:
        raise InputError(f"{data.root} needs clips in the train split and in {args.split!r}")
    frames = data.arrays["frames"]
    print(f"encoding {train_rows.size + query_rows.size} windows", file=sys.stderr)
    train_feats = rb.visual_frame_features(model, frames, train_rows, device=args.device)
    query_feats = rb.visual_frame_features(model, frames, query_rows, device=args.device)
    info: dict[str, Any] = {"kind": args.kind, "model": str(args.model)}
    if args.kind == "nn-visual":
        picked = rb.nearest_rows(train_feats.mean(axis=1), query_feats.mean(axis=1))
    else:
        train_specs = waves_to_spectrograms(data.arrays["waves"][train_rows], audio)
        targets = rb.sound_features(train_specs, audio)
        retrieval, losses = rb.train_predicted_sound_retrieval(
            train_feats, targets, epochs=args.epochs, seed=args.seed
        )
        picked = retrieval.rows(query_feats)
        info["train_loss"] = [losses[0], losses[-1]]
    neighbours = train_rows[picked]
    specs = waves_to_spectrograms(data.arrays["waves"][neighbours], audio).numpy()
    with atomic_path(out, force=args.force) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, rows=query_rows, specs=specs[None], neighbours=neighbours)
    labels = data.column("material_id")
    same = float((labels[neighbours] == labels[query_rows]).mean())
    doc = {**info, "out": str(out), "n_clips": int(query_rows.size), "same_material": same,
           "command": _command_line(args)}  # fmt: skip
    _emit(
        args,
        doc,
        f"wrote {out}: {args.kind} sounds for {query_rows.size} clips "
        f"({100 * same:.1f} % share the material of their clip); score it with "
        f"`physfoley eval --generated {out} --data {args.data}`",
    )
    return 0


# --------------------------------------------------------------------------- APCC


def _soundtracks(audio_dir: Path) -> list[Path]:
    if not audio_dir.is_dir():
        raise InputError(f"{audio_dir} is not a folder")
    files = sorted(f for f in audio_dir.iterdir() if f.suffix.lower() in (".wav", ".flac"))
    if not files:
        raise InputError(f"{audio_dir} holds no .wav or .flac soundtracks")
    return files


def run_apcc(args: argparse.Namespace) -> int:
    from physfoley.audio.io import load_audio
    from physfoley.evaluation.metrics import apcc, onset_strength_at

    physics_dir = Path(args.physics_dir)
    gen_s, ref_s, energy, groups = [], [], [], []
    for f in _soundtracks(Path(args.audio_dir)):
        name = f.stem.removesuffix("_denoised")
        phys_path = physics_dir / f"{name}_physics.json"
        ref_path = physics_dir / f"{name}_denoised.wav"
        if not phys_path.is_file() or not ref_path.is_file():
            raise InputError(
                f"{physics_dir} lacks {phys_path.name} or {ref_path.name} for {f.name}"
            )
        try:
            hits = [h for h in json.loads(phys_path.read_text())["hits"] if h["action"] == "hit"]
            times = np.asarray([h["time_s"] for h in hits], dtype=np.float64)
            energy += [float(h["kinetic_energy_change_j"]) for h in hits]
            groups += [str(h["material"]) for h in hits]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InputError(f"{phys_path} is not a SynthHits physics file ({err})") from None
        if times.size == 0:
            continue
        gen, _ = load_audio(f, sample_rate=args.sample_rate)
        ref, _ = load_audio(ref_path, sample_rate=args.sample_rate)
        gen_s.append(onset_strength_at(gen, args.sample_rate, times))
        ref_s.append(onset_strength_at(ref, args.sample_rate, times))
    if not gen_s:
        raise InputError("no hits to correlate")
    gen_all, ref_all = np.concatenate(gen_s), np.concatenate(ref_s)
    energy_arr, group_arr = np.asarray(energy), np.asarray(groups)
    a_gen = apcc(gen_all, energy_arr, group_arr)
    a_ref = apcc(ref_all, energy_arr, group_arr)
    doc = {
        "apcc_generated": a_gen,
        "apcc_reference": a_ref,
        "apcc_delta": abs(a_ref - a_gen),
        "num_hits": int(energy_arr.size),
        "num_soundtracks": len(gen_s),
        "command": _command_line(args),
    }
    _emit(
        args,
        doc,
        f"{energy_arr.size} hits in {len(gen_s)} soundtracks: APCC generated {a_gen:.3f}, "
        f"recorded {a_ref:.3f}, APCC-Delta {abs(a_ref - a_gen):.3f}",
    )
    return 0
