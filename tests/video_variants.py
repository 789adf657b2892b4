"""Re-encode a test video as another container, codec, size or timing (tests and benchmarks).

`make_variant(src, dst, ...)` decodes `src` with PyAV and writes `dst` with the picture padded
(letterbox / pillarbox bars), turned (pixels rotated, with rotation metadata that turns them
back on playback), at another frame rate or with variable frame timing, in the container the
suffix of `dst` names and the given codec. `truncate(src, dst, fraction)` cuts a file.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def make_variant(
    src: str | Path,
    dst: str | Path,
    *,
    codec: str = "libx264",
    pad: tuple[int, int] = (0, 0),
    rotate: int = 0,
    vfr: bool = False,
    fps: float | None = None,
    bframes: bool = False,
    faststart: bool = False,
    audio: bool = True,
    upscale: int = 1,
    max_frames: int | None = None,
    lossless: bool = False,
) -> int:
    """Write `dst`; returns its number of frames.

    pad : (rows, columns) of black added above and below / left and right.
    rotate : 90, 180 or 270: the picture is stored turned that many degrees clockwise, with a
        display matrix that turns it back counter-clockwise (a correct reader shows the
        original picture).
    vfr : frame times jitter (+-30 % of a frame interval); fps : resample to this rate by
        repeating / dropping frames. upscale : repeat each pixel this many times. max_frames : keep the first ones only. lossless : H.264 at qp 0 (the
        picture inside bars, or turned back, is then the plain copy's, bit for bit). bframes : H.264 with B-frames. audio : keep a tone track.
    """
    import av

    src, dst = Path(src), Path(dst)
    with av.open(str(src)) as cont:
        vs = cont.streams.video[0]
        rate = float(vs.average_rate)
        frames = [f.to_ndarray(format="rgb24") for f in cont.decode(vs)]
    frames = np.stack(frames[:max_frames])
    if upscale > 1:
        frames = frames.repeat(upscale, axis=1).repeat(upscale, axis=2)
    if pad != (0, 0):
        r, c = pad
        frames = np.pad(frames, ((0, 0), (r, r), (c, c), (0, 0)))
    if fps is not None:
        n = int(round(len(frames) * fps / rate))
        frames = frames[np.minimum((np.arange(n) * rate / fps).astype(int), len(frames) - 1)]
        rate = fps
    if rotate:
        # the stored picture is the shown one turned the other way; metadata turns it back
        frames = np.ascontiguousarray(np.rot90(frames, k=-(rotate // 90), axes=(1, 2)))
    h, w = frames.shape[1:3]
    opts = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(dst), mode="w", options=opts) as out:
        time_base = Fraction(1, 9000)
        vo = out.add_stream(codec, rate=int(round(rate)))  # nominal; vfr jitters the pts
        vo.width, vo.height = w, h
        vo.pix_fmt = "yuv420p"
        vo.time_base = vo.codec_context.time_base = time_base
        if codec in ("libx264", "libx265"):
            vo.options = {
                "bf": "2" if bframes else "0",
                "g": "30",
                **({"qp": "0"} if lossless else {}),
            }
        if rotate:
            vo.set_display_rotation(rotate)
        ao = None
        if audio:
            ao = out.add_stream("libopus" if dst.suffix == ".webm" else "aac", rate=48000)
        rng = np.random.default_rng(0)
        t = 0.0
        for img in frames:
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = int(round(t * 9000))
            frame.time_base = time_base
            for p in vo.encode(frame):
                out.mux(p)
            step = 1.0 / rate
            t += step * (1.0 + (0.6 * rng.random() - 0.3 if vfr else 0.0))
        for p in vo.encode(None):
            out.mux(p)
        if ao is not None:
            n = int(t * 48000)
            tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(n) / 48000)).astype(np.float32)
            af = av.AudioFrame.from_ndarray(tone[None], format="fltp", layout="mono")
            af.sample_rate, af.pts = 48000, 0
            for p in ao.encode(af):
                out.mux(p)
            for p in ao.encode(None):
                out.mux(p)
    return len(frames)


def truncate(src: str | Path, dst: str | Path, fraction: float = 0.5) -> None:
    """Copy the first `fraction` of the bytes of `src` to `dst` (a download cut short)."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
