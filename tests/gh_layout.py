"""Make tiny videos in the exact Greatest Hits layout for the data tests (no shared data needed).

Each video: NAME_denoised.mp4 (H.264 via PyAV, 29.97 fps, optional AAC track), NAME_denoised.wav
(44.1 kHz mono PCM_16), NAME_times.txt (`time material action reaction`). Frame k is filled with
grey level 4*k (capped) so tests can tell which frame landed in a window; each hit is a decaying
sine burst whose frequency depends on the material.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf

FPS = Fraction(30000, 1001)
SR = 44100
MATERIAL_HZ = {"glass": 3000.0, "wood": 400.0, "metal": 1800.0, "carpet": 150.0, "rock": 900.0}


def hit_wave(times_materials: list[tuple[float, str]], seconds: float, sr: int = SR) -> np.ndarray:
    """Mono float32 [seconds*sr]: a decaying sine at each (time, material), small noise floor."""
    rng = np.random.default_rng(0)
    wave = 1e-4 * rng.standard_normal(int(seconds * sr)).astype(np.float32)
    t = np.arange(int(0.3 * sr)) / sr
    for time_s, material in times_materials:
        burst = 0.5 * np.exp(-t * 25.0) * np.sin(2 * np.pi * MATERIAL_HZ.get(material, 700.0) * t)
        start = int(round(time_s * sr))
        seg = wave[start : start + burst.size]
        seg += burst[: seg.size].astype(np.float32)
    return wave


def write_mp4(path: Path, num_frames: int, size: int = 64, audio: np.ndarray | None = None) -> None:
    """H.264 mp4 with `num_frames` frames of grey level min(4*k, 255) (+ AAC track from `audio`)."""
    import av

    with av.open(str(path), "w") as container:
        vstream = container.add_stream("libx264", rate=FPS)
        vstream.width = vstream.height = size
        vstream.pix_fmt = "yuv420p"
        vstream.options = {"preset": "ultrafast", "qp": "0"}
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=SR)
            astream.layout = "mono"
        for k in range(num_frames):
            img = np.full((size, size, 3), min(4 * k, 255), np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in vstream.encode(frame):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
        if astream is not None:
            chunk = 1024
            for pos in range(0, audio.size, chunk):
                block = audio[pos : pos + chunk].astype(np.float32)[None, :]
                aframe = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
                aframe.sample_rate = SR
                aframe.pts = pos
                for packet in astream.encode(aframe):
                    container.mux(packet)
            for packet in astream.encode():
                container.mux(packet)


def make_video(
    root: Path,
    name: str,
    hits: list[tuple[float, str, str, str]],
    *,
    seconds: float = 2.0,
    wav: bool = True,
    mp4_audio: bool = False,
    extra_lines: str = "",
) -> None:
    """Write NAME_denoised.mp4 (+ .wav) + NAME_times.txt; hits = (time, material, action, reaction)."""
    root.mkdir(parents=True, exist_ok=True)
    wave = hit_wave([(t, m) for t, m, _, _ in hits], seconds)
    num_frames = int(round(seconds * float(FPS)))
    write_mp4(root / f"{name}_denoised.mp4", num_frames, audio=wave if mp4_audio else None)
    if wav:
        sf.write(str(root / f"{name}_denoised.wav"), wave, SR, subtype="PCM_16")
    lines = [f"{t:.6f} {m} {a} {r}" for t, m, a, r in hits]
    (root / f"{name}_times.txt").write_text(extra_lines + "\n".join(lines) + "\n")
