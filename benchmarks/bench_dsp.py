"""DSP core figures: analysis and resynthesis throughput, accuracy on synthetic modes, fast
Griffin-Lim against librosa, residual-fit time. Prints; asserts nothing.

Run: .venv/bin/python benchmarks/bench_dsp.py [--threads N] [--batch B]
"""

from __future__ import annotations

import argparse
import time

import librosa
import numpy as np
import torch

from physfoley.audio.analysis import analyze
from physfoley.audio.spectrogram import griffin_lim, magnitude, spectral_convergence
from physfoley.audio.synthesis import resynthesize
from physfoley.config import get_preset


def synthetic_clips(cfg, count, k=10, snr_db=30.0, seed=0):
    """`count` clips of K damped modes (one per well-separated STFT bin) + white noise."""
    rng = np.random.default_rng(seed)
    bin_hz = cfg.sample_rate / cfg.n_fft
    t = np.arange(cfg.num_samples) / cfg.sample_rate
    clips, truth = [], []
    for _ in range(count):
        while True:
            bins = np.sort(rng.choice(np.arange(5, int(cfg.num_freqs * 0.85)), k, replace=False))
            if np.min(np.diff(bins)) >= 4:
                break
        freq = (bins + rng.uniform(-0.45, 0.45, k)) * bin_hz
        power = rng.uniform(-30, 0, k)
        decay = rng.uniform(40, 400, k)
        phase = rng.uniform(0, 2 * np.pi, k)
        x = (
            10 ** ((power[:, None] - decay[:, None] * t) / 20)
            * np.sin(2 * np.pi * freq[:, None] * t + phase[:, None])
        ).sum(0)
        noise = rng.standard_normal(x.size)
        noise *= np.sqrt(np.mean(x**2) / np.mean(noise**2)) * 10 ** (-snr_db / 20)
        clips.append(x + noise)
        truth.append((bins, freq, decay))
    return np.stack(clips).astype(np.float32), truth


def timed(fn, repeats=3):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = get_preset("paper")
    print(f"torch threads: {args.threads}; preset paper (1025 modes, 11025 samples)")

    clips, truth = synthetic_clips(cfg, args.batch)
    for method in ("default", "reference"):
        seconds, params = timed(lambda m=method: analyze(clips, cfg.sample_rate, method=m))
        print(f"analysis {method:9s}: {args.batch / seconds:8.1f} clips/s (batch {args.batch})")
    seconds, _ = timed(lambda: resynthesize(params, residual=False))
    print(
        f"resynthesis        : {args.batch / seconds:8.1f} clips/s (batch {args.batch}, 1025 modes)"
    )

    print("\nsynthetic: 10 damped modes + white noise at 30 dB SNR, error at each true mode's bin")
    for method in ("default", "reference"):
        params = analyze(clips, cfg.sample_rate, method=method)
        freq_err, decay_err = [], []
        for i, (bins, freq, decay) in enumerate(truth):
            freq_err.append(np.abs(params.freq_hz[i, bins] - freq))
            decay_err.append(np.abs(params.decay_db_per_s[i, bins] - decay) / decay)
        freq_err, decay_err = np.concatenate(freq_err), np.concatenate(decay_err)
        print(
            f"  {method:9s}: median freq error {np.median(freq_err):6.3f} Hz "
            f"(p90 {np.percentile(freq_err, 90):6.2f}), median decay error "
            f"{100 * np.median(decay_err):5.1f} % (p90 {100 * np.percentile(decay_err, 90):5.1f} %)"
        )

    print("\nGriffin-Lim, 32 iterations, momentum 0.99, batch of 16 clips (paper STFT)")
    real = torch.from_numpy(resynthesize(analyze(clips[:16], cfg.sample_rate), residual=False))
    mag = magnitude(real, cfg)
    seconds, ours = timed(lambda: griffin_lim(mag, cfg, n_iter=32), repeats=2)
    sc_ours = float(spectral_convergence(mag, ours, cfg).mean())
    mag_np = mag.numpy()

    def librosa_gl():
        return librosa.griffinlim(
            mag_np,
            n_iter=32,
            hop_length=cfg.hop_length,
            n_fft=cfg.n_fft,
            length=cfg.num_samples,
            random_state=0,
        )

    seconds_lr, theirs = timed(librosa_gl, repeats=2)
    sc_lr = float(spectral_convergence(mag, torch.from_numpy(theirs).float(), cfg).mean())
    print(f"  physfoley griffin_lim: spectral convergence {sc_ours:.4f}, {seconds:.3f} s")
    print(f"  librosa.griffinlim   : spectral convergence {sc_lr:.4f}, {seconds_lr:.3f} s")

    print("\nresidual fit (100 bands, 60 Adam steps on auraloss MR-STFT)")
    for batch in (1, 8):
        start = time.perf_counter()
        analyze(clips[:batch], cfg.sample_rate, residual=True)
        print(f"  batch {batch}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
