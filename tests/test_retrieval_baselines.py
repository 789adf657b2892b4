"""Retrieval baselines of Su et al. Table 3 (NN by visual features; NN by predicted sound features)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physfoley.audio.spectrogram import log_spectrogram
from physfoley.config import get_preset
from physfoley.errors import InputError
from physfoley.evaluation import retrieval_baselines as RB


def test_nearest_rows_recovers_perturbed_keys():
    rng = np.random.default_rng(0)
    keys = rng.normal(size=(200, 16)).astype(np.float32)
    perm = rng.permutation(200)[:50]
    queries = keys[perm] + 1e-3 * rng.normal(size=(50, 16))
    assert np.array_equal(RB.nearest_rows(keys, queries), perm)
    assert np.array_equal(RB.nearest_rows(keys, queries, metric="l1"), perm)
    # L1 and L2 disagree on a crafted case: (3, 0) vs (2, 2) from the origin.
    two = np.array([[3.0, 0.0], [2.0, 2.0]])
    assert RB.nearest_rows(two, np.zeros((1, 2)))[0] == 1  # L2: 2.83 < 3
    assert RB.nearest_rows(two, np.zeros((1, 2)), metric="l1")[0] == 0  # L1: 3 < 4
    with pytest.raises(InputError):
        RB.nearest_rows(keys, queries[:, :4])
    with pytest.raises(InputError):
        RB.nearest_rows(keys, queries, metric="cosine")


def test_sound_features_follow_the_spectrum():
    cfg = get_preset("small")
    t = np.arange(cfg.num_samples) / cfg.sample_rate
    env = np.exp(-t / 0.05)
    low = np.sin(2 * np.pi * 200 * t) * env
    high = np.sin(2 * np.pi * 6000 * t) * env
    feats = RB.sound_features(log_spectrogram(np.stack([low, high]), cfg), cfg)
    assert feats.shape == (2, 42 * 11)
    bands = feats.reshape(2, 42, 11).sum(-1)
    assert bands[0, :10].sum() > bands[1, :10].sum()
    assert bands[1, -15:].sum() > bands[0, -15:].sum()
    # decaying sounds: early time bins carry more than late ones
    per_time = feats.reshape(2, 42, 11).sum(1)
    assert (per_time[:, 0] > per_time[:, -1]).all()


def _toy(n_per_class: int, seed: int):
    """Frame features and sound features that both depend on a hidden class (4 classes)."""
    rng = np.random.default_rng(seed)
    classes = np.repeat(np.arange(4), n_per_class)
    proto_v = np.random.default_rng(99).normal(size=(4, 1, 16))
    proto_s = np.random.default_rng(98).normal(size=(4, 30)) * 3
    frames = proto_v[classes] * np.linspace(0.5, 1.5, 8)[None, :, None]
    frames = frames + 0.3 * rng.normal(size=(classes.size, 8, 16))
    sounds = proto_s[classes] + 0.3 * rng.normal(size=(classes.size, 30))
    return frames.astype(np.float32), sounds.astype(np.float32), classes


def test_predicted_sound_retrieval_finds_the_right_kind_of_sound():
    torch.set_num_threads(1)
    frames, sounds, classes = _toy(40, seed=0)
    q_frames, _, q_classes = _toy(10, seed=1)
    retrieval, losses = RB.train_predicted_sound_retrieval(frames, sounds, hidden=32, epochs=25)
    assert losses[-1] < 0.5 * losses[0]
    hit = (classes[retrieval.rows(q_frames)] == q_classes).mean()
    assert hit >= 0.9
    # Control: train on frames paired with the sounds of random clips -> near chance (0.25).
    shuffled = np.random.default_rng(2).permutation(len(sounds))
    broken, _ = RB.train_predicted_sound_retrieval(frames, sounds[shuffled], hidden=32, epochs=25)
    assert (classes[shuffled][broken.rows(q_frames)] == q_classes).mean() < 0.6


def test_visual_nn_baseline_on_toy_data():
    frames, _, classes = _toy(40, seed=0)
    q_frames, _, q_classes = _toy(10, seed=1)
    rows = RB.nearest_rows(frames.mean(1), q_frames.mean(1))
    assert (classes[rows] == q_classes).mean() >= 0.9


def test_predictor_rejects_bad_shapes():
    with pytest.raises(InputError):
        RB.train_predicted_sound_retrieval(np.zeros((4, 16)), np.zeros((4, 3)))
    with pytest.raises(InputError):
        RB.SoundFeaturePredictor(16, 3)(torch.zeros(2, 16))
