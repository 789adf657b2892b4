"""Quality figures of a trained model on a prepared dataset's test split (docs/results/model.md).

Usage: .venv/bin/python benchmarks/model_report.py RUN PREPARED [--limit N] [--steps S]
RUN is the folder holding residual/, visual/ and diffusion/model (the `physfoley train --out`
folders). Prints:
- residual: MR-STFT distance (auraloss defaults, per clip) of modal-only vs modal + learned
  residual resynthesis against the test clips (lower is better);
- visual: material accuracy of the visual encoder on the test split;
- diffusion: L1 distance between generated and real normalised log-spectrograms of test clips,
  conditioned on (a) the clip's own physics and nu, (b) the physics retrieved from the bank by
  nu (the inference path), against (c) the L1 of the bank neighbour's own real spectrogram and
  (d) of the mean training spectrogram.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from physfoley.audio.losses import mrstft_per_clip
from physfoley.audio.params import PHYSICS_KEYS
from physfoley.audio.residual import ResidualSynth
from physfoley.audio.spectrogram import log_spectrogram, peak_normalize
from physfoley.audio.synthesis import modal_synthesis
from physfoley.data.datasets import PreparedData
from physfoley.diffusion.samplers import sample
from physfoley.model_dir import load_model_dir
from physfoley.retrieval import PhysicsBank
from physfoley.training.visual import evaluate_visual


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("prepared")
    ap.add_argument("--model", help="model directory (default: RUN/diffusion/model)")
    ap.add_argument("--limit", type=int, default=64)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--sampler", default="dpmsolver++")
    args = ap.parse_args()
    torch.set_num_threads(2)
    run, data = Path(args.run), PreparedData.open(args.prepared)
    model_dir = Path(args.model) if args.model else run / "diffusion" / "model"
    model, cfg = load_model_dir(model_dir)
    audio = cfg.audio
    test = data.indices("test")[: args.limit]
    arr = lambda k, rows: torch.from_numpy(np.array(data.arrays[k][rows], np.float32))  # noqa: E731
    wave = peak_normalize(arr("waves", test))
    modal = peak_normalize(
        modal_synthesis(
            arr("freq_hz", test),
            arr("power_db", test),
            arr("decay_db_per_s", test),
            audio.sample_rate,
            audio.num_samples,
        )
    )
    synth = ResidualSynth(audio, audio.num_bands)
    full = peak_normalize(modal + synth(arr("band_weight", test), arr("band_decay_db_per_s", test)))
    print(f"test clips used: {len(test)} of {len(data.indices('test'))}")
    with torch.no_grad():
        print(
            f"residual  MR-STFT modal only {mrstft_per_clip(modal, wave).mean():.3f}  modal+residual {mrstft_per_clip(full, wave).mean():.3f}"
        )
    acc = evaluate_visual(model.visual, data, data.indices("test"), cfg.visual.num_segments)
    print(
        f"visual    test material accuracy {acc:.3f} ({len(data.indices('test'))} clips, chance {1 / len(cfg.materials):.2f})"
    )
    real = log_spectrogram(arr("waves", test), audio)
    with torch.no_grad():
        frames = torch.from_numpy(np.ascontiguousarray(data.arrays["frames"][test]))
        nu, key = model.latent_and_key(frames)
        own_mu = model.physics_latent({k: arr(k, test) for k in PHYSICS_KEYS})
        bank = PhysicsBank.load(model_dir)
        found = bank.lookup(key.numpy(), k=1)
        ret_mu = model.physics_latent(
            {k: torch.from_numpy(np.asarray(found.values[k], np.float32)) for k in PHYSICS_KEYS}
        )

        def gen(mu):
            return sample(
                model,
                {"mu": mu, "nu": nu},
                sampler=args.sampler,
                steps=args.steps,
                generator=torch.Generator().manual_seed(0),
            )[:, 0]

        l1_own = (gen(own_mu) - real).abs().mean().item()
        l1_ret = (gen(ret_mu) - real).abs().mean().item()
    name_to_row = {f"{r['video']}@{float(r['time_s']):.3f}s": i for i, r in enumerate(data.index)}
    ids = np.asarray([name_to_row[c] for c in found.clip_ids])
    neighbour = log_spectrogram(arr("waves", ids), audio)
    train = data.indices("train")
    mean_spec = log_spectrogram(arr("waves", train), audio).mean(0, keepdim=True)
    same = np.mean(
        [data.index[i]["material"] == m for i, m in zip(test, found.materials, strict=True)]
    )
    print(
        f"diffusion {args.sampler} {args.steps} steps, L1 to the real log-spectrogram (range [-1, 1]):"
    )
    print(f"  own physics + nu      {l1_own:.4f}")
    print(
        f"  retrieved physics     {l1_ret:.4f}   (neighbour has the same material for {same:.2f} of clips)"
    )
    print(f"  neighbour's real spec {(neighbour - real).abs().mean():.4f}")
    print(f"  mean training spec    {(mean_spec - real).abs().mean():.4f}")
    print(json.dumps({"l1_own": l1_own, "l1_retrieved": l1_ret, "visual_acc": acc}))


if __name__ == "__main__":
    main()
