"""Evaluation metrics of generated impact sounds (Su et al. 4.4, Greatest Hits onset protocol, PAVAS APCC).

Clip-level metrics take classifier outputs (`physfoley.evaluation.classifier`): embeddings for
FID and KID, posteriors for the KL divergence and the recognition accuracy, plus the
spectrogram MSE on the normalised log-spectrograms. Soundtrack-level metrics take whole
waveforms: onset accuracy and AP against annotated impact times (the evaluation CondFoleyGen
introduced and MMAudio reuses: librosa onsets, confidence from the normalised waveform, greedy
matching within a tolerance, sklearn average precision), and APCC (PAVAS): the correlation
between the audio onset strength at each impact and the kinetic energy lost there.

FID and KID come from torchmetrics with an identity "feature extractor" fed our embeddings, so
nothing is downloaded and torch-fidelity/Inception are never imported (torchmetrics only needs
them for its default Inception network).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import librosa
import numpy as np
import torch
from sklearn.metrics import average_precision_score
from torch import nn

from physfoley.errors import InputError

EPS = 1e-10


class _PrecomputedFeatures(nn.Module):
    """Identity feature extractor: torchmetrics' FID/KID receive embeddings we computed already."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _features(x: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    if t.ndim != 2 or t.shape[0] < 2:
        raise InputError(f"{name} must be [N >= 2, D] features, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise InputError(f"{name} holds NaN or infinite values")
    return t


def frechet_distance(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to `real: [N, D]` and `fake: [M, D]` embeddings.

    ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)), computed by torchmetrics'
    `FrechetInceptionDistance` in float64 (the classifier embedding stands in for Inception).
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    real_t, fake_t = _features(real, "real"), _features(fake, "fake")
    if real_t.shape[1] != fake_t.shape[1]:
        raise InputError(f"feature sizes differ: real {real_t.shape[1]}, fake {fake_t.shape[1]}")
    metric = FrechetInceptionDistance(feature=_PrecomputedFeatures(real_t.shape[1]))
    metric.update(real_t, real=True)
    metric.update(fake_t, real=False)
    # Round-off can leave -1e-12 for identical sets; a distance is never negative.
    return max(float(metric.compute()), 0.0)


