"""Preparation speed: clips per second of `prepare_dataset` on a Greatest Hits folder.

Usage:
    .venv/bin/python benchmarks/bench_prepare.py                 # makes its own layout
    .venv/bin/python benchmarks/bench_prepare.py --root DIR      # e.g. a SynthHits folder
Options: --videos N --seconds S --hits H (own layout), --workers W, --preset small|paper.

The own layout is real-sized: 224 x 224 H.264 at 29.97 fps with moving texture (so decoding
costs what it costs on real data), 44.1 kHz wav, H hits per video, all `hit static`.
Prints the stage times of one video and the end-to-end clips/s (cold, then a resumed run).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf

from physfoley.data.clips import PrepareOptions, cut_clips, modal_arrays
from physfoley.data.datasets import ImpactClipDataset
from physfoley.data.greatest_hits import discover_videos, read_audio
from physfoley.data.prepare import prepare_dataset
from physfoley.materials import MATERIALS


def make_layout(root: Path, videos: int, seconds: float, hits: int, seed: int = 0) -> None:
    import av

    rng = np.random.default_rng(seed)
    sr, fps = 44100, Fraction(30000, 1001)
    num_frames = int(seconds * float(fps))
    yy, xx = np.mgrid[0:224, 0:224]
    for v in range(videos):
        name = f"bench{v:03d}"
        times = np.sort(rng.uniform(0.2, seconds - 0.3, hits))
        mats = rng.choice(MATERIALS, hits)
        wave = 1e-3 * rng.standard_normal(int(seconds * sr)).astype(np.float32)
        t = np.arange(int(0.4 * sr)) / sr
        for time_s in times:
            f0 = rng.uniform(200, 5000)
            burst = sum(
                0.3 / (k + 1) * np.exp(-t * rng.uniform(10, 60)) * np.sin(2 * np.pi * f0 * r * t)
                for k, r in enumerate((1.0, 2.76, 5.4))
            )
            s = int(time_s * sr)
            seg = wave[s : s + burst.size]
            seg += burst[: seg.size].astype(np.float32)
        sf.write(str(root / f"{name}_denoised.wav"), wave, sr, subtype="PCM_16")
        (root / f"{name}_times.txt").write_text(
            "".join(f"{a:.6f} {m} hit static\n" for a, m in zip(times, mats, strict=True))
        )
        with av.open(str(root / f"{name}_denoised.mp4"), "w") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width = stream.height = 224
            stream.pix_fmt = "yuv420p"
            stream.options = {"preset": "veryfast", "crf": "23"}
            base = rng.integers(0, 255, 3)
            for k in range(num_frames):
                img = np.empty((224, 224, 3), np.uint8)
                for c in range(3):
                    img[..., c] = (base[c] + 60 * np.sin((xx + 3 * k) / (9 + c)) + yy // 4) % 256
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)


def stage_times(root: Path, options: PrepareOptions) -> dict[str, float]:
    from physfoley.data.greatest_hits import read_times
    from physfoley.video.io import read_video

    cfg = options.config
    entry = discover_videos(root)[0]
    out = {}
    t0 = time.perf_counter()
    times = np.array([a.time_s for a in read_times(entry.times_path)])
    wave, _ = read_audio(entry, cfg.sample_rate)
    out["audio read+resample"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    read_video(entry.video_path, size=options.video.image_size)
    out["video decode+resize"] = time.perf_counter() - t0
    waves, _ = cut_clips(wave, cfg.sample_rate, times, cfg.num_samples)
    t0 = time.perf_counter()
    modal_arrays(waves, cfg)
    out[f"modal analyze ({len(times)} clips)"] = time.perf_counter() - t0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="existing Greatest Hits folder (default: make one)")
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--hits", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--preset", default="small", choices=["small", "paper"])
    args = parser.parse_args()
    options = PrepareOptions(preset=args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        if args.root:
            root = Path(args.root)
        else:
            root = Path(tmp) / "gh"
            root.mkdir()
            t0 = time.perf_counter()
            make_layout(root, args.videos, args.seconds, args.hits)
            print(
                f"made {args.videos} videos x {args.hits} hits in {time.perf_counter() - t0:.1f} s"
            )
        for stage, seconds in stage_times(root, options).items():
            print(f"  one video: {stage:32s} {seconds * 1000:8.1f} ms")
        for workers, processes in ((1, False), (args.workers, False), (args.workers, True)):
            out = Path(tmp) / f"prepared_{workers}_{processes}"
            t0 = time.perf_counter()
            summary = prepare_dataset(root, out, options, workers=workers, processes=processes)
            cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            prepare_dataset(root, out, options, workers=workers, processes=processes)
            warm = time.perf_counter() - t0
            clips = summary["clips"]
            kind = "processes" if processes else "threads"
            print(
                f"preset {args.preset}, {workers} {kind}: {clips} clips from "
                f"{summary['videos_prepared']} videos in {cold:.2f} s = {clips / cold:.1f} "
                f"clips/s (end to end, with assembly); resumed run {warm:.2f} s"
            )
        t0 = time.perf_counter()
        dataset = ImpactClipDataset(out, split=None)
        opened = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(len(dataset)):
            dataset[i]
        read = time.perf_counter() - t0
        print(
            f"ImpactClipDataset: opened {len(dataset)} clips in {opened * 1000:.1f} ms, "
            f"read every item (all fields) at {len(dataset) / read:.0f} items/s"
        )


if __name__ == "__main__":
    main()
