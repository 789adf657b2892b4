"""Reference rows for Tables 1 and 3: what the evaluation scores for recorded sounds.

Each test clip gets the recording of a random training clip, either of any material ("chance")
or of the clip's own material ("oracle material, random instance"), three draws (seeds 0, 1, 2).
Both are scored as `physfoley eval --generated` does; the script prints the two tables. A trained
model should land between the rows; the gap says how much the visual/physics conditioning adds.

    .venv/bin/python benchmarks/eval_reference_rows.py --data data/prepared_small \
        --classifier runs/eval_classifier --out-dir runs/eval_reference

Paths are relative to the repository root (docs/RESULTS.md makes them); the defaults are the
folders of docs/results/evaluation.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from physfoley.config import AudioConfig
from physfoley.data.datasets import PreparedData
from physfoley.evaluation.classifier import load_eval_classifier
from physfoley.evaluation.generated import load_generated
from physfoley.evaluation.report import table1_markdown, table3_markdown, write_report
from physfoley.evaluation.runner import evaluation_report

ROWS = {"random": "Random training clip", "same_material": "Random training clip, same material"}


def make_npz(data: PreparedData, out_dir: Path, seeds: int = 3) -> dict[str, Path]:
    train, test = data.indices("train"), data.indices("test")
    material = data.column("material_id")
    waves = np.asarray(data.arrays["waves"])
    picks: dict[str, list[np.ndarray]] = {k: [] for k in ROWS}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        picks["random"].append(waves[rng.choice(train, size=test.size)])
        same = [rng.choice(train[material[train] == material[r]]) for r in test]
        picks["same_material"].append(waves[same])
    paths = {}
    for key, sets in picks.items():
        paths[key] = out_dir / f"{key}.npz"
        np.savez(paths[key], rows=test, waves=np.stack(sets))
    return paths


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/prepared_small", help="(default: %(default)s)")
    parser.add_argument(
        "--classifier", default="runs/eval_classifier", help="(default: %(default)s)"
    )
    parser.add_argument("--out-dir", default="runs/eval_reference", help="(default: %(default)s)")
    args = parser.parse_args()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reports = []
    data = PreparedData.open(args.data)
    classifier = load_eval_classifier(args.classifier)
    audio = AudioConfig.from_dict(data.meta["preset"])
    classifier.check_audio(audio)
    for key, npz in make_npz(data, out_dir).items():
        rows, runs = load_generated(npz, data.indices("test"), audio)
        settings = {"data": args.data, "split": "test", "classifier": args.classifier,
                    "generated": str(npz)}  # fmt: skip
        report, _ = evaluation_report(
            classifier, data, rows, runs, list(range(len(runs))), audio=audio, name=ROWS[key],
            settings=settings,
        )  # fmt: skip
        write_report(out_dir / f"report_{key}", report, force=True)
        reports.append(report)
    print(table1_markdown(reports))
    print(table3_markdown(reports))


if __name__ == "__main__":
    run()
