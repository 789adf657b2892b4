"""Contact sheets that show SynthHits: frames at contact and spectrograms of hits, per material.

`contact_sheet(png)` generates one short single-object video per material and variant in a
temporary folder and writes two PNGs: `png` (frames at the first contact, materials in rows
of five, two variants each) and `<png stem>_spectrograms.png` (log spectrograms of the first
three hits of each material, 0.3 s each, side by side).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from physfoley.atomic import atomic_path, check_output_path
from physfoley.data.synthhits.generate import generate_video
from physfoley.data.synthhits.materials import MATERIALS
from physfoley.data.synthhits.spec import SAMPLE_RATE
from physfoley.video.io import read_video

CELL = 112


def _label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    cv2.rectangle(img, (0, 0), (CELL, 13), (0, 0, 0), -1)
    cv2.putText(img, text, (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def contact_sheet(
    path: str | os.PathLike,
    *,
    seed: int = 0,
    variants: int = 2,
    seconds: float = 3.0,
    force: bool = False,
) -> list[Path]:
    """Write the frames sheet at `path` and the spectrogram sheet beside it; return both paths."""
    import matplotlib

    matplotlib.use("Agg")
    import librosa
    import matplotlib.pyplot as plt
    import soundfile as sf

    frames_path = Path(path)
    spec_path = frames_path.with_name(frames_path.stem + "_spectrograms.png")
    for p in (frames_path, spec_path):
        check_output_path(p, force=force)
    cells: dict[str, list[np.ndarray]] = {}
    clips: dict[str, list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mi, mat in enumerate(MATERIALS):
            for k in range(variants):
                name = f"{mat}_{k}"
                rec = generate_video(
                    tmp, name, [seed, 1000 + mi, k], seconds, materials=[mat], mp4_audio=False
                )
                hits = [h for h in rec["hits"] if h["action"] == "hit"] or rec["hits"]
                video = read_video(Path(tmp) / f"{name}_denoised.mp4")
                frame = (
                    video.frames[min(hits[0]["contact_frame"], video.num_frames - 1)]
                    if hits
                    else video.frames[0]
                )
                small = cv2.resize(frame, (CELL, CELL), interpolation=cv2.INTER_AREA)
                cells.setdefault(mat, []).append(
                    _label(small, f"{mat} ({json.dumps(rec['objects'][0]['kind'])[1:-1]})")
                )
                if k == 0:
                    wave, _ = sf.read(Path(tmp) / f"{name}_denoised.wav", dtype="float32")
                    n = int(0.3 * SAMPLE_RATE)
                    pieces = []
                    for h in hits[:3]:
                        s = max(int(h["time_s"] * SAMPLE_RATE) - int(0.02 * SAMPLE_RATE), 0)
                        pieces.append(
                            np.pad(wave[s : s + n], (0, max(0, n - len(wave[s : s + n]))))
                        )
                    clips[mat] = pieces
    per_row = 5
    rows = []
    for r in range(0, len(MATERIALS), per_row):
        mats = MATERIALS[r : r + per_row]
        for k in range(variants):
            rows.append(np.concatenate([cells[m][k] for m in mats], axis=1))
    sheet = np.concatenate(rows, axis=0)
    with atomic_path(frames_path, force=force) as tmp_png:
        cv2.imwrite(
            str(tmp_png), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9]
        )
    fig, axes = plt.subplots(2, 5, figsize=(12, 4.6), dpi=60, sharey=True)
    for ax, mat in zip(axes.ravel(), MATERIALS, strict=True):
        wave = (
            np.concatenate(clips[mat])
            if clips[mat]
            else np.zeros(int(0.3 * SAMPLE_RATE), np.float32)
        )
        spec = librosa.amplitude_to_db(
            np.abs(librosa.stft(wave, n_fft=1024, hop_length=128)), ref=np.max, top_db=80
        )
        ax.imshow(
            spec,
            origin="lower",
            aspect="auto",
            cmap="magma",
            extent=[0, len(wave) / SAMPLE_RATE, 0, SAMPLE_RATE / 2000],
        )
        ax.set_title(mat, fontsize=10)
        ax.set_xlabel("s (up to 3 hits, 0.3 s each)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("kHz", fontsize=8)
    axes[1, 0].set_ylabel("kHz", fontsize=8)
    fig.tight_layout()
    with atomic_path(spec_path, force=force) as tmp_png:
        fig.savefig(tmp_png, format="png")
    plt.close(fig)
    return [frames_path, spec_path]
