"""Stage 2: the visual encoder (ResNet + TSM), trained as a material classifier.

No ImageNet/Kinetics weights exist here, so, as the paper's TSM classifier was, the encoder is
trained on the training split to recognise the hit material from the frame window (TSN segment
sampling: one random frame per segment while training, segment centres at inference; random
horizontal flips). Its frame-averaged penultimate features (or logits) are the visual latent nu.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from physfoley.atomic import write_text_atomic
from physfoley.config import model_config
from physfoley.errors import InputError
from physfoley.models.factory import build_visual_encoder, window_view
from physfoley.models.visual_encoder import segment_indices
from physfoley.training import common as C

WEIGHTS = "visual_encoder.safetensors"
INFO = "visual.json"


def _random_crop(frames: torch.Tensor, scale_min: float) -> torch.Tensor:
    """One random square crop (side in [scale_min, 1] of the frame) for the whole batch.

    frames: Tensor[B, T, S, S, 3] -> Tensor[B, T, s, s, 3]; the encoder resizes to its input size.
    """
    size = frames.shape[2]
    if scale_min >= 1:
        return frames
    side = int(torch.randint(int(scale_min * size), size + 1, ()))
    y0, x0 = (int(v) for v in torch.randint(0, size - side + 1, (2,)))
    return frames[:, :, y0 : y0 + side, x0 : x0 + side]


def _labels(data, rows: np.ndarray) -> torch.Tensor:
    return torch.as_tensor([data.index[r]["material_id"] for r in rows], dtype=torch.long)


@torch.no_grad()
def evaluate_visual(
    encoder,
    data,
    rows: np.ndarray,
    num_segments: int,
    *,
    batch_size: int = 32,
    device="cpu",
    visual_cfg=None,
) -> float:
    """Material accuracy of `encoder` on `rows` (segment-centre frames of each window, cropped
    as `visual_cfg` (a `VisualConfig`) says; whole frames when it is None)."""
    encoder.eval()
    correct = 0
    frames = data.arrays["frames"]
    idx = torch.from_numpy(segment_indices(frames.shape[1], num_segments).numpy())
    for start in range(0, len(rows), batch_size):
        batch = np.sort(rows[start : start + batch_size])
        x = torch.from_numpy(np.ascontiguousarray(frames[batch])).to(device)
        if visual_cfg is not None:
            x = window_view(x, visual_cfg)
        logits, _ = encoder(x[:, idx.to(x.device)])
        correct += int((logits.argmax(-1).cpu() == _labels(data, batch)).sum())
    encoder.train()
    return correct / max(1, len(rows))


def train_visual(
    cfg: C.VisualTrainConfig,
    *,
    data_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    resume: bool = False,
    device: str | None = None,
    progress: bool = False,
) -> dict:
    """Train the visual encoder; returns a summary (steps, train/test accuracy, files)."""
    env = C.setup_distributed(device)
    try:
        model_cfg = model_config(cfg.preset, cfg.model)
        data = C.open_prepared(data_dir or cfg.data)
        C.check_preset_matches(data, model_cfg)
        rows = data.indices("train")
        out = C.prepare_out_dir(out_dir, resume, cfg) if env.is_main else Path(out_dir)
        C.barrier(env)
        C.seed_everything(cfg.seed + env.rank)
        encoder = build_visual_encoder(model_cfg).to(env.device)
        net = C.wrap_ddp(encoder, env)
        opt = torch.optim.AdamW(encoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        step = 0
        ckpt = C.latest_checkpoint(out) if resume else None
        if ckpt is not None:
            step = C.load_checkpoint(ckpt, {"visual_encoder": encoder}, opt, env)["step"]
        bar = C.Progress(out, env, cfg.max_steps, step, "visual", progress)
        frames = data.arrays["frames"]
        window = frames.shape[1]
        num_segments = model_cfg.visual.num_segments
        loss_value, acc_run = float("nan"), float("nan")
        encoder.train()
        while step < cfg.max_steps:
            for group in opt.param_groups:
                group["lr"] = C.lr_at(step, cfg)
            batch = C.batch_rows(rows, cfg.batch_size, step, cfg.seed, env)
            idx = segment_indices(window, num_segments, random=True)
            # the whole window first: the contact crop is found from its onset frames
            x = window_view(torch.from_numpy(frames[batch]), model_cfg.visual)[:, idx]
            flip = torch.rand(len(batch)) < cfg.flip_prob
            x = torch.where(flip[:, None, None, None, None], x.flip(3), x)
            x = _random_crop(x, cfg.crop_scale_min).to(env.device)
            y = _labels(data, batch).to(env.device)
            logits, _ = net(x)
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            loss_value = float(loss.detach())
            acc = float((logits.argmax(-1) == y).float().mean())
            acc_run = acc if acc_run != acc_run else 0.9 * acc_run + 0.1 * acc
            bar.update()
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                bar.log(
                    step,
                    {
                        "visual/ce": loss_value,
                        "visual/train_acc": acc_run,
                        "visual/lr": C.lr_at(step - 1, cfg),
                    },
                )
            out_of_time = cfg.time_budget_s > 0 and bar.elapsed_s() > cfg.time_budget_s
            if step % cfg.ckpt_every == 0 or step == cfg.max_steps or out_of_time:
                C.save_checkpoint(
                    out, step, {"visual_encoder": encoder}, opt, env, keep=cfg.keep_checkpoints
                )
            if out_of_time:
                break
        bar.close()
        summary = {
            "stage": "visual",
            "steps": step,
            "final_loss_ce": loss_value,
            "train_acc_running": acc_run,
        }
        if env.is_main:
            from safetensors.torch import save_file

            test_rows = data.indices("test")
            if len(test_rows):
                summary["test_accuracy"] = evaluate_visual(
                    encoder,
                    data,
                    test_rows,
                    num_segments,
                    batch_size=cfg.infer_batch_size,
                    device=env.device,
                    visual_cfg=model_cfg.visual,
                )
            save_file(
                {k: v.contiguous() for k, v in encoder.state_dict().items()}, str(out / WEIGHTS)
            )
            summary = {"model_config": model_cfg.to_dict(), **summary}
            write_text_atomic(out / INFO, json.dumps(summary, indent=2), force=True)
        C.barrier(env)
        return summary
    finally:
        C.cleanup_distributed()


def load_visual_run(run_dir: str | os.PathLike, model_cfg) -> dict[str, torch.Tensor]:
    """Weights of a finished visual stage, checked against `model_cfg.visual`."""
    from safetensors.torch import load_file

    run = Path(run_dir)
    info_path, weights = run / INFO, run / WEIGHTS
    if not info_path.is_file() or not weights.is_file():
        raise InputError(
            f"{run} holds no finished visual stage ({INFO}, {WEIGHTS}); run `physfoley train visual` first"
        )
    info = json.loads(info_path.read_text())

    # Fields that only change inference (how the bank is searched), not the encoder's weights:
    # a run trained before they existed, or with another value, is the same encoder.
    def architecture(visual: dict) -> dict:
        return {k: v for k, v in visual.items() if k != "retrieval_tta"}

    trained = architecture(info.get("model_config", {}).get("visual") or {})
    wanted = architecture(json.loads(json.dumps(model_cfg.to_dict()["visual"])))
    if trained != wanted:
        raise InputError(
            f"the visual encoder in {run} was trained with {trained}, but this model needs {wanted}"
        )
    return load_file(str(weights))
