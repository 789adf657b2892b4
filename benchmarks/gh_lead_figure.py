"""Figure: where the Greatest Hits demo annotations sit against the contact seen in the frames.

    .venv/bin/python benchmarks/gh_lead_figure.py [../shared/data/greatest-hits-demo] \\
        --labels benchmarks/data/gh_visual_contacts.json --out docs/img/gh_annotation_lead.png

One row per chosen hit: the frames from one before the annotated frame (impact_times.json,
recovered from the soundtrack) to two after the contact labelled by eye (the consensus of two
independent annotators, benchmarks/data/gh_visual_contacts.json). The annotated frame is
framed red, the labelled contact green (orange where they coincide). Writes the PNG (atomically; --force to replace).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_detect import annotated_frames, consensus_contacts  # noqa: E402

from physfoley.atomic import atomic_path  # noqa: E402
from physfoley.video.io import read_video  # noqa: E402

# (clip number, which annotated hit): a clip where the striker is not yet in the picture at
# the annotated frame, and three where the stick is at the turn of its back-swing there
DEFAULT_ROWS = ("13:1", "17:1", "24:2", "25:1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "gh", type=Path, nargs="?", default=Path("../shared/data/greatest-hits-demo"),
        help="folder with impact_times.json and the clips (default: %(default)s)",
    )  # fmt: skip
    ap.add_argument("--labels", type=Path, default=Path("benchmarks/data/gh_visual_contacts.json"))
    ap.add_argument("--out", type=Path, default=Path("docs/img/gh_annotation_lead.png"))
    ap.add_argument("--rows", nargs="+", default=list(DEFAULT_ROWS), help="CLIP:HIT_INDEX ...")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta = json.loads((args.gh / "impact_times.json").read_text())
    labels = json.loads(args.labels.read_text())["clips"]
    rows = []
    for spec in args.rows:
        clip, k = spec.split(":")
        name = f"physics_driven_diffusion_model_sample_{clip}.mp4"
        video = read_video(args.gh / name)
        ann = int(annotated_frames(video, meta[name]["impact_times_s"])[int(k)])
        cons, _ = consensus_contacts(labels[name]["a"], labels[name]["b"])
        contact = min(cons, key=lambda c: abs(c - ann)) if cons else None
        last = max(ann, contact if contact is not None else ann) + 2
        rows.append((clip, video, ann, contact, list(range(ann - 1, last + 1))))
    ncol = max(len(r[4]) for r in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.6 * ncol, 1.75 * len(rows)), squeeze=False)
    for ax_row, (clip, video, ann, contact, frames) in zip(axes, rows, strict=True):
        for ax in ax_row:
            ax.axis("off")
        for ax, j in zip(ax_row, frames, strict=False):
            ax.imshow(video.frames[min(j, video.num_frames - 1)])
            both = j == ann and j == contact
            colour = "orange" if both else "red" if j == ann else "lime" if j == contact else None
            text = (
                " annotated = contact"
                if both
                else " annotated"
                if j == ann
                else " contact"
                if j == contact
                else ""
            )
            ax.set_title(
                f"{j}{text}", fontsize=8, color={"lime": "green", None: "black"}.get(colour, colour)
            )
            if colour:
                ax.axis("on")
                ax.set_xticks([])
                ax.set_yticks([])
                for sp in ax.spines.values():
                    sp.set_edgecolor(colour)
                    sp.set_linewidth(3)
        lead = (
            "no contact labelled" if contact is None else f"contact - annotated = {contact - ann}"
        )
        ax_row[0].text(
            -0.1,
            0.5,
            f"clip {clip}\n{lead}",
            transform=ax_row[0].transAxes,
            ha="right",
            va="center",
            fontsize=8,
        )
    fig.suptitle(
        "Greatest Hits demo clips: annotated hit (red, from the soundtrack) vs contact seen in "
        "the frames (green)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0.08, 0, 1, 0.95))
    with atomic_path(args.out, force=args.force) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
