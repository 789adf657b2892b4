"""`physfoley eval soundtrack`: whole generated soundtracks scored against the truth.

Each test video (a Greatest Hits layout folder such as SynthHits, or the test split of a
`physfoley data segments` folder) gets a soundtrack from the model under test for every seed:
a diff-foley model (`SoundtrackPipeline`, timing from the picture) or a per-impact one
(`ImpactPipeline`, detected times, the side-by-side row). Every soundtrack is brought to 16 kHz
and scored:

- **Align Acc** (Diff-Foley's): the share of its segment windows (non-overlapping, on the latent
  grid, the last one flush with the end) that the *evaluation* alignment classifier calls
  aligned with the picture (P > 0.5). That classifier is trained on clean true / shifted /
  other-video pairs of real audio (`physfoley train align` with `clean_only: true`), never on
  generated audio, and is not the noisy-latent classifier of double guidance; its model
  directory carries the VAE and CAVP it reads. The real soundtracks' Align Acc is its ceiling.
- **Onsets** against the true hit times (SynthHits physics, else NAME_times.txt): the Greatest
  Hits onset protocol of `evaluation.metrics` (librosa onsets at 22.05 kHz, confidence-ranked
  suppression, greedy matching within +-0.1 s): accuracy (= recall), AP, precision and F1.
- **IS, KL, FID** with the material evaluation classifier (`physfoley eval train-classifier`),
  whose input is one impact clip: the clip at each true hit time is cut from the generated and
  from the real soundtrack (both band-limited by the same 16 kHz round trip); IS =
  exp E KL(p(y|x) || p(y)) over the generated clips, KL(real || generated) per hit, FID
  between the two sets of embeddings. These are impact-level: a soundtrack with a hit at the
  wrong time scores its silence there.
- **APCC** (PAVAS) where the test videos are SynthHits with their physics records: the onset
  strength of the generated and of the recorded soundtrack at each true hit, correlated with
  the kinetic energy it lost within each material; `apcc_delta` = |APCC(real) - APCC(gen)|.

Per seed every metric is the mean over videos (onsets, Align Acc over windows); the report
gives each seed, their mean and standard deviation, and n.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import torch

from physfoley.audio.mel import log_mel, vocode
from physfoley.data.greatest_hits import discover_videos, read_audio
from physfoley.data.segments import SegmentData, hit_times
from physfoley.errors import InputError
from physfoley.evaluation.classifier import EvalClassifier, waves_to_spectrograms
from physfoley.evaluation.metrics import (
    apcc,
    detect_onsets,
    frechet_distance,
    kl_divergence,
    onset_scores,
    onset_strength_at,
)
from physfoley.evaluation.soundtracks import read_synthhits_hits
from physfoley.pavas_pipeline import PavasPipeline
from physfoley.soundtrack_config import SoundtrackConfig, nearest_frames
from physfoley.soundtrack_dir import load_part, read_config
from physfoley.soundtrack_pipeline import SoundtrackPipeline
from physfoley.video.io import read_video

RATE = 16000  # every soundtrack is scored at the soundtrack family's rate
ONSET_RATE = 22050  # the onset protocol's analysis rate (evaluation.soundtracks)
CLIP_PRE_S = 0.01  # a material clip starts this long before its hit

#: The Align Acc control moves each soundtrack this much later against its picture.
ALIGN_CONTROL_SHIFT_S = 0.5


@dataclass
class EvalVideo:
    """One test video: its picture (a file, or frames at times), true hits and real sound."""

    name: str
    path: Path | None
    frames: np.ndarray | None
    frame_times_s: np.ndarray | None
    duration_s: float
    hits_s: np.ndarray
    real: np.ndarray  # float32 [N] at RATE
    physics_path: Path | None = None  # SynthHits' NAME_physics.json: APCC is scored with it
    objects: list | None = None  # the physics estimator's objects, once per video (pavas)

    def picture(self, size: int) -> tuple[np.ndarray, np.ndarray, float]:
        """(frames uint8 [T, size, size, 3] or as stored, their times (s), duration (s))."""
        if self.path is None:
            return self.frames, self.frame_times_s, self.duration_s
        if self.frames is None or self.frames.shape[1] != size:
            decoded = read_video(self.path, size=size)
            self.frames, self.frame_times_s = decoded.frames, decoded.times_s
        return self.frames, self.frame_times_s, self.duration_s


def eval_videos(data: str | os.PathLike, *, max_videos: int | None = None) -> Iterator[EvalVideo]:
    """The test videos of `data`: every video of a Greatest Hits layout folder, or the test split
    of a segments folder (frames at its visual rate; the real sound vocoded from its log-mel)."""
    root = Path(data)
    if (root / "meta.json").is_file() and (root / "videos.json").is_file():
        seg = SegmentData.open(root)
        cfg = seg.cfg
        picked = [i for i, v in enumerate(seg.videos) if v["split"] == "test"][:max_videos]
        if not picked:
            raise InputError(f"{root} has no test videos; prepare it with --test-fraction > 0")
        for i in picked:
            v = seg.videos[i]
            mel = torch.from_numpy(np.asarray(seg.mel(i), np.float32).T.copy())
            n = round(v["duration_s"] * cfg.sample_rate)
            frames = np.asarray(seg.frames(i))
            yield EvalVideo(
                v["name"], None, frames, np.arange(len(frames)) / cfg.visual_fps,
                v["duration_s"], np.asarray(v["hit_times_s"], float),
                vocode(mel, cfg, length=n).numpy().astype(np.float32),
            )  # fmt: skip
        return
    entries = [e for e in discover_videos(root) if e.video_path is not None][:max_videos]
    if not entries:
        raise InputError(f"{root} holds no NAME_denoised.mp4 videos nor a segments folder")
    for e in entries:
        real, _ = read_audio(e, RATE)
        hits, _ = hit_times(e)
        yield EvalVideo(
            e.name, e.video_path, None, None, len(real) / RATE, hits, real, e.physics_path
        )


def generate(pipe: Any, video: EvalVideo, seed: int, options: dict[str, Any]) -> np.ndarray:
    """The soundtrack of `video` by `pipe` (either family) as float32 [N] at RATE, N as the real."""
    if isinstance(pipe, PavasPipeline) and video.path is not None:  # PPE physics of the video
        if video.objects is None:  # the estimator does not depend on the model nor the seed
            video.objects = pipe.estimate(video.path)
        wave = pipe.synthesize(video.path, objects=video.objects, seed=seed, **options).wave
        rate = pipe.sound.sample_rate
    elif isinstance(pipe, SoundtrackPipeline):
        frames, times, duration = video.picture(pipe.sound.image_size)
        wave = pipe.synthesize_frames(frames, times, duration, seed=seed, **options).wave
        rate = pipe.sound.sample_rate
    else:
        if video.path is None:
            raise InputError(
                "the per-impact pipeline needs video files: give --data a folder of videos"
            )
        result = pipe.synthesize(video.path, seed=seed, **options)
        wave, rate = result.audio, result.sample_rate
    wave = np.asarray(wave, np.float32)
    if rate != RATE:
        wave = librosa.resample(wave, orig_sr=rate, target_sr=RATE).astype(np.float32)
    out = np.zeros(len(video.real), np.float32)
    out[: min(len(out), len(wave))] = wave[: len(out)]
    return out


class AlignScorer:
    """The evaluation alignment classifier with the VAE and CAVP it reads (one model dir)."""

    def __init__(self, model_dir: str | os.PathLike):
        doc = read_config(model_dir)
        missing = {"vae", "cavp", "align"} - set(doc["parts"])
        if missing or not doc.get("evaluation"):
            raise InputError(
                f"{model_dir} is not an evaluation alignment classifier (train one with "
                "`physfoley train align --config configs/soundtrack_align_eval_small.yaml`)"
            )
        self.cfg = SoundtrackConfig.from_dict(doc["soundtrack"])
        self.nets = {p: load_part(model_dir, p, doc) for p in ("vae", "cavp", "align")}
        self.scale = float(doc["parts"]["vae"]["scale_factor"])

    @torch.no_grad()
    def probabilities(self, wave: np.ndarray, video: EvalVideo) -> np.ndarray:
        """P(aligned) of each segment window of `wave` [N] at RATE with `video`'s picture."""
        cfg = self.cfg
        peak = float(np.abs(wave).max())
        wave = wave * (0.9 / peak) if peak > 0 else wave  # as `data segments` scales each video
        mel = log_mel(wave, cfg)  # [1, M, T_mel]; a video shorter than a segment: silence after
        short = cfg.segment_mel_frames - mel.shape[-1]
        mel = torch.nn.functional.pad(mel, (0, max(0, short)), value=-1.0)
        z = self.nets["vae"].encode(mel).mean * self.scale  # [1, C', F', T_lat]
        total, width = z.shape[-1], cfg.latent_frames
        starts = sorted({*range(0, total - width + 1, width), total - width})
        frames, times, _ = video.picture(cfg.image_size)
        count = max(
            cfg.num_visual_frames(video.duration_s),
            cfg.visual_index(starts[-1]) + cfg.visual_frames,
        )
        grid = np.asarray(frames)[nearest_frames(times, cfg.visual_fps, count)]
        e_v = self.nets["cavp"].video(torch.from_numpy(np.ascontiguousarray(grid))[None])[0]
        zs = torch.stack([z[0, ..., s : s + width] for s in starts])
        ev = torch.stack(
            [e_v[cfg.visual_index(s) : cfg.visual_index(s) + cfg.visual_frames] for s in starts]
        )
        logits = self.nets["align"](zs, torch.zeros(len(starts), dtype=torch.long), {"video": ev})
        return torch.sigmoid(logits).numpy()


