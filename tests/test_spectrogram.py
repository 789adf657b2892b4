"""Normalised log-spectrogram, its inverse, and batched fast Griffin-Lim."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from physfoley.audio.spectrogram import (
    griffin_lim,
    log_spectrogram,
    log_spectrogram_inverse,
    magnitude,
    spectral_convergence,
)
from physfoley.config import get_preset
from physfoley.errors import InputError


def impact(cfg, seed=0, batch=2):
    rng = np.random.default_rng(seed)
    t = np.arange(cfg.num_samples) / cfg.sample_rate
    freqs = rng.uniform(200, cfg.sample_rate / 3, (batch, 6))
    x = (
        np.sin(2 * np.pi * freqs[..., None] * t) * np.exp(-t * rng.uniform(5, 40, (batch, 6, 1)))
    ).sum(1)
    x += 0.05 * rng.standard_normal(x.shape) * np.exp(-t * 80)
    return torch.tensor(x, dtype=torch.float32)


@pytest.mark.parametrize("preset", ["paper", "small"])
def test_shapes_range_and_matches_librosa(preset):
    cfg = get_preset(preset)
    wave = impact(cfg)
    spec = log_spectrogram(wave, cfg)
    assert spec.shape == (2, *cfg.spec_shape)
    assert spec.min() >= -1 and spec.max() <= 1
    # Same STFT as librosa (Hann, centred, zero padding).
    peak = wave.abs().amax(1, keepdim=True)
    ref = np.abs(
        librosa.stft(
            (wave / peak).numpy(), n_fft=cfg.n_fft, hop_length=cfg.hop_length, pad_mode="constant"
        )
    )
    np.testing.assert_allclose(magnitude(wave / peak, cfg).numpy(), ref, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("preset", ["paper", "small"])
def test_inverse_roundtrip_and_peak_clip_fits_range(preset):
    cfg = get_preset(preset)
    wave = impact(cfg)
    spec = log_spectrogram(wave, cfg)
    mag = log_spectrogram_inverse(spec, cfg)
    peak = wave.abs().amax(1, keepdim=True)
    true = magnitude(wave / peak, cfg)
    np.testing.assert_allclose(mag.numpy(), true.numpy(), rtol=1e-3, atol=1e-6)
    # A peak-normalised clip's loudest bin stays below the preset's maximum (no clipping at +1).
    assert float(torch.log(true.max())) < cfg.log_mag_max


def test_griffin_lim_batched_and_as_good_as_librosa():
    cfg = get_preset("small")
    wave = impact(cfg, seed=5, batch=8)
    mag = magnitude(wave, cfg)
    ours = griffin_lim(mag, cfg, n_iter=32)
    assert ours.shape == (8, cfg.num_samples)
    # Random initial phases make single runs noisy: compare means over clips and two seeds.
    sc_ours = np.mean(
        [
            float(spectral_convergence(mag, griffin_lim(mag, cfg, n_iter=32, seed=s), cfg).mean())
            for s in (0, 1)
        ]
    )
    sc_librosa = np.mean(
        [
            float(
                spectral_convergence(
                    mag,
                    torch.tensor(
                        librosa.griffinlim(
                            mag.numpy(),
                            n_iter=32,
                            hop_length=cfg.hop_length,
                            n_fft=cfg.n_fft,
                            length=cfg.num_samples,
                            random_state=s,
                        )
                    ),
                    cfg,
                ).mean()
            )
            for s in (0, 1)
        ]
    )
    assert sc_ours <= sc_librosa * 1.1
    assert sc_ours < 0.2
    # More iterations help; plain Griffin-Lim (no momentum) is worse at equal iterations.
    longer = float(spectral_convergence(mag, griffin_lim(mag, cfg, n_iter=96), cfg).mean())
    plain = float(
        spectral_convergence(mag, griffin_lim(mag, cfg, n_iter=32, momentum=0.0), cfg).mean()
    )
    assert longer < float(spectral_convergence(mag, ours, cfg).mean())
    assert plain > float(spectral_convergence(mag, ours, cfg).mean())


def test_griffin_lim_rejects_wrong_shape():
    with pytest.raises(InputError, match="magnitude"):
        griffin_lim(torch.ones(1, 100, 44), "small")
