"""Score generated impact sounds against their ground-truth clips, and generate them for a test split.

`score_generated` is the clip-level evaluation of Su et al. 4.4 for one set of generated
spectrograms (one per test clip): FID and KID between the classifier embeddings of generated
and real test clips, KL between each generated clip's posterior and its ground truth's,
recognition accuracy of the generated clips (and of the real ones, the ceiling), spectrogram
MSE. `generate_clip_spectrograms` runs a trained `ImpactPipeline` on prepared 22-frame windows
exactly as `synthesize` does for a video (visual latent -> nearest training physics -> diffusion),
so a test clip is generated from its frames alone; `generate_runs` does it once per seed, and
`score_runs` scores every run against the same real clips, with the 95 % interval of the
recognition ratio over videos (clips of one video are not independent); `evaluation_report`
does that for rows of a prepared dataset and returns the report of `physfoley eval`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from physfoley.audio.params import PHYSICS_KEYS
from physfoley.config import AudioConfig
from physfoley.errors import InputError
from physfoley.evaluation import metrics
from physfoley.evaluation.classifier import EvalClassifier, waves_to_spectrograms
from physfoley.evaluation.report import build_report
from physfoley.video.windows import resize_frames

#: Metric keys of one scored run, in the order the report lists them.
CLIP_METRICS = (
    "fid",
    "kid_mean",
    "kid_std",
    "kl",
    "recognition_acc",
    "spec_mse",
    "real_recognition_acc",
    "recognition_ratio",
)


def evenly_spaced(rows: np.ndarray, count: int) -> np.ndarray:
    """At most `count` evenly spaced entries of `rows` [N] (all of them when count >= N)."""
    rows = np.asarray(rows)
    return rows[np.linspace(0, rows.size - 1, min(count, rows.size)).astype(np.int64)]


def score_generated(
    classifier: EvalClassifier,
    real_specs: np.ndarray | torch.Tensor,
    labels: np.ndarray,
    generated_specs: np.ndarray | torch.Tensor,
    *,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
    real_outputs: dict[str, np.ndarray] | None = None,
    per_clip: dict[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """All clip-level metrics of one generated set.

    real_specs : [N, F, T] ground-truth normalised log-spectrograms of the test clips.
    labels : [N] material ids of those clips.
    generated_specs : [N, F, T], row i generated for test clip i.
    real_outputs : `classifier.features(real_specs)` when already computed (several runs).
    per_clip : if a dict is given, it receives "generated_correct" and "real_correct" ([N] bool,
        the classifier's arg-max equals the label), for confidence intervals.

    Returns the `CLIP_METRICS` dict (accuracies as fractions; recognition_ratio = generated
    accuracy / real accuracy, the ratio issue 5 asks to be >= 0.9).
    """
    real_specs = torch.as_tensor(real_specs, dtype=torch.float32)
    generated_specs = torch.as_tensor(generated_specs, dtype=torch.float32)
    labels = np.asarray(labels)
    if generated_specs.shape != real_specs.shape or labels.shape != (real_specs.shape[0],):
        raise InputError(
            f"generated {tuple(generated_specs.shape)}, real {tuple(real_specs.shape)} and "
            f"labels {labels.shape} must describe the same N clips"
        )
    real = real_outputs if real_outputs is not None else classifier.features(real_specs)
    gen = classifier.features(generated_specs)
    kid_mean, kid_std = metrics.kernel_inception_distance(
        real["embedding"],
        gen["embedding"],
        subsets=kid_subsets,
        subset_size=kid_subset_size,
        seed=seed,
    )
    real_acc = metrics.recognition_accuracy(real["probs"], labels)
    gen_acc = metrics.recognition_accuracy(gen["probs"], labels)
    if per_clip is not None:
        per_clip["generated_correct"] = np.asarray(gen["probs"]).argmax(axis=1) == labels
        per_clip["real_correct"] = np.asarray(real["probs"]).argmax(axis=1) == labels
    return {
        "fid": metrics.frechet_distance(real["embedding"], gen["embedding"]),
        "kid_mean": kid_mean,
        "kid_std": kid_std,
        "kl": metrics.kl_divergence(gen["probs"], real["probs"]),
        "recognition_acc": gen_acc,
        "spec_mse": metrics.spectrogram_mse(generated_specs, real_specs),
        "real_recognition_acc": real_acc,
        "recognition_ratio": gen_acc / real_acc if real_acc > 0 else float("nan"),
    }


def summarize_runs(runs: list[dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Mean, sample std (0 for one run) and the values of each metric over runs (seeds)."""
    if not runs:
        raise InputError("no runs to summarise")
    out: dict[str, dict[str, Any]] = {}
    for key in runs[0]:
        values = np.asarray([r[key] for r in runs], dtype=np.float64)
        std = float(values.std(ddof=1)) if values.size > 1 else 0.0
        out[key] = {"mean": float(values.mean()), "std": std, "values": values.tolist()}
    return out


@torch.no_grad()
def generate_clip_spectrograms(
    pipeline: Any,
    windows: np.ndarray,
    rows: np.ndarray | None = None,
    *,
    sampler: str | None = None,
    steps: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, list[Any]]:
    """Generate one spectrogram per 22-frame window with a trained `ImpactPipeline`.

    windows : uint8 [M, 22, S, S, 3] RGB, e.g. a prepared folder's memory-mapped `frames`.
    rows : which windows to generate for, [N] (default: all); read batch by batch, so a
        large split never sits in memory at once.
    seed : batch b is sampled with seed `seed * 1_000_003 + b`, so runs are reproducible for a
        given batch size and different seeds give independent samples.

    Returns (Tensor[N, F, T] in [-1, 1], the retrieved neighbour clip ids [N]).
    """
    rows = np.arange(int(windows.shape[0])) if rows is None else np.asarray(rows, dtype=np.int64)
    n = int(rows.size)
    if n == 0:
        raise InputError("no clips to generate")
    specs: list[torch.Tensor] = []
    neighbours: list[Any] = []
    for b, start in enumerate(range(0, n, batch_size)):
        batch = np.asarray(windows[rows[start : start + batch_size]])
        if batch.shape[-2] != pipeline.image_size:
            batch = resize_frames(batch, pipeline.image_size)
        nu, key = pipeline.encode_windows_and_keys(batch)
        found = pipeline.bank.lookup(key.float().cpu().numpy(), k=1)
        physics = {k: v for k, v in found.values.items() if k in PHYSICS_KEYS}
        mu = pipeline.physics_latent(physics)
        spec, _, _ = pipeline.sample_spectrograms(
            mu, nu, sampler=sampler, steps=steps, seed=seed * 1_000_003 + b
        )
        specs.append(spec.float().cpu())
        neighbours.extend(found.clip_ids)
        if on_batch is not None:
            on_batch(len(batch))
    return torch.cat(specs), neighbours


def generate_runs(
    pipeline: Any,
    windows: np.ndarray,
    rows: np.ndarray,
    seeds: list[int],
    *,
    sampler: str | None = None,
    steps: int | None = None,
    batch_size: int = 64,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[torch.Tensor]:
    """One generated set per seed: `generate_clip_spectrograms` of `rows` [N] with each seed.

    on_batch(seed, clips) is called after each generated batch (for progress display).
    Returns K = len(seeds) tensors [N, F, T].
    """
    runs = []
    for seed in seeds:
        report = None if on_batch is None else (lambda n, seed=seed: on_batch(seed, n))
        specs, _ = generate_clip_spectrograms(
            pipeline,
            windows,
            rows,
            sampler=sampler,
            steps=steps,
            seed=seed,
            batch_size=batch_size,
            on_batch=report,
        )
        runs.append(specs)
    return runs


def score_runs(
    classifier: EvalClassifier,
    real_specs: torch.Tensor,
    labels: np.ndarray,
    videos: np.ndarray,
    runs: list[torch.Tensor],
    seeds: list[int],
    *,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[list[dict[str, float]], tuple[float, float]]:
    """`score_generated` of every run (KID subsets of run k drawn with seeds[k]) against the same
    real clips, and the 95 % interval of the recognition ratio over videos.

    real_specs : [N, F, T] the recorded clips; labels, videos : [N] their material ids and
    videos; runs : K generated sets [N, F, T]. The interval is a cluster bootstrap
    (`metrics.recognition_ratio_ci`, seeded by `seed`) of the per-clip correctness averaged
    over the K runs. Returns (K metric dicts, (low, high)).
    """
    real_out = classifier.features(real_specs, device=device)
    per_clip: list[dict[str, np.ndarray]] = [{} for _ in runs]
    scored = [
        score_generated(
            classifier,
            real_specs,
            labels,
            specs,
            kid_subsets=kid_subsets,
            kid_subset_size=kid_subset_size,
            seed=run_seed,
            real_outputs=real_out,
            per_clip=clip_out,
        )
        for run_seed, specs, clip_out in zip(seeds, runs, per_clip, strict=True)
    ]
    low, high = metrics.recognition_ratio_ci(
        np.stack([c["generated_correct"] for c in per_clip]),
        per_clip[0]["real_correct"],
        videos,
        seed=seed,
    )
    return scored, (low, high)


def evaluation_report(
    classifier: EvalClassifier,
    data: Any,
    rows: np.ndarray,
    runs: list[torch.Tensor],
    seeds: list[int],
    *,
    audio: AudioConfig,
    name: str,
    settings: dict[str, Any],
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[dict[str, Any], tuple[float, float]]:
    """The evaluation report of K generated sets for `rows` [N] of a `PreparedData`.

    Scores every run against the recorded clips of those rows (`score_runs`), adds the
    recognition ratio's 95 % interval over videos to `settings`, and builds the report
    (`report.build_report`: metrics as mean, std and values over the K seeds).
    Returns (report, (low, high) of the interval).
    """
    # Clips of one video share its object: the ratio's interval resamples whole videos.
    videos = data.column("video")[rows]
    scored, (low, high) = score_runs(
        classifier,
        waves_to_spectrograms(data.arrays["waves"][rows], audio),
        data.column("material_id")[rows],
        videos,
        runs,
        seeds,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
        seed=seed,
        device=device,
    )
    settings = {
        **settings,
        "recognition_ratio_ci95": [round(low, 4), round(high, 4)],
        "recognition_ratio_ci": (
            f"95 % cluster bootstrap over {np.unique(videos).size} videos (2000 resamples; "
            "per-clip correctness averaged over the seeds)"
        ),
    }
    report = build_report(
        summarize_runs(scored), name=name, n_clips=int(rows.size), seeds=seeds, settings=settings
    )
    return report, (low, high)
