"""Evaluation reports: one JSON document and Markdown tables in the layout of Su et al.

Table 1: FID, KID (mean, std over subsets), KL divergence, recognition accuracy (%).
Table 3: KL divergence, spectrogram MSE. Each table says how many test clips (n) and which
seeds its numbers come from; with several seeds a cell is "mean ± std over seeds".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from physfoley import jsondoc
from physfoley.atomic import check_output_path, write_text_atomic
from physfoley.errors import InputError

FORMAT_NAME = "physfoley-eval-report"
FORMAT_VERSION = 1
REPORT_JSON = "report.json"
REPORT_MD = "report.md"


def build_report(
    summary: dict[str, dict[str, Any]],
    *,
    name: str,
    n_clips: int,
    seeds: list[int],
    settings: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON report of one model (or baseline).

    summary : `runner.summarize_runs` output (metric -> mean, std, values over seeds).
    name : row label in the tables (e.g. "Video + Physics Diffusion (ours)").
    settings : how the numbers were made (model, data, split, sampler, steps, classifier, ...).
    """
    if not summary:
        raise InputError("empty summary: nothing to report")
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "name": name,
        "n_clips": int(n_clips),
        "seeds": [int(s) for s in seeds],
        "settings": settings,
        "metrics": summary,
        **(extra or {}),
    }


def _cell(stats: dict[str, Any] | None, fmt: str, scale: float = 1.0) -> str:
    if stats is None:
        return "-"
    mean = stats["mean"] * scale
    if len(stats.get("values", [])) > 1:
        return f"{mean:{fmt}} ± {stats['std'] * scale:{fmt}}"
    return f"{mean:{fmt}}"


def _footer(reports: list[dict[str, Any]]) -> str:
    parts = []
    for r in reports:
        seeds = ", ".join(str(s) for s in r["seeds"])
        parts.append(f"{r['name']}: n = {r['n_clips']} test clips, seeds {seeds}")
    return "; ".join(parts)


def table1_markdown(reports: list[dict[str, Any]]) -> str:
    """Table 1 of Su et al.: | Model | FID | KID (mean, std) | KL Div. | Recog. Acc (%) |."""
    lines = [
        "| Model \\ Metric | FID ↓ | KID (mean, std) ↓ | KL Div. ↓ | Recog. Acc (%) ↑ |",
        "|---|---|---|---|---|",
    ]
    for r in reports:
        m = r["metrics"]
        kid = f"{_cell(m.get('kid_mean'), '.4f')}, {_cell(m.get('kid_std'), '.4f')}"
        lines.append(
            f"| {r['name']} | {_cell(m.get('fid'), '.2f')} | {kid} | "
            f"{_cell(m.get('kl'), '.3f')} | {_cell(m.get('recognition_acc'), '.2f', 100.0)} |"
        )
    return "\n".join(lines) + f"\n\n{_footer(reports)}.\n"


def table3_markdown(reports: list[dict[str, Any]]) -> str:
    """Table 3 of Su et al.: | Model | KL Div. | Spec. MSE |."""
    lines = ["| Model \\ Metric | KL Div. ↓ | Spec. MSE ↓ |", "|---|---|---|"]
    for r in reports:
        m = r["metrics"]
        lines.append(
            f"| {r['name']} | {_cell(m.get('kl'), '.3f')} | {_cell(m.get('spec_mse'), '.4f')} |"
        )
    return "\n".join(lines) + f"\n\n{_footer(reports)}.\n"


def report_markdown(report: dict[str, Any]) -> str:
    """A readable page for one report: settings, Table 1, Table 3, real-clip accuracy."""
    s = report["settings"]
    m = report["metrics"]
    lines = [f"# Evaluation: {report['name']}", ""]
    lines += [f"- {k}: `{v}`" for k, v in s.items()]
    lines += ["", "## Table 1 (Su et al. layout)", "", table1_markdown([report])]
    lines += ["## Table 3 (Su et al. layout)", "", table3_markdown([report])]
    if "real_recognition_acc" in m:
        lines += [
            "## Classifier on the real test clips",
            "",
            f"Recognition accuracy on the ground-truth clips: "
            f"{_cell(m['real_recognition_acc'], '.2f', 100.0)} %; generated / real: "
            f"{_cell(m.get('recognition_ratio'), '.3f')}"
            + (
                f" (95 % interval over videos {s['recognition_ratio_ci95'][0]:.3f}"
                f" to {s['recognition_ratio_ci95'][1]:.3f})."
                if "recognition_ratio_ci95" in s
                else "."
            ),
            "",
        ]
    return "\n".join(lines)


def write_report(
    out_dir: str | os.PathLike, report: dict[str, Any], *, force: bool = False
) -> tuple[Path, Path]:
    """Write report.json and report.md into `out_dir` (created if missing), atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / REPORT_JSON, out_dir / REPORT_MD
    for p in (json_path, md_path):
        check_output_path(p, force=force)
    write_text_atomic(json_path, jsondoc.dumps(report, indent=2) + "\n", force=force)
    write_text_atomic(md_path, report_markdown(report), force=force)
    return json_path, md_path


def load_report(path: str | os.PathLike) -> dict[str, Any]:
    """Read a report.json (or the folder holding one); `InputError` when it is not one."""
    path = Path(path)
    if path.is_dir():
        path = path / REPORT_JSON
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{path} is not a readable evaluation report ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise InputError(f"{path} is not a physfoley evaluation report")
    return doc
