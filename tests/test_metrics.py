"""Evaluation metrics: each test states a case where a wrong implementation would give another number."""

from __future__ import annotations

import numpy as np
import pytest

from physfoley.errors import InputError
from physfoley.evaluation import metrics as M

SR = 22050


@pytest.fixture
def gauss():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 8))
    mix = rng.normal(size=(8, 8))
    return a @ mix  # correlated features


# ----------------------------------------------------------------------------- FID / KID


def test_fid_identical_sets_is_zero(gauss):
    assert M.frechet_distance(gauss, gauss) == pytest.approx(0.0, abs=1e-6)


def test_fid_of_shifted_set_is_squared_shift(gauss):
    shift = np.arange(8, dtype=np.float64) * 0.5
    expected = float((shift**2).sum())  # covariances are identical, only the means move
    assert M.frechet_distance(gauss, gauss + shift) == pytest.approx(expected, rel=1e-6)


def test_fid_of_scaled_set_is_trace_formula(gauss):
    # fake = 2 real: S_f = 4 S, Tr(S + 4S - 2 * 2S) = Tr(S), means 0 vs 2 mu.
    cov = np.cov(gauss, rowvar=False)
    mu = gauss.mean(axis=0)
    expected = float(np.trace(cov) + (mu**2).sum())
    assert M.frechet_distance(gauss, 2 * gauss) == pytest.approx(expected, rel=1e-5)


def test_fid_matches_scipy_sqrtm_on_unrelated_sets():
    from scipy import linalg

    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 5))
    b = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5)) + 1.0
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb).real)
    assert M.frechet_distance(a, b) == pytest.approx(float(ref), rel=1e-5)


def test_fid_rejects_bad_input(gauss):
    with pytest.raises(InputError):
        M.frechet_distance(gauss[:1], gauss)
    with pytest.raises(InputError):
        M.frechet_distance(gauss, gauss[:, :4])


def test_kid_identical_near_zero_shifted_positive(gauss):
    mean0, std0 = M.kernel_inception_distance(gauss, gauss, subsets=20, subset_size=100)
    mean1, std1 = M.kernel_inception_distance(gauss, gauss + 2.0, subsets=20, subset_size=100)
    assert abs(mean0) < 0.05 * mean1
    assert std0 >= 0 and std1 >= 0
    assert mean1 > 3 * std1  # clearly positive, beyond the subset spread


def test_kid_seeded_and_leaves_global_rng_alone(gauss):
    import torch

    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = M.kernel_inception_distance(gauss, gauss + 1.0, subsets=10, subset_size=50, seed=5)
    assert torch.equal(torch.rand(1), expected_next)
    b = M.kernel_inception_distance(gauss, gauss + 1.0, subsets=10, subset_size=50, seed=5)
    assert a == b


def test_kid_caps_subset_size_so_subsets_differ(gauss):
    mean, std = M.kernel_inception_distance(
        gauss[:20], gauss[20:40] + 1.0, subsets=5, subset_size=1000
    )
    assert np.isfinite(mean) and std > 0  # subsets of 10 out of 20: a real spread


# ----------------------------------------------------------------------------- KL, accuracy, MSE


def test_kl_identical_posteriors_is_zero_and_known_value():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    assert M.kl_divergence(p, p) == pytest.approx(0.0, abs=1e-9)
    q = np.array([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]])
    expected = np.mean([(p[i] * np.log(p[i] / q[i])).sum() for i in range(2)])
    # KL(gt || gen): ground truth p is the reference.
    assert M.kl_divergence(q, p) == pytest.approx(expected, rel=1e-6)
    assert M.kl_divergence(q, p) != pytest.approx(M.kl_divergence(p, q), rel=1e-3)


def test_kl_rejects_non_distributions():
    with pytest.raises(InputError):
        M.kl_divergence(np.array([[2.0, -1.0]]), np.array([[0.5, 0.5]]))
    with pytest.raises(InputError):
        M.kl_divergence(np.ones((2, 3)) / 3, np.ones((3, 3)) / 3)


def test_recognition_accuracy():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert M.recognition_accuracy(probs, np.array([0, 1, 1, 1])) == pytest.approx(0.75)
    assert M.recognition_accuracy(probs, np.array([1, 0, 1, 0])) == pytest.approx(0.0)