def onset_row(wave: np.ndarray, hits_s: np.ndarray, tolerance_s: float = 0.1) -> dict[str, float]:
    """Onset accuracy (recall), AP, precision and F1 of one soundtrack against its hits."""
    wave = librosa.resample(wave, orig_sr=RATE, target_sr=ONSET_RATE)
    det, conf = detect_onsets(wave, ONSET_RATE)
    s = onset_scores(det, conf, hits_s, tolerance_s=tolerance_s)
    matched = s.accuracy * s.num_annotated
    precision = matched / s.num_detected if s.num_detected else float(s.num_annotated == 0)
    f1 = (
        2 * matched / (s.num_detected + s.num_annotated)
        if s.num_detected + s.num_annotated
        else 1.0
    )
    return {"onset_acc": s.accuracy, "onset_ap": s.ap, "onset_precision": precision, "onset_f1": f1}


def impact_clips(wave: np.ndarray, hits_s: np.ndarray, clf: EvalClassifier) -> np.ndarray:
    """One clip per hit at the material classifier's rate and length: float32 [H, N_clip]."""
    rate, n = clf.audio.sample_rate, clf.audio.num_samples
    up = librosa.resample(wave, orig_sr=RATE, target_sr=rate)
    clips = np.zeros((len(hits_s), n), np.float32)
    for i, t in enumerate(hits_s):
        a = max(0, int(round((t - CLIP_PRE_S) * rate)))
        piece = up[a : a + n]
        clips[i, : len(piece)] = piece
    peak = np.abs(clips).max(axis=1, keepdims=True)
    return clips / np.maximum(peak, 1e-6)