def kernel_inception_distance(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID: unbiased polynomial-kernel MMD^2 over random subsets; returns (mean, std).

    `subset_size` is capped at half the smaller set (at least 2): with subsets as large as
    the set, every subset would hold the same clips and the std would be 0, not a measure of
    spread. torchmetrics draws the subsets with the
    global torch RNG, so the draw runs inside `torch.random.fork_rng` seeded with `seed`: the
    result is reproducible and the caller's RNG state is untouched.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    real_t, fake_t = _features(real, "real"), _features(fake, "fake")
    if real_t.shape[1] != fake_t.shape[1]:
        raise InputError(f"feature sizes differ: real {real_t.shape[1]}, fake {fake_t.shape[1]}")
    size = min(subset_size, max(2, min(real_t.shape[0], fake_t.shape[0]) // 2))
    with warnings.catch_warnings():  # "will save all extracted features": intended here
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(
            feature=_PrecomputedFeatures(real_t.shape[1]), subsets=subsets, subset_size=size
        )
    metric.update(real_t, real=True)
    metric.update(fake_t, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def _probs(p: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise InputError(f"{name} must be [N >= 1, C] posteriors, got shape {arr.shape}")
    if (arr < -1e-9).any() or not np.allclose(arr.sum(axis=1), 1.0, atol=1e-4):
        raise InputError(f"{name} rows must be probability distributions (softmax outputs)")
    return np.clip(arr, 0.0, 1.0)


def kl_divergence(p_generated: np.ndarray, p_ground_truth: np.ndarray) -> float:
    """Mean over clips of KL(p_gt || p_gen) between classifier posteriors (nats).

    `p_generated: [N, C]` is the posterior on each generated clip, `p_ground_truth: [N, C]` on
    its ground-truth clip (row i with row i; repeat gt rows for several samples per clip). The
    direction (ground truth as reference) follows the SpecVQGAN / Diff-Foley evaluation code;
    `EPS` keeps a zero generated probability finite.
    """
    gen, gt = _probs(p_generated, "p_generated"), _probs(p_ground_truth, "p_ground_truth")
    if gen.shape != gt.shape:
        raise InputError(f"posterior shapes differ: generated {gen.shape}, ground truth {gt.shape}")
    per_clip = (gt * (np.log(gt + EPS) - np.log(gen + EPS))).sum(axis=1)
    return float(per_clip.mean())


def recognition_accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of clips whose arg-max class equals `labels: [N]` (`probs: [N, C]`)."""
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    if probs.ndim != 2 or labels.shape != (probs.shape[0],) or probs.shape[0] == 0:
        raise InputError(f"need probs [N, C] and labels [N], got {probs.shape} and {labels.shape}")
    return float((probs.argmax(axis=1) == labels).mean())


def recognition_ratio_ci(
    generated_correct: np.ndarray,
    real_correct: np.ndarray,
    groups: np.ndarray,
    *,
    num_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Confidence interval of the recognition ratio (generated / real accuracy), resampling videos.

    generated_correct : [N] or [K, N] per-clip correctness of the generated clips (K runs are
        averaged per clip); real_correct : [N] of the real clips; groups : [N] the video of each
        clip. Clips of one video share an object and a material, so they are not independent:
        the bootstrap draws whole videos with replacement (a cluster bootstrap), which widens
        the interval honestly when a split has few videos. Returns (low, high) percentiles.
    Written here because scipy.stats.bootstrap resamples observations, not clusters; the
    resampling is one multinomial draw per resample and two matrix products, no Python loop.
    """
    gen = np.asarray(generated_correct, dtype=np.float64)
    gen = gen.mean(axis=0) if gen.ndim == 2 else gen
    real = np.asarray(real_correct, dtype=np.float64)
    groups = np.asarray(groups)
    if gen.shape != real.shape or groups.shape != real.shape or real.ndim != 1 or real.size == 0:
        raise InputError(
            f"need per-clip arrays of one length N; got generated {np.shape(generated_correct)}, "
            f"real {real.shape}, groups {groups.shape}"
        )
    if not 0.0 < level < 1.0:
        raise InputError(f"level must be in (0, 1), got {level}")
    _, inverse = np.unique(groups, return_inverse=True)
    num_groups = int(inverse.max()) + 1
    gen_sum = np.bincount(inverse, weights=gen, minlength=num_groups)
    real_sum = np.bincount(inverse, weights=real, minlength=num_groups)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(num_groups, np.full(num_groups, 1.0 / num_groups), size=num_resamples)
    real_b = counts @ real_sum
    ratios = np.divide(
        counts @ gen_sum, real_b, out=np.full(num_resamples, np.nan), where=real_b > 0
    )
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.nanpercentile(ratios, [tail, 100.0 - tail])
    return float(low), float(high)


def spectrogram_mse(
    generated: np.ndarray | torch.Tensor, ground_truth: np.ndarray | torch.Tensor
) -> float:
    """Mean squared error between `generated: [N, F, T]` and `ground_truth: [N, F, T]` spectrograms.

    On the normalised log-spectrograms in [-1, 1] the model generates (Table 3 of Su et al.).
    """
    gen = torch.as_tensor(np.asarray(generated, dtype=np.float64))
    gt = torch.as_tensor(np.asarray(ground_truth, dtype=np.float64))
    if gen.shape != gt.shape or gen.numel() == 0:
        raise InputError(
            f"spectrogram shapes differ or are empty: {tuple(gen.shape)} vs {tuple(gt.shape)}"
        )
    return float(((gen - gt) ** 2).mean())


# --------------------------------------------------------------------------- onsets (soundtracks)


@dataclass(frozen=True)
class OnsetScores:
    """Onset evaluation of one soundtrack against annotated impact times.

    accuracy : matched annotated impacts / annotated impacts.
    ap : average precision of the detections (confidence-ranked; a missed impact counts as a
        positive with confidence 0, as in the reference protocol).
    num_detected, num_annotated : counts after non-maximum suppression.
    """

    accuracy: float
    ap: float
    num_detected: int
    num_annotated: int


def detect_onsets(
    wave: np.ndarray,
    sample_rate: int,
    *,
    delta: float = 0.3,
    nms_window_s: float = 0.05,
    confidence_window_s: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Onsets of `wave: [N]` by librosa peak picking, then confidence-ranked suppression.

    Confidence of an onset = max of the min-max normalised waveform within
    +-`confidence_window_s`; onsets closer than `nms_window_s` to a more confident one are
    dropped (CondFoleyGen's `onset_nms`). Returns (times_s [D] sorted, confidence [D]).
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or wave.size == 0:
        raise InputError(f"expected a mono waveform [N], got shape {wave.shape}")
    onsets = librosa.onset.onset_detect(y=wave, sr=sample_rate, units="samples", delta=delta)
    if onsets.size == 0:
        return np.zeros(0), np.zeros(0)
    norm = (wave - wave.min()) / (wave.max() - wave.min() + 1e-6)
    half = int(confidence_window_s * sample_rate)
    # Running max over +-half samples at every onset (one sliding-window pass, not a loop).
    padded = np.pad(norm, half, constant_values=0.0)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    conf = windows[onsets].max(axis=1)
    # Greedy suppression by confidence; the onset count of a soundtrack is small.
    keep: list[int] = []
    for i in np.argsort(-conf, kind="stable"):
        if all(abs(int(onsets[i]) - int(onsets[j])) >= nms_window_s * sample_rate for j in keep):
            keep.append(int(i))
    keep_arr = np.asarray(sorted(keep, key=lambda k: onsets[k]), dtype=np.int64)
    return onsets[keep_arr] / sample_rate, conf[keep_arr]


def onset_scores(
    detected_s: np.ndarray,
    confidence: np.ndarray,
    annotated_s: np.ndarray,
    *,
    tolerance_s: float = 0.1,
) -> OnsetScores:
    """Match detections to annotated impact times and score them.

    Each annotated time (in order) takes the most confident unmatched detection within
    `tolerance_s`; matched detections are positives with their confidence, misses are positives
    with confidence 0, unmatched detections are negatives with their confidence. Accuracy =
    matched / annotated; AP = sklearn `average_precision_score` over those (CondFoleyGen /
    MMAudio protocol). With no annotated impacts, accuracy is 1 if nothing was detected else 0
    and AP is 1 or 0 likewise.
    """
    det = np.asarray(detected_s, dtype=np.float64).reshape(-1)
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    gt = np.sort(np.asarray(annotated_s, dtype=np.float64).reshape(-1))
    if det.shape != conf.shape:
        raise InputError("detected_s and confidence must have the same length")
    if gt.size == 0:
        score = 1.0 if det.size == 0 else 0.0
        return OnsetScores(score, score, int(det.size), 0)
    unmatched = np.ones(det.size, dtype=bool)
    y_true: list[int] = []
    y_score: list[float] = []
    hits = 0
    for t in gt:
        cand = np.flatnonzero(unmatched & (np.abs(det - t) < tolerance_s))
        y_true.append(1)
        if cand.size == 0:
            y_score.append(0.0)
            continue
        best = cand[np.argmax(conf[cand])]
        unmatched[best] = False
        hits += 1
        y_score.append(float(conf[best]))
    y_true.extend([0] * int(unmatched.sum()))
    y_score.extend(conf[unmatched].tolist())
    if all(y_true):
        ap = 1.0  # no false positive: precision is 1 at every threshold
    else:
        ap = float(average_precision_score(np.asarray(y_true), np.asarray(y_score)))
    return OnsetScores(hits / gt.size, ap, int(det.size), int(gt.size))


def soundtrack_onset_scores(
    wave: np.ndarray,
    sample_rate: int,
    annotated_s: np.ndarray,
    *,
    tolerance_s: float = 0.1,
    delta: float = 0.3,
) -> OnsetScores:
    """`detect_onsets` then `onset_scores` for one soundtrack `wave: [N]`."""
    det, conf = detect_onsets(wave, sample_rate, delta=delta)
    return onset_scores(det, conf, annotated_s, tolerance_s=tolerance_s)


def mean_onset_scores(scores: list[OnsetScores]) -> dict[str, float]:
    """Average accuracy and AP over soundtracks (each soundtrack weighs the same, as the reference)."""
    if not scores:
        raise InputError("no soundtracks to average onset scores over")
    return {
        "onset_acc": float(np.mean([s.accuracy for s in scores])),
        "onset_ap": float(np.mean([s.ap for s in scores])),
        "num_soundtracks": len(scores),
    }


# --------------------------------------------------------------------------- APCC (PAVAS)


def onset_strength_at(
    wave: np.ndarray, sample_rate: int, times_s: np.ndarray, *, window_s: float = 0.05
) -> np.ndarray:
    """Onset strength of the impact at each time in `times_s: [E]` -> [E].

    The onset-strength envelope (librosa: positive spectral flux of the dB mel spectrogram, the
    "standard onset detection function" PAVAS measures the acoustic impulse with), hop 128,
    summed over +-`window_s` around the time. The sum is the rise in level across the onset; the
    peak alone depends on where the onset falls within an analysis frame (measured: the peak
    was not even monotonic in burst amplitude, the sum is).
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or wave.size == 0:
        raise InputError(f"expected a mono waveform [N], got shape {wave.shape}")
    hop = 128
    env = librosa.onset.onset_strength(y=wave, sr=sample_rate, hop_length=hop)
    frame_t = librosa.frames_to_time(np.arange(env.size), sr=sample_rate, hop_length=hop)
    times = np.asarray(times_s, dtype=np.float64).reshape(-1, 1)
    inside = np.abs(frame_t[None, :] - times) <= window_s  # [E, frames]
    return (inside * env[None, :]).sum(axis=1)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt((xc**2).sum() * (yc**2).sum())
    return float((xc * yc).sum() / denom) if denom > 0 else float("nan")


def apcc(
    onset_strength: np.ndarray, energy_change: np.ndarray, groups: np.ndarray | None = None
) -> float:
    """Audio-Physics Correlation Coefficient: Pearson r of onset strength vs kinetic-energy change.

    `onset_strength: [E]`, `energy_change: [E]` (J lost at each impact). With `groups: [E]`
    (sound class per impact), r is computed within each class of >= 3 impacts and averaged, as
    PAVAS does per sound class. Constant inputs have no correlation: NaN for that class, and an
    `InputError` when no class has a defined correlation.
    """
    s = np.asarray(onset_strength, dtype=np.float64).reshape(-1)
    e = np.asarray(energy_change, dtype=np.float64).reshape(-1)
    if s.shape != e.shape or s.size < 3:
        raise InputError(f"need >= 3 paired impacts, got {s.size} strengths and {e.size} energies")
    g = np.zeros(s.size, dtype=np.int64) if groups is None else np.asarray(groups).reshape(-1)
    if g.shape != s.shape:
        raise InputError("groups must have one entry per impact")
    rs = [_pearson(s[g == k], e[g == k]) for k in np.unique(g) if (g == k).sum() >= 3]
    rs = [r for r in rs if np.isfinite(r)]
    if not rs:
        raise InputError("APCC undefined: every class has < 3 impacts or constant values")
    return float(np.mean(rs))


def apcc_delta(
    strength_ground_truth: np.ndarray,
    strength_generated: np.ndarray,
    energy_change: np.ndarray,
    groups: np.ndarray | None = None,
) -> float:
    """APCC-Delta = |APCC(ground-truth audio) - APCC(generated audio)| over the same impacts."""
    return abs(
        apcc(strength_ground_truth, energy_change, groups)
        - apcc(strength_generated, energy_change, groups)
    )