def test_spectrogram_mse():
    a = np.zeros((2, 3, 4))
    b = np.full((2, 3, 4), 0.5)
    assert M.spectrogram_mse(a, a) == 0.0
    assert M.spectrogram_mse(a, b) == pytest.approx(0.25)
    with pytest.raises(InputError):
        M.spectrogram_mse(a, b[:, :2])


# ----------------------------------------------------------------------------- onsets


def _soundtrack(times_s, seconds=4.0, seed=0):
    """Decaying noise bursts at `times_s` on a quiet noise floor."""
    rng = np.random.default_rng(seed)
    wave = 1e-4 * rng.normal(size=int(seconds * SR))
    t = np.arange(int(0.2 * SR)) / SR
    for k, t0 in enumerate(times_s):
        burst = rng.normal(size=t.size) * np.exp(-t / 0.02) * (0.5 + 0.1 * k % 3)
        i = int(t0 * SR)
        wave[i : i + t.size] += burst[: wave.size - i]
    return wave.astype(np.float32)


TIMES = np.array([0.5, 1.1, 1.7, 2.4, 3.0, 3.5])


def test_detect_onsets_finds_the_bursts():
    det, conf = M.detect_onsets(_soundtrack(TIMES), SR)
    assert det.size == TIMES.size
    assert np.abs(det - TIMES).max() < 0.03
    assert (conf > 0).all()


def test_onset_exact_gives_acc_and_ap_one():
    s = M.soundtrack_onset_scores(_soundtrack(TIMES), SR, TIMES)
    assert s.accuracy == 1.0 and s.ap == 1.0 and s.num_annotated == TIMES.size


def test_onset_scores_drop_with_jitter():
    det = TIMES.copy()
    conf = np.linspace(0.5, 1.0, TIMES.size)
    exact = M.onset_scores(det, conf, TIMES)
    small = M.onset_scores(det + 0.05, conf, TIMES)  # inside the 0.1 s tolerance
    jitter = det + np.array([0.0, 0.15, 0.0, -0.2, 0.0, 0.3])  # three outside it
    large = M.onset_scores(jitter, conf, TIMES)
    assert exact.accuracy == small.accuracy == 1.0 and exact.ap == small.ap == 1.0
    assert large.accuracy == pytest.approx(0.5)
    assert large.ap < 0.9


def test_onset_ap_ranks_false_positives_by_confidence():
    # One spurious detection: AP is 1 when it is the least confident, lower when the most.
    det = np.array([0.5, 1.0, 2.0])
    gt = np.array([0.5, 1.0])
    low = M.onset_scores(det, np.array([0.9, 0.8, 0.1]), gt)
    high = M.onset_scores(det, np.array([0.5, 0.4, 0.9]), gt)
    assert low.ap == pytest.approx(1.0)
    assert high.ap < low.ap
    assert low.accuracy == high.accuracy == 1.0


