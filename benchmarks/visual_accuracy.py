"""How well the visual latent carries the struck object's material (docs/results/model.md).

    .venv/bin/python benchmarks/visual_accuracy.py ENCODER --train-data PREP [--test-data PREP]
        [--physics-dir SYNTHHITS_ROOT]

ENCODER: a visual stage run (`RUN/visual`, with visual.json) or a model directory (default: the
shipped model); --train-data defaults to data/prep_bank_s1_600 (docs/RESULTS.md, section 4).
Prints, on the test split of --test-data (default --train-data):
- the encoder's material classification accuracy (chance 0.10),
- the material accuracy of retrieval: the nearest training clip by nu (exact L2, as the
  PhysicsBank) has the test clip's material -- what decides whose physics the model borrows,
- with --physics-dir (SynthHits ground truth): the distance between the contact point found
  from the frames (`visual_encoder.contact_point`) and the true striker position at contact.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from physfoley.config import config_from_dict
from physfoley.data.datasets import PreparedData
from physfoley.model_dir import load_model_dir
from physfoley.models.factory import build_visual_encoder, window_view
from physfoley.models.visual_encoder import contact_point, segment_indices


def load_encoder(path: Path):
    if (path / "visual.json").is_file():
        from safetensors.torch import load_file

        cfg = config_from_dict(json.loads((path / "visual.json").read_text())["model_config"])
        enc = build_visual_encoder(cfg)
        enc.load_state_dict(load_file(str(path / "visual_encoder.safetensors")))
        return enc.eval(), cfg
    model, cfg = load_model_dir(path)
    return model.visual.eval(), cfg


@torch.no_grad()
def features(enc, cfg, data, rows, batch=64):
    frames = data.arrays["frames"]
    idx = segment_indices(frames.shape[1], cfg.visual.num_segments)
    feats, logits = [], []
    for s in range(0, len(rows), batch):
        x = window_view(torch.from_numpy(frames[rows[s : s + batch]]), cfg.visual)[:, idx]
        lg, f = enc(x)
        feats.append(f.numpy())
        logits.append(lg.numpy())
    return np.concatenate(feats), np.concatenate(logits)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "encoder", type=Path, nargs="?", default=Path("src/physfoley/assets/models/small")
    )
    ap.add_argument("--train-data", default="data/prep_bank_s1_600", help="(default: %(default)s)")
    ap.add_argument("--test-data")
    ap.add_argument("--physics-dir", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    enc, cfg = load_encoder(args.encoder)
    train = PreparedData.open(args.train_data)
    test = PreparedData.open(args.test_data or args.train_data)
    tr, te = train.indices("train"), test.indices("test")
    y_tr = np.array([train.index[r]["material_id"] for r in tr])
    y_te = np.array([test.index[r]["material_id"] for r in te])
    f_tr, l_tr = features(enc, cfg, train, tr)
    f_te, l_te = features(enc, cfg, test, te)
    if cfg.visual.feature == "logits":  # nu is what the PhysicsBank searches
        f_tr, f_te = l_tr, l_te
    print(f"encoder {args.encoder} (crop={cfg.visual.crop}); train {len(tr)} clips, test {len(te)}")
    print(f"material classification accuracy (test): {(l_te.argmax(1) == y_te).mean():.3f}")
    d = ((f_te[:, None] - f_tr[None]) ** 2).sum(-1)
    print(
        f"retrieval material accuracy (1-NN by nu, test): {(y_tr[d.argmin(1)] == y_te).mean():.3f}"
    )
    if args.physics_dir:
        size = test.arrays["frames"].shape[2]
        errs, cache = [], {}
        frames = test.arrays["frames"]
        found = contact_point(torch.from_numpy(frames[te])).numpy()
        for k, r in enumerate(te):
            rec = test.index[r]
            name = rec["video"]
            if name not in cache:
                cache[name] = json.loads((args.physics_dir / f"{name}_physics.json").read_text())
            doc = cache[name]
            hit = min(doc["hits"], key=lambda h: abs(h["time_s"] - float(rec["time_s"])))
            scale = size / float(doc["image_size"])
            gx, gy = hit["striker_px"]["x"] * scale, hit["striker_px"]["y"] * scale
            errs.append(np.hypot(found[k, 0] - gx, found[k, 1] - gy))
        errs = np.asarray(errs)
        print(
            f"contact point vs true striker position ({size} px frames): median {np.median(errs):.1f} px, "
            f"within 12 px {np.mean(errs < 12):.3f}, within 20 px {np.mean(errs < 20):.3f}"
        )


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
