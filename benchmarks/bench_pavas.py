"""Speed of PAVAS (small preset): one training step of the denoiser at batch 32 (flow-matching
loss, backward, AdamW) and an 8 s soundtrack of a SynthHits video (estimator, 25 Euler steps
with guidance, VAE decode, vocoder), plus the size of the model directory (float16). Without
--model the networks are random (time and size do not depend on the weights). Prints; asserts
nothing. On a shared machine the wall time includes waiting for the cores.

Run: .venv/bin/python benchmarks/bench_pavas.py [--model DIR] [--threads 1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from physfoley.data.synthhits import generate_video, video_name
from physfoley.diffusion.flow import flow_matching_loss
from physfoley.models.soundtrack_factory import build_network, network_config
from physfoley.pavas_pipeline import PavasPipeline
from physfoley.soundtrack_config import get_soundtrack_preset
from physfoley.soundtrack_dir import write_model_dir

SOUND = get_soundtrack_preset("small")


def random_model(path: Path) -> Path:
    parts = {}
    for part in ("vae", "cavp"):
        cfg = network_config(part, "small")
        extra = {"scale_factor": 1.0} if part == "vae" else {}
        state = {k: v.half() for k, v in build_network(part, cfg, SOUND).state_dict().items()}
        parts[part] = (state, {**dataclasses.asdict(cfg), **extra})
    cavp = network_config("cavp", "small")
    cfg = network_config("pavas", "small", {"feat_dim": cavp.video_channels[-1]}, context_dim=128)
    state = {k: v.half() for k, v in build_network("pavas", cfg, SOUND).state_dict().items()}
    parts["pavas"] = (state, dataclasses.asdict(cfg))
    sampling = {"sampler": "euler", "steps": 25, "cfg_scale": 2.0, "cg_scale": 0.0}
    return write_model_dir(path, soundtrack=SOUND, parts=parts, family="pavas",
                           extra={"sampling": sampling})  # fmt: skip


def train_steps(net, repeats: int) -> None:
    b, n = 32, SOUND.visual_frames
    cond = {"video": torch.randn(b, n, 128), "obj_feat": torch.randn(b, 1, n, net.cfg.feat_dim),
            "obj_present": torch.ones(b, 1, n, dtype=torch.bool),
            "obj_valid": torch.ones(b, 1, dtype=torch.bool), "mass": torch.rand(b, 1),
            "velocity": torch.randn(b, 1, n, 2)}  # fmt: skip
    opt = torch.optim.AdamW(net.parameters(), 1e-4)
    gen, z = torch.Generator().manual_seed(0), torch.randn(b, *SOUND.latent_shape)
    net.train()
    for _ in range(repeats + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = flow_matching_loss(net, z, cond, torch.zeros(b, dtype=torch.bool), gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"train step, batch 32: {wall:.2f} s wall, {cpu:.2f} s CPU")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else random_model(Path(tmp) / "pavas")
        size = sum(f.stat().st_size for f in model.iterdir()) / 1e6
        print(f"model directory: {size:.2f} MB")
        pipe = PavasPipeline.from_pretrained(model)
        train_steps(build_network("pavas", pipe.nets["pavas"].cfg, SOUND), args.repeats)
        generate_video(Path(tmp), video_name(0, 0), [0, 0], 8.0)
        video = next(Path(tmp).glob("*_denoised.mp4"))
        for _ in range(args.repeats):
            r = pipe.synthesize(video)
            steps = ", ".join(f"{k} {v:.2f}" for k, v in r.timings_s.items())
            print(f"8 s soundtrack ({r.settings['objects']} objects): {steps} s")


if __name__ == "__main__":
    main()
