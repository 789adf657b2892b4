"""Impact detection quality: precision / recall / F1 on real Greatest Hits clips and SynthHits.

    .venv/bin/python benchmarks/eval_detect.py --gh ../shared/data/greatest-hits-demo
    .venv/bin/python benchmarks/eval_detect.py --synth data/synthhits_v1 [--max-videos N]
    ... --method tip   (the striker-tip tracker instead of the default optical-flow detector)
    ... --gh ../shared/data/greatest-hits-demo --gh-visual benchmarks/data/gh_visual_contacts.json

Greatest Hits: truth = impact_times.json (annotated times recovered from the soundtrack; the
detector never reads audio), a detection matches within +-2 frames. SynthHits: truth = the
`contact_frame` of every hit in NAME_physics.json, +-1 frame; also the Pearson correlation of
the detected striker speed before contact with the true `speed_before_m_s` (matched hits).
Matching is one-to-one (Hungarian assignment on frame distance). SynthHits figures are given for
all contacts (hits and scratches) and for hits only (`hits_only`: the truth is the hits; a
detection matched to a scratch's touch-down is neither a hit found nor a false alarm).
`--gh-visual` also scores the Greatest Hits clips against strike contacts labelled by eye from
the frames (benchmarks/data/gh_visual_contacts.json; the consensus of annotators a and b, or
of `--gh-visual-annotators a,b,c`), and the annotations against those contacts (the
annotations lead the visible contact by 2-4 frames).
Prints figures; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from physfoley.video.events import detect_impacts  # noqa: E402
from physfoley.video.io import read_video  # noqa: E402
from physfoley.video.windows import frame_index_at  # noqa: E402


def match(pred: np.ndarray, truth: np.ndarray, tol: int) -> list[tuple[int, int]]:
    """One-to-one pairs (i_pred, i_truth) with |pred - truth| <= tol, maximising the count."""
    if len(pred) == 0 or len(truth) == 0:
        return []
    cost = np.abs(pred[:, None].astype(float) - truth[None, :].astype(float))
    big = 1e6
    c = np.where(cost <= tol, cost, big)
    r, k = linear_sum_assignment(c)
    return [(int(a), int(b)) for a, b in zip(r, k, strict=True) if c[a, b] < big]


def annotated_frames(video, times_s: list[float]) -> np.ndarray:
    """[N] int: the frame nearest to each annotated time (impact_times.json)."""
    return np.array([frame_index_at(video.times_s, t) for t in times_s], dtype=int)


def prf(tp: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def _best_shift_tp(pred: np.ndarray, truth: np.ndarray, tol: int, max_shift: int) -> int:
    """Most matches when all of a clip's detections are shifted by one integer lag."""
    return max(len(match(pred - s, truth, tol)) for s in range(-max_shift, max_shift + 1))


