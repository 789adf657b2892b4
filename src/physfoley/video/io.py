"""Video decoding with PyAV: real frame times (any fps, VFR), rotation metadata, clear errors.

`read_video` is the one way frames enter physfoley. It never assumes 29.97 fps: each frame's
time comes from its presentation timestamp.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from physfoley.errors import InputError


@dataclass
class VideoFrames:
    """Decoded video.

    frames : np.ndarray[T, H, W, 3] uint8 RGB (after rotation and optional crop / resize), or
        [T, H, W] uint8 luminance
    times_s : np.ndarray[T] float64, presentation time of each frame, first frame at its pts
    fps : float, average frame rate (num_frames / duration, or the stream's average rate)
    width, height : int, size of `frames`
    duration_s : float, container/stream duration (>= last frame time); when fewer frames
        decode than the container announced, the length of the picture that decodes
    has_audio : bool
    announced_frames : frame count the container states (0 when it states none)
    scale : original pixels (after rotation) per pixel of `frames`
    offset_xy : where pixel (0, 0) of `frames` lies in the original picture (a crop's corner)
    reload : (frame indices [B, F], side S) -> colour frames [B, F, S, S, 3] decoded again from
        the file (S None: at the size of `frames`), for videos whose `frames` are only the
        detector's small copy (`physfoley.video.stream`); None when `frames` are the picture
    path : the file the frames were decoded from (None when not decoded from a file)
    """

    frames: np.ndarray
    times_s: np.ndarray
    fps: float
    width: int
    height: int
    duration_s: float
    has_audio: bool
    announced_frames: int = 0
    scale: float = 1.0
    offset_xy: tuple[float, float] = (0.0, 0.0)
    reload: Callable[[np.ndarray, int | None], np.ndarray] | None = None
    path: str | None = None

    @property
    def num_frames(self) -> int:
        return int(self.times_s.shape[0])

    def with_frames(self, frames: np.ndarray, **changes) -> VideoFrames:
        """A copy holding `frames` [T, H, W(, 3)] (its width and height), other fields kept."""
        return replace(
            self, frames=frames, width=int(frames.shape[2]), height=int(frames.shape[1]), **changes
        )

    @property
    def truncated(self) -> bool:
        """Fewer frames decoded than the container announced (a cut or damaged file)."""
        return 0 < self.num_frames < self.announced_frames


def truncation_note(path: str | os.PathLike, video: VideoFrames) -> str:
    """The one line that says a file is cut short: frames decoded of frames announced."""
    return (
        f"warning: {path} is cut short or damaged: {video.num_frames} of the "
        f"{video.announced_frames} frames it announces decode; using the first "
        f"{video.duration_s:.2f} s"
    )


def _rotation_degrees(stream, frame) -> int:
    rot = 0
    try:  # PyAV >= 13 exposes the display matrix rotation on frames
        rot = int(round(getattr(frame, "rotation", 0) or 0))
    except Exception:
        rot = 0
    if not rot:
        meta = dict(getattr(stream, "metadata", {}) or {})
        try:
            rot = int(float(meta.get("rotate", 0)))
        except ValueError:
            rot = 0
    return rot % 360


def _rotate(img: np.ndarray, degrees: int) -> np.ndarray:
    # display-matrix rotation is counter-clockwise; metadata 'rotate' is clockwise
    k = {90: 1, 180: 2, 270: 3}.get(degrees, 0)
    return np.ascontiguousarray(np.rot90(img, k=k)) if k else img


def _frame_to_array(frame, gray: bool, cv2) -> np.ndarray:
    # H.264 frames are yuv420p: OpenCV's I420 -> RGB (BT.601 limited range, as swscale does for
    # such frames) is ~3x faster than PyAV's rgb24 reformat, which dominated decoding time.
    # Other colour spaces/ranges keep the PyAV path.
    if (
        not gray
        and frame.format.name == "yuv420p"
        and frame.width % 2 == 0
        and frame.height % 2 == 0
        and int(getattr(frame, "colorspace", 2) or 2) in (2, 5, 6)  # unspecified, BT.601
        and int(getattr(frame, "color_range", 1) or 1) in (0, 1)  # unspecified, limited (MPEG)
    ):
        return cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420)
    return frame.to_ndarray(format="gray" if gray else "rgb24")


def read_video(
    path: str | os.PathLike,
    *,
    size: int | tuple[int, int] | None = None,
    max_frames: int | None = None,
    gray: bool = False,
) -> VideoFrames:
    """Decode all frames of the first video stream.

    Parameters
    ----------
    size : resize each frame to (size, size) or (width, height) with OpenCV (INTER_AREA).
    max_frames : stop after this many frames.
    gray : return frames as [T, H, W] uint8 luminance instead of RGB.

    Raises `InputError` for a missing/corrupt file, no video stream, or zero frames.
    """
    import cv2

    wh = None if size is None else ((size, size) if isinstance(size, int) else tuple(size))

    def prepare(img: np.ndarray) -> tuple[np.ndarray]:
        if wh is not None:
            img = cv2.resize(img, wh, interpolation=cv2.INTER_AREA)
        return (img,)

    (arr,), info = decode_frames(path, prepare, max_frames=max_frames, gray=gray)
    return info.with_frames(arr)


def decode_frames(
    path: str | os.PathLike,
    prepare: Callable[[np.ndarray], tuple[np.ndarray, ...]],
    *,
    max_frames: int | None = None,
    gray: bool = False,
    keyframes_only: bool = False,
) -> tuple[list[np.ndarray], VideoFrames]:
    """Decode a video one frame at a time, keeping only what `prepare` makes of each frame.

    prepare : frame [H, W, 3] RGB (or [H, W] with `gray`), rotation metadata applied -> a
        tuple of arrays (for instance a small grey copy for the detector and a small colour
        copy for the visual encoder); a full-size frame is never kept, so memory grows with
        the prepared arrays only. keyframes_only : decode only the keyframes (a quick look).
    Returns (one stacked array [T, ...] per item of `prepare`'s tuple, the video's
    `VideoFrames` with empty frames: times, fps, duration, audio, announced frame count;
    `VideoFrames.with_frames` fills them in).
    Raises `InputError` for a missing/corrupt file, no video stream, or zero frames.
    """
    import av
    import cv2

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist")
    try:
        container = av.open(str(path))
    except Exception as err:
        raise InputError(f"{path} is not a readable video file ({type(err).__name__})") from None
    with container:
        if not container.streams.video:
            raise InputError(
                f"{path} has no video stream (audio-only or not a video); give a video file"
            )
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if keyframes_only:
            stream.codec_context.skip_frame = "NONKEY"
        has_audio = bool(container.streams.audio)
        kept: list[tuple[np.ndarray, ...]] = []
        times: list[float] = []
        tb = float(stream.time_base) if stream.time_base else None
        try:
            for frame in container.decode(stream):
                img = _frame_to_array(frame, gray, cv2)
                rot = _rotation_degrees(stream, frame)
                if rot:
                    img = _rotate(img, rot)
                kept.append(prepare(img))
                if frame.pts is not None and tb is not None:
                    times.append(frame.pts * tb)
                elif frame.time is not None:
                    times.append(float(frame.time))
                else:
                    times.append(float("nan"))
                if max_frames is not None and len(kept) >= max_frames:
                    break
        except av.error.FFmpegError as err:
            if not kept:
                raise InputError(
                    f"{path} could not be decoded ({type(err).__name__}); the file may be corrupt"
                ) from None
        if not kept:
            raise InputError(f"{path} has no video frames")
        avg_rate = float(stream.average_rate) if stream.average_rate else 0.0
        # the video stream's own duration; a container's (mkv, webm) may count a longer audio
        # track, so without the stream's the picture's length is taken (below)
        duration = float(stream.duration * tb) if (stream.duration and tb) else 0.0
        announced = int(stream.frames or 0)
    times_s = np.asarray(times, dtype=np.float64)
    if np.isnan(times_s).any():
        rate = avg_rate or 29.97
        times_s = np.arange(len(kept)) / rate
    start = float(times_s[0])
    times_s = times_s - start if start > 0 and start < 1.0 else times_s
    if avg_rate <= 0:
        span = times_s[-1] - times_s[0]
        avg_rate = (len(kept) - 1) / span if span > 0 else 29.97
    if duration <= 0 or (max_frames is None and not keyframes_only and len(kept) < announced):
        # no stated duration, or a cut file: the soundtrack is as long as the picture decoded
        duration = float(times_s[-1] + 1.0 / avg_rate)
    arrays = [np.stack(items) for items in zip(*kept, strict=True)]
    info = VideoFrames(
        frames=np.zeros((0, 0, 0), np.uint8),
        times_s=times_s,
        fps=avg_rate,
        width=0,
        height=0,
        duration_s=duration,
        has_audio=has_audio,
        announced_frames=announced,
        path=str(path),
    )
    return arrays, info
