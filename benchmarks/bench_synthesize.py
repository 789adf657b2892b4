"""Speed of `synthesize`: per-impact latency, batched throughput, and a 10 s / 10-impact video end to end.

Run: .venv/bin/python benchmarks/bench_synthesize.py [--model DIR] [--threads N]

Uses the shipped model (or --model DIR). If no trained model exists yet, it builds the default
`small` architecture with random weights and a random physics bank of the same size: the
timings are then representative of the architecture, the sound is not (it says so).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _random_model_dir(out: Path, bank_size: int = 2000) -> Path:
    """The default small architecture, untrained, with a random bank (for timing only)."""
    from physfoley.model_dir import save_model_dir
    from physfoley.models import factory
    from physfoley.retrieval import PhysicsBank

    torch.manual_seed(0)
    model = factory.build_model("small").eval()
    audio, video = model.cfg.audio, model.cfg.video
    rng = np.random.default_rng(0)
    size = video.image_size
    frames = rng.integers(0, 256, (2, video.frames_per_window, size, size, 3), dtype=np.uint8)
    with torch.no_grad():
        dim = model.visual_latent(torch.from_numpy(frames)).shape[-1]
    k, m = audio.num_freqs, audio.num_bands
    values = {
        "freq_hz": (np.arange(k) * audio.sample_rate / audio.n_fft)[None].repeat(bank_size, 0),
        "power_db": rng.uniform(-80, 0, (bank_size, k)),
        "decay_db_per_s": rng.uniform(10, 600, (bank_size, k)),
        "band_weight": rng.uniform(0, 1, (bank_size, m)),
        "band_decay_db_per_s": rng.uniform(10, 600, (bank_size, m)),
    }
    bank = PhysicsBank.build(
        rng.normal(size=(bank_size, dim)),
        {name: v.astype(np.float32) for name, v in values.items()},
        clip_ids=[f"random:{i}" for i in range(bank_size)],
        materials=["wood"] * bank_size,
    )
    return save_model_dir(out, model, before_commit=bank.save)


def _make_video(
    out_dir: Path, seconds: float = 10.0, impacts: int = 10
) -> tuple[Path, list[float]]:
    """A 10 s SynthHits video (generated, 224x224, 29.97 fps); returns its path and hit times."""
    from physfoley.data.synthhits import generate_video

    generate_video(out_dir, "bench", seed=3, seconds=seconds)
    video = out_dir / "bench_denoised.mp4"
    times_txt = out_dir / "bench_times.txt"
    times = [float(line.split()[0]) for line in times_txt.read_text().splitlines() if line.strip()]
    if len(times) >= impacts:
        times = times[:impacts]
    else:  # the generator chose fewer hits: spread the rest evenly (the speed is what we measure)
        extra = np.linspace(0.3, seconds - 0.5, impacts - len(times)).tolist()
        times = sorted(times + extra)
    return video, times


def _median_time(fn, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def _stage_times(pipe, frames, times: list[float]) -> dict[str, float]:
    """Seconds spent in each stage of one batched synthesis of `times` (decoded frames given)."""
    from physfoley.audio.params import PHYSICS_KEYS
    from physfoley.pipeline import mix_without_clipping, place_on_timeline
    from physfoley.video.windows import onset_windows, resize_frames

    out: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        out[name] = now - clock
        clock = now

    _, idx, _ = onset_windows(frames.times_s, np.asarray(times))
    windows = resize_frames(frames.frames[idx], pipe.image_size)
    lap("windows")
    nu, key = pipe.encode_windows_and_keys(windows)
    lap("visual encoder")
    found = pipe.bank.lookup(key.numpy())
    lap("retrieval")
    mu = pipe.physics_latent({k: v for k, v in found.values.items() if k in PHYSICS_KEYS})
    lap("physics encoder")
    spec, _, _ = pipe.sample_spectrograms(mu, nu, seed=0)
    lap("diffusion sampling")
    clips = pipe.vocode(spec)
    lap("Griffin-Lim")
    starts = np.round(np.asarray(times) * pipe.sample_rate).astype(np.int64)
    mix_without_clipping(
        place_on_timeline(clips, starts, int(frames.duration_s * pipe.sample_rate))
    )
    lap("timeline + mix")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory (default: shipped, else random small)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from physfoley.pipeline import DEFAULT_MODEL_DIR, ImpactPipeline
    from physfoley.video.io import read_video

    tmp = Path(tempfile.mkdtemp(prefix="bench_synth_"))
    model_dir = Path(args.model) if args.model else DEFAULT_MODEL_DIR
    trained = True
    if not (model_dir / "config.json").is_file():
        model_dir, trained = _random_model_dir(tmp / "random_model"), False
    pipe = ImpactPipeline.from_pretrained(model_dir)
    d = pipe.config.diffusion
    print(
        f"model: {model_dir} ({'trained' if trained else 'UNTRAINED random weights'}), "
        f"default sampler {d.sampler} x {d.steps} steps, bank {len(pipe.bank)} keys, "
        f"torch threads {torch.get_num_threads()}"
    )
    video_path, times = _make_video(tmp)
    frames = read_video(video_path)
    print(
        f"video: SynthHits, {frames.duration_s:.2f} s, {frames.num_frames} frames, "
        f"{frames.width}x{frames.height}, {len(times)} impacts"
    )

    pipe.synthesize(frames, times=times[:1], seed=0)  # warm-up (imports, scheduler set-up)
    per_impact = _median_time(
        lambda: pipe.synthesize(frames, times=times[:1], seed=0), args.repeats
    )
    print(f"per-impact latency (batch 1, decoded frames in, soundtrack out): {per_impact:.3f} s")
    for batch in (1, 4, 10, 32):
        ts = list(np.resize(np.asarray(times), batch))
        took = _median_time(lambda ts=ts: pipe.synthesize(frames, times=ts, seed=0), args.repeats)
        print(
            f"batched: {batch:3d} impacts in {took:.3f} s -> {batch / took:5.1f} impacts/s "
            f"({took / batch:.3f} s per impact)"
        )
    stages = _stage_times(pipe, frames, times)
    print("stages, 10 impacts: " + ", ".join(f"{k} {v:.3f} s" for k, v in stages.items()))

    times_arg = ",".join(f"{t:.3f}" for t in times)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    exe = Path(sys.executable).with_name("physfoley")
    for label, extra in (("given --times", ["--times", times_arg]), ("detected impacts", [])):
        argv = [str(exe), "synthesize", str(video_path), "-o", str(tmp / "e2e.wav"),
                "--video-out", str(tmp / "e2e.mp4"), "--model", str(model_dir), "--seed", "0",
                "--force", "--json", *extra]  # fmt: skip
        runs = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            proc = subprocess.run(argv, env=env, capture_output=True, text=True)
            runs.append(time.perf_counter() - start)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
        found = len(json.loads(proc.stdout)["impacts"])
        print(
            f"end to end `physfoley synthesize` (new process: imports, model load, decode, "
            f"{'' if extra else 'detect, '}synthesize, write wav, mux mp4), 10 s video, {label} "
            f"({found} impacts): median {statistics.median(runs):.2f} s of {len(runs)} runs"
        )
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
