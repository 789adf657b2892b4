"""Is material learnable, and not trivially? Two simple classifiers on a prepared dataset.

Sound side: summaries of each clip's modal parameters (power-weighted frequency statistics,
energy and power-weighted decay in 16 log-spaced frequency bands, the strongest modes).
Picture side: frame statistics of the 22-frame window (colour histograms of the onset frame,
mean/std colour over the window and in the image centre, a coarse gradient-energy texture cue).
Both: logistic regression (standardised) and a random forest, trained on the prepared `train`
split and scored on `test` (split by video): accuracy and balanced (mean per-class) accuracy,
against the majority-class rate (balanced chance = 1 / number of materials).

Usage: .venv/bin/python benchmarks/material_baselines.py [PREPARED_DIR] [--json]
(default PREPARED_DIR: data/prepared_small_regen, made by the commands of docs/RESULTS.md)
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from physfoley.data.datasets import PreparedData

NUM_BANDS = 16


def sound_features(data: PreparedData, rows: np.ndarray) -> np.ndarray:
    """[n, D] modal-parameter summaries."""
    freq = np.asarray(data.arrays["freq_hz"][rows], dtype=np.float64)
    power_db = np.asarray(data.arrays["power_db"][rows], dtype=np.float64)
    decay = np.asarray(data.arrays["decay_db_per_s"][rows], dtype=np.float64)
    sr = float(data.meta.get("sample_rate", data.meta["preset"]["sample_rate"]))
    weight = 10.0 ** (power_db / 10.0)  # linear power
    weight = weight / weight.sum(axis=1, keepdims=True)
    logf = np.log(np.clip(freq, 20.0, None))
    mean_logf = (weight * logf).sum(1)
    std_logf = np.sqrt((weight * (logf - mean_logf[:, None]) ** 2).sum(1))
    mean_decay = (weight * np.log1p(np.abs(decay))).sum(1)
    edges = np.geomspace(40.0, sr / 2, NUM_BANDS + 1)
    band = np.clip(np.searchsorted(edges, freq) - 1, 0, NUM_BANDS - 1)
    onehot = band[..., None] == np.arange(NUM_BANDS)  # [n, K, bands]
    band_energy = np.einsum("nk,nkb->nb", weight, onehot)
    band_decay = np.einsum("nk,nkb->nb", weight * np.log1p(np.abs(decay)), onehot) / (
        band_energy + 1e-12
    )
    top = np.argsort(-power_db, axis=1)[:, :5]
    top_f = np.take_along_axis(logf, top, 1)
    top_d = np.take_along_axis(np.log1p(np.abs(decay)), top, 1)
    return np.column_stack(
        [
            mean_logf,
            std_logf,
            mean_decay,
            np.log(band_energy + 1e-9),
            band_decay,
            top_f,
            top_d,
            power_db.max(1),
        ]
    )


def picture_features(data: PreparedData, rows: np.ndarray, chunk: int = 256) -> np.ndarray:
    """[n, D] colour/texture statistics of the frame windows (read in chunks: memory-mapped)."""
    out = []
    frames_arr = data.arrays["frames"]
    for start in range(0, rows.shape[0], chunk):
        win = np.asarray(frames_arr[rows[start : start + chunk]], dtype=np.float32) / 255.0
        n, f, s = win.shape[0], win.shape[1], win.shape[2]
        onset = win[:, f // 2]  # [n, S, S, 3]
        hist = np.stack(
            [
                np.stack([np.histogram(img[..., c], bins=8, range=(0, 1))[0] for c in range(3)])
                for img in onset
            ]
        ).reshape(n, -1) / float(s * s)
        c0, c1 = s // 4, 3 * s // 4
        centre = win[:, :, c0:c1, c0:c1]
        grad = np.abs(np.diff(onset.mean(-1), axis=1)).mean((1, 2)) + np.abs(
            np.diff(onset.mean(-1), axis=2)
        ).mean((1, 2))
        out.append(
            np.column_stack(
                [
                    hist,
                    win.mean((1, 2, 3)),
                    win.std((1, 2, 3)),
                    centre.mean((1, 2, 3)),
                    centre.std((1, 2, 3)),
                    grad,
                ]
            )
        )
    return np.concatenate(out)


def evaluate(x_train, y_train, x_test, y_test, seed: int = 0) -> dict[str, float]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    models = {
        "logistic_regression": make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=2000, C=1.0)
        ),
        "random_forest": RandomForestClassifier(n_estimators=300, random_state=seed, n_jobs=1),
    }
    from sklearn.metrics import balanced_accuracy_score

    scores = {}
    for name, model in models.items():
        predicted = model.fit(x_train, y_train).predict(x_test)
        scores[name] = {
            "accuracy": float((predicted == y_test).mean()),
            "balanced_accuracy": float(balanced_accuracy_score(y_test, predicted)),
        }
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "prepared", nargs="?", default="data/prepared_small_regen",
        help="folder written by `physfoley data prepare` (default: %(default)s, docs/RESULTS.md)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    data = PreparedData.open(args.prepared)
    train, test = data.indices("train"), data.indices("test")
    labels = data.column("material_id")
    y_train, y_test = labels[train], labels[test]
    videos = data.column("video")
    majority = np.bincount(y_train, minlength=len(data.materials)).argmax()
    result = {
        "prepared": args.prepared,
        "clips_train": int(train.size),
        "clips_test": int(test.size),
        "videos_train": int(np.unique(videos[train]).size),
        "videos_test": int(np.unique(videos[test]).size),
        "materials_in_test": int(np.unique(y_test).size),
        "majority_class_accuracy": float((y_test == majority).mean()),
        "sound": evaluate(sound_features(data, train), y_train, sound_features(data, test), y_test),
        "picture": evaluate(
            picture_features(data, train), y_train, picture_features(data, test), y_test
        ),
    }
    result["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{args.prepared}: train {result['clips_train']} clips / {result['videos_train']} videos, "
        f"test {result['clips_test']} clips / {result['videos_test']} videos "
        f"({result['materials_in_test']} materials); majority class "
        f"{result['majority_class_accuracy']:.3f}"
    )
    for side in ("sound", "picture"):
        for model, acc in result[side].items():
            print(
                f"  {side:8s} {model:20s} test accuracy {acc['accuracy']:.3f} "
                f"(balanced {acc['balanced_accuracy']:.3f})"
            )
    print(f"  ({result['seconds']} s)")


if __name__ == "__main__":
    main()