def eval_gh(root: Path, tol: int = 2, max_shift: int = 4, **kw) -> dict:
    meta = json.loads((root / "impact_times.json").read_text())
    tp = n_pred = n_true = 0
    offsets: list[int] = []
    clip_offsets: list[list[int]] = []  # per clip: nearest detection - annotation, within 5
    tp_shift = 0  # matches when each clip's detections may be shifted by one common lag
    tp_shift_chance: list[float] = []  # the same for random detections (what the shift buys)
    tp_chance: list[float] = []  # random detections, no shift
    shifts = np.arange(-max_shift, max_shift + 1)
    # one lag for ALL clips (an audio/video offset of the whole set), detector and random
    tp_global = np.zeros(len(shifts))
    tp_global_chance = np.zeros(len(shifts))
    rng = np.random.default_rng(0)
    frames = 0
    t0 = time.perf_counter()
    for name, info in sorted(meta.items()):
        video = read_video(root / name)
        frames += video.num_frames
        events = detect_impacts(video, **kw)
        pred = np.array([e.frame for e in events], dtype=int)
        truth = annotated_frames(video, info["impact_times_s"])
        pairs = match(pred, truth, tol)
        tp += len(pairs)
        n_pred += len(pred)
        n_true += len(truth)
        tp_shift += _best_shift_tp(pred, truth, tol, max_shift)
        rand = rng.integers(0, video.num_frames, (50, len(pred)))
        tp_shift_chance.append(np.mean([_best_shift_tp(q, truth, tol, max_shift) for q in rand]))
        tp_chance.append(np.mean([len(match(q, truth, tol)) for q in rand]))
        tp_global += [len(match(pred - s, truth, tol)) for s in shifts]
        tp_global_chance += [np.mean([len(match(q - s, truth, tol)) for q in rand]) for s in shifts]
        if len(pred):
            near = [int(pred[np.argmin(np.abs(pred - g))] - g) for g in truth]
            offsets += near
            clip_offsets.append([o for o in near if abs(o) <= 5])
    p, r, f = prf(tp, n_pred, n_true)
    # is the detection-annotation offset a property of the clip (an audio/video lag of the
    # clip) or of each event? Spread of offsets around their clip's median vs spread of medians
    med = [float(np.median(c)) for c in clip_offsets if len(c) >= 2]
    within = [o - np.median(c) for c in clip_offsets if len(c) >= 2 for o in c]
    return {
        "clips": len(meta),
        "impacts": n_true,
        "detected": n_pred,
        "tp": tp,
        "precision": p,
        "recall": r,
        "f1": f,
        "median_offset_frames": float(np.median(offsets)) if offsets else None,
        "offset_histogram": {
            int(k): int(v) for k, v in zip(*np.unique(offsets, return_counts=True), strict=True)
        },
        # diagnostic only: the best common shift per clip (|shift| <= max_shift frames) is
        # chosen by looking at the annotations, so it flatters any detector; the chance figure
        # is the same procedure applied to random detections (as many per clip)
        "f1_random_detections": prf(float(np.sum(tp_chance)), n_pred, n_true)[2],
        f"f1_best_clip_shift_{max_shift}": prf(tp_shift, n_pred, n_true)[2],
        f"f1_best_clip_shift_{max_shift}_random_detections": prf(
            float(np.sum(tp_shift_chance)), n_pred, n_true
        )[2],
        # diagnostic only: every detection moved EARLIER by the same number of frames for all
        # clips (as if the annotations lagged the picture by that constant); random detections
        # under the same shift show what the shift alone buys
        "f1_by_global_shift": {
            int(k): round(prf(int(v), n_pred, n_true)[2], 3)
            for k, v in zip(shifts, tp_global, strict=True)
        },
        "f1_by_global_shift_random_detections": {
            int(k): round(prf(float(v), n_pred, n_true)[2], 3)
            for k, v in zip(shifts, tp_global_chance, strict=True)
        },
        "offset_clip_medians": med,
        "offset_mean_abs_dev_within_clip": float(np.mean(np.abs(within))) if within else None,
        "offset_mean_abs_dev_of_clip_medians": (
            float(np.mean(np.abs(np.array(med) - np.median(med)))) if med else None
        ),
        "seconds": time.perf_counter() - t0,
        "frames": frames,
    }


def gh_agreement(root: Path, agree: int = 2) -> dict:
    """Where the two detectors agree: offsets of their detections to the nearest annotation.

    A flow detection with a tip detection within `agree` frames is taken as a visible contact
    found by two independent principles (region deceleration, leading-point stop); the offsets
    (detected minus annotated frame) of such pairs show whether the annotations (recovered from
    the soundtrack) lead what the picture shows. Diagnostic only.
    """
    meta = json.loads((root / "impact_times.json").read_text())
    pairs = []
    for name, info in sorted(meta.items()):
        video = read_video(root / name)
        f = np.array([e.frame for e in detect_impacts(video, method="flow")], dtype=int)
        t = np.array([e.frame for e in detect_impacts(video, method="tip")], dtype=int)
        truth = annotated_frames(video, info["impact_times_s"])
        for x in f:
            if len(t) and np.min(np.abs(t - x)) <= agree:
                y = int(t[np.argmin(np.abs(t - x))])
                pairs.append(
                    {
                        "clip": name,
                        "flow": int(x),
                        "tip": y,
                        "flow_offset": int(x - truth[np.argmin(np.abs(truth - x))]),
                        "tip_offset": int(y - truth[np.argmin(np.abs(truth - y))]),
                    }
                )
    offs = [p["tip_offset"] for p in pairs]
    return {
        "agreed_detections": len(pairs),
        "tip_offset_median": float(np.median(offs)) if offs else None,
        "tip_offset_histogram": {
            int(k): int(v) for k, v in zip(*np.unique(offs, return_counts=True), strict=True)
        },
        "pairs": pairs,
    }