def test_onset_silent_track_misses_everything():
    s = M.soundtrack_onset_scores(np.zeros(SR * 2, dtype=np.float32), SR, np.array([0.5, 1.0]))
    assert s.accuracy == 0.0 and s.num_detected == 0
    assert M.onset_scores(np.zeros(0), np.zeros(0), np.zeros(0)).accuracy == 1.0
    agg = M.mean_onset_scores([s, M.soundtrack_onset_scores(_soundtrack(TIMES), SR, TIMES)])
    assert agg["onset_acc"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- APCC


def test_onset_strength_grows_with_burst_level():
    rng = np.random.default_rng(3)
    t = np.arange(int(0.2 * SR)) / SR
    wave = 1e-4 * rng.normal(size=4 * SR)
    levels = [0.05, 0.2, 0.8]
    for t0, a in zip([0.5, 1.5, 2.5], levels, strict=True):
        i = int(t0 * SR)
        wave[i : i + t.size] += a * rng.normal(size=t.size) * np.exp(-t / 0.02)
    strength = M.onset_strength_at(wave.astype(np.float32), SR, np.array([0.5, 1.5, 2.5]))
    assert np.all(np.diff(strength) > 0)


def test_apcc_sign_flips_when_energy_reversed():
    energy = np.array([0.1, 0.3, 0.5, 0.9, 1.4, 2.0])
    strength = 2.0 * energy + np.array([0.05, -0.02, 0.03, 0.0, -0.04, 0.01])
    r = M.apcc(strength, energy)
    r_rev = M.apcc(strength, energy[::-1])
    assert r > 0.95
    assert r_rev < -0.8
    assert M.apcc_delta(strength, strength, energy) == pytest.approx(0.0)
    assert M.apcc_delta(strength, strength[::-1], energy) > 1.5


def test_apcc_per_class_average():
    energy = np.array([1, 2, 3, 4, 1, 2, 3, 4], dtype=float)
    strength = np.array([1, 2, 3, 4, 4, 3, 2, 1], dtype=float)  # class 0 r=+1, class 1 r=-1
    groups = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert M.apcc(strength, energy, groups) == pytest.approx(0.0, abs=1e-12)
    assert M.apcc(strength[:4], energy[:4]) == pytest.approx(1.0)
    with pytest.raises(InputError):
        M.apcc(np.ones(5), np.arange(5.0))


def test_onsets_on_real_greatest_hits_soundtracks(gh_demo_dir):
    """Real Greatest Hits demo soundtracks vs their annotated impact times (54 impacts)."""
    import json

    from physfoley.data.greatest_hits import read_mp4_audio

    times = json.loads((gh_demo_dir / "impact_times.json").read_text())
    exact, late = [], []
    for name, info in sorted(times.items()):
        wave = read_mp4_audio(gh_demo_dir / name, SR)
        annotated = np.asarray(info["impact_times_s"])
        exact.append(M.soundtrack_onset_scores(wave, SR, annotated))
        late.append(M.soundtrack_onset_scores(wave, SR, annotated + 0.25))
    good, bad = M.mean_onset_scores(exact), M.mean_onset_scores(late)
    assert good["num_soundtracks"] == 18
    assert good["onset_acc"] >= 0.95 and good["onset_ap"] >= 0.95
    assert bad["onset_acc"] <= 0.1 and bad["onset_ap"] < good["onset_ap"] - 0.3


def _clustered(num_videos: int, clips: int, p_gen: np.ndarray, p_real: float, seed: int):
    """Per-clip correctness where each video is all right or all wrong (clips share an object)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(num_videos), clips)
    real = np.repeat(rng.random(num_videos) < p_real, clips)
    gen = np.repeat(rng.random(num_videos) < p_gen, clips)
    return gen, real, groups


def test_recognition_ratio_ci_brackets_and_widens_with_fewer_videos():
    gen, real, groups = _clustered(200, 7, np.full(200, 0.4), 0.5, seed=1)
    low, high = M.recognition_ratio_ci(gen, real, groups)
    point = gen.mean() / real.mean()
    assert low < point < high
    # The same clips, treated as independent (one clip per "video"), give a narrower interval:
    # clustering is what the bootstrap accounts for.
    low_i, high_i = M.recognition_ratio_ci(gen, real, np.arange(gen.size))
    assert (high - low) > 1.8 * (high_i - low_i)
    # Fewer videos, wider interval.
    g30, r30, grp30 = _clustered(30, 7, np.full(30, 0.4), 0.5, seed=2)
    low30, high30 = M.recognition_ratio_ci(g30, r30, grp30)
    assert (high30 - low30) > 1.5 * (high - low)


def test_recognition_ratio_ci_degenerate_and_runs_averaged():
    real = np.array([1, 1, 0, 1, 0, 1], bool)
    groups = np.array([0, 0, 1, 1, 2, 2])
    assert M.recognition_ratio_ci(real, real, groups) == pytest.approx((1.0, 1.0))
    # K runs are averaged per clip: one all-right and one all-wrong run = half the real rate
    runs = np.stack([real, np.zeros_like(real)])
    assert M.recognition_ratio_ci(runs, real, groups) == pytest.approx((0.5, 0.5))
    with pytest.raises(InputError, match="one length N"):
        M.recognition_ratio_ci(real[:5], real, groups)
    with pytest.raises(InputError, match="level"):
        M.recognition_ratio_ci(real, real, groups, level=1.0)