def material_metrics(clf: EvalClassifier, generated: np.ndarray, real: np.ndarray) -> dict:
    """IS of the generated clips, KL(real || generated) per clip and FID, in `clf`'s terms."""
    gen = clf.features(waves_to_spectrograms(generated, clf.audio))
    ref = clf.features(waves_to_spectrograms(real, clf.audio))
    p = np.clip(gen["probs"], 1e-12, 1.0)
    marginal = p.mean(axis=0, keepdims=True)
    inception = float(np.exp((p * (np.log(p) - np.log(marginal))).sum(axis=1).mean()))
    out = {"is": inception, "kl": kl_divergence(gen["probs"], ref["probs"]), "clips": len(p)}
    out["fid"] = (
        frechet_distance(ref["embedding"], gen["embedding"]) if len(p) > 1 else float("nan")
    )
    return out


class ApccInputs:
    """SynthHits' hits of the videos that have a physics record (time, kinetic energy lost,
    material): APCC correlates a soundtrack's onset strength at each with its energy, within
    each material, as `physfoley eval apcc` does (here at the family's 16 kHz)."""

    def __init__(self, videos: list[EvalVideo]):
        self.hits = {}
        for i, v in enumerate(videos):
            if v.physics_path is not None and v.physics_path.is_file():
                times, energy, materials = read_synthhits_hits(v.physics_path)
                if times.size:
                    self.hits[i] = (times, energy, materials)
        self.energy = np.asarray([e for _, en, _ in self.hits.values() for e in en], float)
        self.groups = np.asarray([m for _, _, ms in self.hits.values() for m in ms])
        reference = self.score({i: videos[i].real for i in self.hits})
        self.reference = reference if np.isfinite(reference) else None

    def strengths(self, waves: dict[int, np.ndarray]) -> np.ndarray:
        return np.concatenate(
            [onset_strength_at(waves[i], RATE, times) for i, (times, _, _) in self.hits.items()]
        )

    def score(self, waves: dict[int, np.ndarray]) -> float:
        """APCC of these soundtracks (index -> wave); NaN where it is undefined (fewer than 3
        hits of any material, or constant strengths)."""
        if len(self.energy) < 3:
            return float("nan")
        try:
            return apcc(self.strengths(waves), self.energy, self.groups)
        except InputError:
            return float("nan")


