"""Residual noise bands (eq. 5-6): band splitting, differentiable synthesis, per-clip fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physfoley.audio.analysis import analyze
from physfoley.audio.losses import mrstft_loss, mrstft_per_clip
from physfoley.audio.residual import ResidualSynth, band_noise, mel_band_edges
from physfoley.audio.synthesis import resynthesize
from physfoley.config import get_preset


def test_mel_edges_and_bands_partition_the_noise():
    sr, n = 22050, 5512
    edges = mel_band_edges(sr, 40)
    assert edges.shape == (41,) and edges[0] == 0 and edges[-1] == pytest.approx(sr / 2)
    assert (
        np.all(np.diff(edges) > 0) and np.diff(edges)[0] < np.diff(edges)[-1]
    )  # mel: wider up high
    bands = band_noise(sr, n, edges, seed=3)
    width = np.diff(edges) / (sr / 2)
    noise = np.random.default_rng(3).standard_normal(n)
    np.testing.assert_allclose((bands * np.sqrt(width)[:, None]).sum(0), noise, atol=1e-4)
    # Each band holds only its own frequencies and has about unit RMS (the wide ones closely).
    spectra = np.abs(np.fft.rfft(bands, axis=-1))
    hz = np.fft.rfftfreq(n, 1 / sr)
    m = 30
    outside = (hz < edges[m] - 1) | (hz > edges[m + 1] + 1)
    assert spectra[m, outside].max() < 1e-3 * spectra[m].max()
    assert np.sqrt(np.mean(bands[-1] ** 2)) == pytest.approx(1.0, rel=0.1)


def test_synth_is_differentiable_and_decays_at_the_given_rate():
    synth = ResidualSynth("small", num_bands=20, seed=0)
    weight = torch.full((2, 20), 0.5, requires_grad=True)
    decay = torch.tensor([[0.0] * 20, [120.0] * 20], requires_grad=True)
    out = synth(weight, decay)
    assert out.shape == (2, 5512)
    out.square().sum().backward()
    assert weight.grad.abs().sum() > 0 and decay.grad.abs().sum() > 0
    with torch.no_grad():
        # 120 dB/s over the clip: the last 10 % is 120 * 0.225 = 27 dB below the first 10 %.
        seg = 551
        steady, falling = out[0], out[1]
        level = lambda x, a, b: 20 * torch.log10(x[a:b].square().mean().sqrt())  # noqa: E731
        drop_falling = level(falling, 0, seg) - level(falling, -seg, None)
        drop_steady = level(steady, 0, seg) - level(steady, -seg, None)
        assert float(drop_falling - drop_steady) == pytest.approx(
            120 * (5512 - seg) / 22050, abs=2.5
        )


def test_per_clip_mrstft_equals_auraloss():
    rng = torch.Generator().manual_seed(0)
    pred = torch.randn(3, 4000, generator=rng)
    target = torch.randn(3, 4000, generator=rng) * torch.linspace(1, 0.1, 4000)
    per_clip = mrstft_per_clip(pred, target)
    for i in range(3):
        assert float(per_clip[i]) == pytest.approx(
            float(mrstft_loss(pred[i : i + 1], target[i : i + 1])), rel=1e-4
        )


def noisy_impact(cfg, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(cfg.num_samples) / cfg.sample_rate
    modes = sum(
        np.sin(2 * np.pi * f * t) * 10 ** (-d * t / 20)
        for f, d in [(600, 80), (1700, 150), (4100, 300)]
    )
    burst = rng.standard_normal(t.size) * np.exp(-t / 0.01) * 0.8
    return (modes + burst).astype(np.float32)


def test_fitted_residual_reduces_mrstft_distance():
    cfg = get_preset("small")
    clips = np.stack([noisy_impact(cfg, s) for s in (0, 1)])
    target = torch.from_numpy(clips / np.abs(clips).max(axis=1, keepdims=True))
    modes_only = analyze(clips, cfg.sample_rate, preset="small")
    fitted = analyze(clips, cfg.sample_rate, preset="small", residual=True, residual_steps=30)
    assert fitted.band_weight.shape == (2, cfg.num_bands)
    assert np.all((fitted.band_weight >= 0) & (fitted.band_weight <= 1))
    before = mrstft_per_clip(torch.from_numpy(resynthesize(modes_only)), target)
    after = mrstft_per_clip(torch.from_numpy(resynthesize(fitted)), target)
    assert torch.all(after < before - 0.1), (before, after)
    # The modes are unchanged by the residual fit.
    np.testing.assert_array_equal(fitted.freq_hz, modes_only.freq_hz)


def test_band_limit_cuts_the_residual_too():
    cfg = get_preset("small")
    params = analyze(
        noisy_impact(cfg, 2), cfg.sample_rate, preset="small", residual=True, residual_steps=5
    )
    cut = params.band_limited(2000.0, 6000.0)
    assert cut.band_edges_hz.min() >= 2000 and cut.band_edges_hz.max() <= 6000
    wave = resynthesize(cut)
    spectrum = np.abs(np.fft.rfft(wave))
    hz = np.fft.rfftfreq(wave.size, 1 / cfg.sample_rate)
    assert spectrum[(hz < 1700) | (hz > 6300)].max() < 0.05 * spectrum.max()
    octave = params.scaled(freq_scale=2.0)
    np.testing.assert_allclose(octave.band_edges_hz[:10], params.band_edges_hz[:10] * 2, rtol=1e-6)
    assert octave.band_edges_hz.max() <= cfg.sample_rate / 2