def consensus_contacts(
    *label_sets: list[int], agree: int = 1, min_votes: int = 2
) -> tuple[list[int], list[int]]:
    """Several annotators' contact frames -> (consensus, uncertain).

    Labels of two annotators within `agree` frames of each other are paired (one-to-one per
    pair of annotators), and pairs sharing a label are joined into one group. A group that at
    least `min_votes` annotators put a label in is a consensus contact, at the lower median of
    its frames (with two annotators: the earlier frame, the first showing the stick at the
    surface). Labels in no such group are `uncertain`: a detection there is neither a contact
    found nor a false alarm.
    """
    sets = [np.array(x, dtype=int) for x in label_sets]
    nodes = [(i, j) for i, x in enumerate(sets) for j in range(len(x))]
    parent = {n: n for n in nodes}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for i in range(len(sets)):
        for k in range(i + 1, len(sets)):
            for a, b in match(sets[i], sets[k], agree):
                parent[find((i, a))] = find((k, b))
    groups: dict = {}
    for n in nodes:
        groups.setdefault(find(n), []).append(n)
    cons, unc = [], []
    for members in groups.values():
        frames = sorted(int(sets[i][j]) for i, j in members)
        if len({i for i, _ in members}) >= min_votes:
            cons.append(frames[(len(frames) - 1) // 2])
        else:
            unc += frames
    return sorted(cons), sorted(unc)


def score_against(
    pred: np.ndarray, truth: np.ndarray, uncertain: np.ndarray, tol: int
) -> tuple[int, int, int]:
    """(matches, detections counted, truths): detections matched to `truth` count; of the
    rest, those within `tol` of an `uncertain` contact are set aside (not false alarms)."""
    pairs = match(pred, truth, tol)
    used = {i for i, _ in pairs}
    rest = np.array([x for i, x in enumerate(pred) if i not in used], dtype=int)
    aside = len(match(rest, uncertain, tol)) if len(rest) and len(uncertain) else 0
    return len(pairs), len(pred) - aside, len(truth)


def eval_gh_visual(
    root: Path, labels_path: Path, tol: int = 2, annotators: tuple[str, ...] = ("a", "b"), **kw
) -> dict:
    """Detections and the soundtrack annotations against contacts labelled by eye.

    `labels_path` (benchmarks/data/gh_visual_contacts.json) holds, per clip, the contact
    frames each annotator labelled independently from the frames alone; `annotators` picks
    whose labels form the consensus (at least two must agree, `consensus_contacts`). Clips
    where none saw a contact are left out. Reports the detector against the consensus contacts, the
    annotations (impact_times.json) scored as if they were detections against the same
    contacts, and the lead of the annotations over the contacts (contact - annotated frame).
    """
    meta = json.loads((root / "impact_times.json").read_text())
    labels = json.loads(labels_path.read_text())["clips"]
    det = [0, 0, 0]
    ann_vs_visual = [0, 0, 0]
    det_vs_ann = [0, 0, 0]
    leads: list[int] = []
    n_clips = n_unc = 0
    per_clip = {}
    for name, info in sorted(meta.items()):
        lab = labels.get(name)
        if lab is None:
            continue
        cons, unc = consensus_contacts(*(lab[k] for k in annotators))
        if not cons and not unc:
            continue
        n_clips += 1
        n_unc += len(unc)
        video = read_video(root / name)
        pred = np.array([e.frame for e in detect_impacts(video, **kw)], dtype=int)
        truth = np.array(cons, dtype=int)
        uncertain = np.array(unc, dtype=int)
        ann = annotated_frames(video, info["impact_times_s"])
        for acc, r in (
            (det, score_against(pred, truth, uncertain, tol)),
            (ann_vs_visual, score_against(ann, truth, uncertain, tol)),
            (det_vs_ann, score_against(pred, ann, np.zeros(0, int), tol)),
        ):
            for k in range(3):
                acc[k] += r[k]
        leads += [int(c - ann[np.argmin(np.abs(ann - c))]) for c in cons]
        per_clip[name] = {
            "contacts": cons,
            "uncertain": unc,
            "annotated": ann.tolist(),
            "detected": pred.tolist(),
        }

    def _prf(t):
        p, r, f = prf(*t)
        return {
            "matches": t[0],
            "counted": t[1],
            "truth": t[2],
            "precision": p,
            "recall": r,
            "f1": f,
        }

    return {
        "annotators": list(annotators),
        "clips_with_visible_contacts": n_clips,
        "consensus_contacts": det[2],
        "uncertain_contacts": n_unc,
        "detector_vs_visual_contacts": _prf(det),
        "annotations_vs_visual_contacts": _prf(ann_vs_visual),
        "detector_vs_annotations_same_clips": _prf(det_vs_ann),
        "lead_of_annotations_frames_histogram": {
            int(k): int(v) for k, v in zip(*np.unique(leads, return_counts=True), strict=True)
        },
        "lead_median_frames": float(np.median(leads)) if leads else None,
        "per_clip": per_clip,
    }


def eval_synth(
    root: Path, tol: int = 1, max_videos: int | None = None, skip_videos: int = 0, **kw
) -> dict:
    files = sorted(root.glob("*_physics.json"))[skip_videos:]
    files = files[:max_videos]
    tp = n_pred = n_true = 0
    sp_true: list[float] = []
    sp_est: list[float] = []
    offsets: list[int] = []
    hit_tp = hit_true = scratch_matched = 0
    sp_true_h: list[float] = []
    sp_est_h: list[float] = []
    for fj in files:
        phys = json.loads(fj.read_text())
        video = read_video(fj.with_name(fj.name.replace("_physics.json", "_denoised.mp4")))
        mpp = phys.get("meters_per_pixel")
        events = detect_impacts(video, meters_per_pixel=mpp, **kw)
        hits = phys["hits"]
        pred = np.array([e.frame for e in events], dtype=int)
        truth = np.array([h["contact_frame"] for h in hits], dtype=int)
        pairs = match(pred, truth, tol)
        tp += len(pairs)
        n_pred += len(pred)
        n_true += len(truth)
        is_hit = [h.get("action", "hit") == "hit" for h in hits]
        hit_true += sum(is_hit)
        hit_tp += sum(is_hit[j] for _, j in pairs)
        scratch_matched += sum(not is_hit[j] for _, j in pairs)
        if len(pred):
            offsets += [int(pred[np.argmin(np.abs(pred - g))] - g) for g in truth]
        for i, j in pairs:
            sp_true.append(hits[j]["speed_before_m_s"])
            sp_est.append(events[i].speed_before_m_s)
            if is_hit[j]:
                sp_true_h.append(hits[j]["speed_before_m_s"])
                sp_est_h.append(events[i].speed_before_m_s)
    p, r, f = prf(tp, n_pred, n_true)
    rho = float(np.corrcoef(sp_true, sp_est)[0, 1]) if len(sp_true) > 2 else float("nan")
    rho_h = float(np.corrcoef(sp_true_h, sp_est_h)[0, 1]) if len(sp_true_h) > 2 else float("nan")
    # hits only (impacts proper): the truth is the hits; a detection matched to a scratch's
    # touch-down is a real contact, so it counts neither as a hit found nor as a false alarm
    ph, rh, fh = prf(hit_tp, n_pred - scratch_matched, hit_true)
    return {
        "videos": len(files),
        "impacts": n_true,
        "detected": n_pred,
        "tp": tp,
        "precision": p,
        "recall": r,
        "f1": f,
        "hits_only": {
            "hits": hit_true,
            "tp": hit_tp,
            "detected_not_on_scratches": n_pred - scratch_matched,
            "precision": ph,
            "recall": rh,
            "f1": fh,
            "speed_before_pearson_r": rho_h,
            "speed_pairs": len(sp_true_h),
        },
        "recall_hits_only": rh,
        "recall_scratches_only": (tp - hit_tp) / (n_true - hit_true) if n_true > hit_true else 0.0,
        "speed_before_pearson_r": rho,
        "speed_pairs": len(sp_true),
        "offset_histogram": {
            int(k): int(v) for k, v in zip(*np.unique(offsets, return_counts=True), strict=True)
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gh", type=Path, help="folder with impact_times.json and the clips")
    ap.add_argument("--synth", type=Path, help="SynthHits folder (NAME_physics.json files)")
    ap.add_argument("--max-videos", type=int, default=None)
    ap.add_argument("--skip-videos", type=int, default=0, help="--synth: skip the first N videos")
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--method", choices=("flow", "tip"), default="flow", help="detector")
    ap.add_argument("--gh-tol", type=int, default=2, help="frames (default 2)")
    ap.add_argument("--synth-tol", type=int, default=1, help="frames (default 1)")
    ap.add_argument(
        "--gh-agreement",
        action="store_true",
        help="with --gh: offsets to the annotations of detections both detectors agree on",
    )
    ap.add_argument(
        "--gh-visual-annotators",
        default="a,b",
        help="with --gh-visual: whose labels form the consensus (default a,b)",
    )
    ap.add_argument(
        "--gh-visual",
        type=Path,
        default=None,
        help="with --gh: also score against contacts labelled by eye "
        "(benchmarks/data/gh_visual_contacts.json)",
    )
    args = ap.parse_args()
    kw = {"method": args.method}
    if args.threshold is not None:
        kw["threshold"] = args.threshold
    if args.gh:
        res = eval_gh(args.gh, tol=args.gh_tol, **kw)
        key = f"greatest_hits_demo(+-{args.gh_tol} frames, {args.method})"
        print(json.dumps({key: res}, indent=1))
        if args.gh_agreement:
            print(json.dumps({"greatest_hits_demo_agreement": gh_agreement(args.gh)}, indent=1))
        if args.gh_visual:
            who = tuple(args.gh_visual_annotators.split(","))
            res = eval_gh_visual(args.gh, args.gh_visual, tol=args.gh_tol, annotators=who, **kw)
            key = f"greatest_hits_demo_visual_contacts(+-{args.gh_tol} frames, {args.method})"
            print(json.dumps({key: res}, indent=1))
    if args.synth:
        res = eval_synth(
            args.synth,
            tol=args.synth_tol,
            max_videos=args.max_videos,
            skip_videos=args.skip_videos,
            **kw,
        )
        print(json.dumps({f"synthhits(+-{args.synth_tol} frames, {args.method})": res}, indent=1))
    if not (args.gh or args.synth):
        ap.error("give --gh and/or --synth")


if __name__ == "__main__":
    main()