def evaluate_soundtracks(
    pipe: Any,
    data: str | os.PathLike | list[EvalVideo],
    *,
    seeds: list[int],
    options: dict[str, Any] | None = None,
    align: AlignScorer | None = None,
    classifier: EvalClassifier | None = None,
    max_videos: int | None = None,
    tolerance_s: float = 0.1,
) -> dict[str, Any]:
    """Generate and score every test video of `data` (a folder, or videos already loaded by
    `eval_videos`) once per seed -> the JSON report."""
    if not seeds:
        raise InputError("give at least one seed")
    options = options or {}
    if isinstance(data, list):
        videos, data = data[:max_videos], "(videos given)"
    else:
        videos = list(eval_videos(data, max_videos=max_videos))
    physics = ApccInputs(videos)
    per_seed, real_rows = [], {}
    for seed in seeds:
        rows, gen_clips, real_clips, probs, waves = [], [], [], [], {}
        probs_other, probs_shifted = [], []  # controls: the metric must be able to say "no"
        for i, v in enumerate(videos):
            wave = generate(pipe, v, seed, options)
            rows.append(onset_row(wave, v.hits_s, tolerance_s))
            if i in physics.hits:
                waves[i] = wave
            if align is not None:
                probs.append(align.probabilities(wave, v))
                other = videos[(i + 1) % len(videos)]
                if len(videos) > 1 and abs(other.duration_s - v.duration_s) < 0.5:
                    probs_other.append(align.probabilities(wave, other))
                shift = int(round(ALIGN_CONTROL_SHIFT_S * RATE))
                probs_shifted.append(align.probabilities(np.roll(wave, shift), v))
            if classifier is not None and len(v.hits_s):
                gen_clips.append(impact_clips(wave, v.hits_s, classifier))
                real_clips.append(impact_clips(v.real, v.hits_s, classifier))
        row = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        if probs:
            row["align_acc"] = float(np.mean(np.concatenate(probs) > 0.5))
            row["align_windows"] = int(sum(len(p) for p in probs))
            # the same soundtracks with another video's picture, and moved later in time: the
            # share still called aligned (low when the metric can tell)
            if probs_other:
                row["align_acc_other_video"] = float(np.mean(np.concatenate(probs_other) > 0.5))
            row["align_acc_shifted"] = float(np.mean(np.concatenate(probs_shifted) > 0.5))
        if gen_clips:
            row.update(
                material_metrics(classifier, np.concatenate(gen_clips), np.concatenate(real_clips))
            )
        if physics.reference is not None:
            row["apcc"] = physics.score(waves)
            row["apcc_delta"] = abs(physics.reference - row["apcc"])
        per_seed.append({"seed": seed, **row})
    real_onsets = [onset_row(v.real, v.hits_s, tolerance_s) for v in videos]
    real_rows = {f"real_{k}": float(np.mean([r[k] for r in real_onsets])) for k in real_onsets[0]}
    if physics.reference is not None:
        real_rows["real_apcc"] = physics.reference
        real_rows["apcc_hits"] = len(physics.energy)
    if align is not None:
        real_rows["real_align_acc"] = float(
            np.mean(np.concatenate([align.probabilities(v.real, v) for v in videos]) > 0.5)
        )
    keys = [k for k in per_seed[0] if k != "seed"]
    return {
        "family": getattr(pipe, "family", "per-impact"),
        "data": str(data),
        "n_videos": len(videos),
        "n_hits": int(sum(len(v.hits_s) for v in videos)),
        "seeds": list(seeds),
        "options": options,
        "tolerance_s": tolerance_s,
        "mean": {k: float(np.mean([r[k] for r in per_seed])) for k in keys},
        "std": {k: float(np.std([r[k] for r in per_seed])) for k in keys},
        "per_seed": per_seed,
        "reference": real_rows,
    }
