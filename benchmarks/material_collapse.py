"""Why guidance lowers IS and raises FD on SynthHits: does the soundtrack model render the
material of each hit, and does classifier-free guidance collapse the spread of materials?

For the first --max-videos test videos, the clip at each true hit (as `eval soundtrack` cuts it)
of the recorded soundtrack and of the model's soundtrack without guidance and with CFG is
given to the material evaluation classifier. Prints, per source: recognition (share of hits
whose predicted material is SynthHits' true one; chance 1 / number of materials), the entropy
of the mean posterior (the spread of materials, what IS rewards), the mean top probability,
and the count of each predicted material. Asserts nothing.

Run: python benchmarks/material_collapse.py --model runs/soundtrack/ldm/model \
        --data data/sh_test --classifier runs/eval_classifier_sh --max-videos 12
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from physfoley.evaluation.classifier import load_eval_classifier, waves_to_spectrograms
from physfoley.evaluation.soundtrack_eval import eval_videos, generate, impact_clips
from physfoley.families import load_pipeline, sampling_options


def report(name: str, clips: np.ndarray, labels: np.ndarray, clf) -> None:
    probs = clf.features(waves_to_spectrograms(clips, clf.audio))["probs"]
    pred = np.asarray(clf.materials)[probs.argmax(1)]
    marginal = probs.mean(0)
    entropy = float(-(marginal * np.log(marginal + 1e-12)).sum())
    counts = {str(m): int((pred == m).sum()) for m in np.unique(pred)}
    print(f"{name}: recognition {np.mean(pred == labels):.2f} (chance {1 / len(clf.materials):.2f}), "
          f"entropy of predicted materials {entropy:.2f} nats, mean top probability "
          f"{probs.max(1).mean():.2f}, predicted {counts}")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="diff-foley model dir")
    p.add_argument("--data", required=True, help="SynthHits test videos (with physics records)")
    p.add_argument("--classifier", required=True, help="material evaluation classifier")
    p.add_argument("--max-videos", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    clf = load_eval_classifier(args.classifier)
    pipe = load_pipeline(args.model)
    videos = list(eval_videos(args.data, max_videos=args.max_videos))
    labels = []
    for v in videos:  # the material of each hit, in the order of v.hits_s (sorted times)
        hits = json.loads(v.physics_path.read_text())["hits"]
        labels += [h["material"] for h in sorted(hits, key=lambda h: h["time_s"])]
    labels = np.asarray(labels)
    report("recorded", np.concatenate([impact_clips(v.real, v.hits_s, clf) for v in videos]),
           labels, clf)  # fmt: skip
    omega = float(pipe.sampling["cfg_scale"])
    for name, guidance in (("no guidance", 1.0), (f"CFG (omega {omega:g})", 1.0 + omega)):
        options = sampling_options(pipe, guidance=guidance, cg_scale=0.0)
        clips = [impact_clips(generate(pipe, v, args.seed, options), v.hits_s, clf) for v in videos]
        report(name, np.concatenate(clips), labels, clf)


if __name__ == "__main__":
    main()
