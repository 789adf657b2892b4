"""Video encoding with PyAV: H.264 (libx264) frames, optional AAC soundtrack, written atomically.

The SynthHits generator writes its mp4 files here, and so can any stage that shows a result.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from physfoley.atomic import atomic_path
from physfoley.errors import InputError

NTSC_FPS = Fraction(30000, 1001)


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float | Fraction = NTSC_FPS,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
    force: bool = False,
    crf: int = 20,
    preset: str = "ultrafast",
    threads: int = 1,
) -> Path:
    """Encode frames as H.264 mp4 (yuv420p), with an AAC track when `audio` is given.

    frames : np.ndarray[T, H, W, 3] uint8 RGB (H and W even).
    fps : frame rate; 29.97 is stored exactly as 30000/1001.
    audio : np.ndarray[N] or [C, N] float in [-1, 1] at `sample_rate`.
    threads : encoder threads (1 keeps parallel dataset generation from oversubscribing).
    """
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InputError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    if frames.shape[0] == 0:
        raise InputError("no frames to write")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise InputError(f"H.264 needs even width and height, got {width}x{height}")
    if audio is not None and not sample_rate:
        raise InputError("audio given without sample_rate")
    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    with atomic_path(path, force=force) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": str(crf), "preset": preset}
            stream.codec_context.thread_count = threads
            astream = None
            if audio is not None:
                wave = np.atleast_2d(np.asarray(audio, np.float32))
                layout = "mono" if wave.shape[0] == 1 else "stereo"
                astream = container.add_stream("aac", rate=int(sample_rate), layout=layout)
            for img in frames:
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
            if astream is not None:
                chunk = 1024 * 16
                wave = np.clip(wave, -1, 1)
                for start in range(0, wave.shape[1], chunk):
                    piece = np.ascontiguousarray(wave[:, start : start + chunk])
                    aframe = av.AudioFrame.from_ndarray(piece, format="fltp", layout=layout)
                    aframe.sample_rate = int(sample_rate)
                    aframe.pts = start
                    container.mux(astream.encode(aframe))
                container.mux(astream.encode())
    return Path(path)
