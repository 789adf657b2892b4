"""Put a new soundtrack on a video without re-encoding the picture (PyAV remux).

The last step of the flow: the synthesised soundtrack is encoded as AAC and muxed next to the
input's video packets, which are copied as they are (no decode, no quality loss, fast). Any audio
stream the input had is replaced. The output is written to a temp file and renamed on success.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from physfoley.atomic import atomic_path, check_output_path
from physfoley.errors import InputError


def mux_audio(
    video_in: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int,
    video_out: str | os.PathLike,
    *,
    force: bool = False,
    audio_bitrate: int = 128_000,
) -> Path:
    """Write `video_out`: the video stream of `video_in` (copied) plus `audio` encoded as AAC.

    Parameters
    ----------
    video_in : a video file PyAV can open (mp4, mov, mkv, ...).
    audio : np.ndarray[N] (mono) or [C, N] float in [-1, 1] at `sample_rate` Hz.
    video_out : output path; its extension picks the container (.mp4, .mov, .mkv, .m4v).
    force : replace an existing `video_out`.

    Raises `InputError` for a missing/unreadable input, a file without video, bad audio, or a
    container that cannot hold the input's video codec.
    """
    import av

    video_in, video_out = Path(video_in), Path(video_out)
    check_output_path(video_out, force=force)
    if video_in.resolve() == video_out.resolve():
        raise InputError("the output video must be a different file from the input video")
    if video_out.suffix.lower() not in (".mp4", ".mov", ".m4v", ".mkv"):
        raise InputError(
            f"unsupported video extension {video_out.suffix!r}; use .mp4, .mov or .mkv"
        )
    wave = np.asarray(audio, dtype=np.float32)
    if wave.ndim == 1:
        wave = wave[None]
    if wave.ndim != 2 or wave.shape[0] not in (1, 2) or wave.shape[1] == 0:
        raise InputError(f"audio must be [N] or [channels<=2, N] samples; got {np.shape(audio)}")
    if not np.all(np.isfinite(wave)):
        raise InputError("refusing to mux audio with NaN or infinite samples")
    wave = np.ascontiguousarray(np.clip(wave, -1.0, 1.0))
    if not video_in.is_file():
        raise InputError(f"{video_in} does not exist")
    try:
        src = av.open(str(video_in))
    except Exception as err:
        raise InputError(
            f"{video_in} is not a readable video file ({type(err).__name__})"
        ) from None
    with src, atomic_path(video_out, force=force) as tmp:
        if not src.streams.video:
            raise InputError(f"{video_in} has no video stream")
        in_video = src.streams.video[0]
        with av.open(str(tmp), mode="w") as dst:
            try:
                out_video = dst.add_stream_from_template(in_video)
            except Exception as err:
                raise InputError(
                    f"cannot copy the {in_video.codec_context.name} video of {video_in} into a "
                    f"{video_out.suffix} file ({type(err).__name__}); try .mkv"
                ) from None
            layout = "mono" if wave.shape[0] == 1 else "stereo"
            out_audio = dst.add_stream("aac", rate=int(sample_rate), layout=layout)
            out_audio.bit_rate = audio_bitrate
            for packet in src.demux(in_video):
                if packet.dts is None:  # the demuxer's flush packet
                    continue
                packet.stream = out_video
                dst.mux(packet)
            frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout=layout)
            frame.sample_rate = int(sample_rate)
            frame.pts = 0
            for packet in out_audio.encode(frame):
                dst.mux(packet)
            for packet in out_audio.encode(None):
                dst.mux(packet)
    return video_out
