"""Put a new soundtrack on a video without re-encoding the picture (PyAV remux).

The last step of the flow: the synthesised soundtrack is encoded (AAC; Opus in WebM) and muxed
next to the input's video packets, which are copied as they are (no decode, no quality loss).
What happens to the input's own sound is the caller's choice (`ORIGINAL_AUDIO`): replaced
(the default, as MMAudio does), kept as a second track, or mixed in at a gain. The output is
written to a temp file, decoded again to check that it holds every frame the input's picture
decodes to, and only then renamed into place.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from physfoley.atomic import atomic_path, check_output_path
from physfoley.errors import InputError, PhysfoleyError

#: Containers a soundtrack can be muxed into, and the audio codec each one gets.
AUDIO_CODEC_OF = {".mp4": "aac", ".m4v": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus"}
#: FFmpeg's name of each container.
FORMAT_OF = {".mp4": "mp4", ".m4v": "ipod", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
#: Video codecs a WebM file can hold (the others hold what FFmpeg can put in them).
WEBM_VIDEO_CODECS = ("vp8", "vp9", "av1")
#: What `mux_audio` does with the input's own audio track.
ORIGINAL_AUDIO = ("replace", "keep", "mix")
#: Sample rate of the Opus encoder (Opus takes 48 kHz and a few lower rates only).
OPUS_RATE_HZ = 48_000


def check_video_out(video_in: str | os.PathLike, video_out: str | os.PathLike) -> None:
    """Refuse, before any work, an output container that cannot take the input's picture.

    Raises `InputError` for an unknown suffix (naming the supported ones) or a video codec
    the container cannot hold (H.264 in WebM, VP9 in MOV): a header is written in memory.
    """
    import av

    suffix = Path(video_out).suffix.lower()
    if suffix not in AUDIO_CODEC_OF:
        raise InputError(
            f"unsupported video extension {suffix!r}; use one of {', '.join(AUDIO_CODEC_OF)}"
        )
    if suffix == ".webm":
        codec = video_codec(video_in)
        if codec not in WEBM_VIDEO_CODECS:
            raise InputError(
                f"a .webm file holds VP8, VP9 or AV1 video, and {video_in} is {codec}; "
                "write .mp4, .mov or .mkv (the picture is copied, not re-encoded)"
            )
    codec = video_codec(video_in)
    with av.open(str(video_in)) as src:
        try:
            with av.open(io.BytesIO(), mode="w", format=FORMAT_OF[suffix]) as probe:
                probe.add_stream_from_template(src.streams.video[0])
                probe.start_encoding()
        except (av.error.FFmpegError, ValueError):
            raise InputError(
                f"a {suffix} file cannot hold the {codec} video of {video_in}; write .mkv "
                "(the picture is copied, not re-encoded)"
            ) from None


def video_codec(path: str | os.PathLike) -> str:
    """Name of the codec of the first video stream of `path` (e.g. "h264", "vp9")."""
    import av

    try:
        with av.open(str(path)) as src:
            if not src.streams.video:
                raise InputError(f"{path} has no video stream")
            return src.streams.video[0].codec_context.name
    except av.error.FFmpegError as err:
        raise InputError(f"{path} is not a readable video file ({type(err).__name__})") from None


def original_audio(path: str | os.PathLike, sample_rate: int, channels: int) -> np.ndarray:
    """The first audio track of `path` as float32 [channels, N] at `sample_rate` Hz.

    Raises `InputError` when `path` has no audio track or it cannot be decoded.
    """
    import av

    layout = "mono" if channels == 1 else "stereo"
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as src:
            if not src.streams.audio:
                raise InputError(
                    f"{path} has no audio track to keep or mix; use --original-audio replace"
                )
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=int(sample_rate))
            try:
                for frame in src.decode(src.streams.audio[0]):
                    chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
            except av.error.FFmpegError:
                if not chunks:  # a cut file: keep what decoded before the damage
                    raise
            chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    except av.error.FFmpegError as err:
        raise InputError(f"the audio of {path} cannot be decoded ({type(err).__name__})") from None
    if not chunks:
        return np.zeros((channels, 0), np.float32)
    return np.concatenate(chunks, axis=1).astype(np.float32)


def mix_original(
    wave: np.ndarray, original: np.ndarray, gain_db: float, peak: float = 0.99
) -> np.ndarray:
    """wave [C, N] + original [C, M] x 10^(gain_db / 20), cut or padded to N samples, scaled
    down to `peak` only when the sum would clip. Returns [C, N] float32."""
    n = wave.shape[1]
    part = np.zeros_like(wave)
    m = min(n, original.shape[1])
    part[:, :m] = original[:, :m]
    mixed = wave + part * np.float32(10.0 ** (gain_db / 20.0))
    top = float(np.max(np.abs(mixed))) if mixed.size else 0.0
    return (mixed * (peak / top) if top >= 1.0 else mixed).astype(np.float32)


def _encode_audio(dst, codec: str, wave: np.ndarray, sample_rate: int, bitrate: int):
    """Add an audio stream of `codec` to `dst` and encode wave [C, N] into it."""
    import av

    layout = "mono" if wave.shape[0] == 1 else "stereo"
    rate = OPUS_RATE_HZ if codec == "libopus" else int(sample_rate)
    stream = dst.add_stream(codec, rate=rate, layout=layout)
    stream.bit_rate = bitrate
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave), format="fltp", layout=layout)
    frame.sample_rate, frame.pts = int(sample_rate), 0
    frames = [frame]
    if rate != int(sample_rate):
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        frames = [*resampler.resample(frame), *resampler.resample(None)]
    return stream, frames


def _count_frames(path: Path) -> int:
    """Frames the first video stream of `path` decodes to (0 when it cannot be read)."""
    import av

    count = 0
    try:
        with av.open(str(path)) as cont:
            for _ in cont.decode(cont.streams.video[0]):
                count += 1
    except av.error.FFmpegError:
        pass
    return count


def mux_audio(
    video_in: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int,
    video_out: str | os.PathLike,
    *,
    force: bool = False,
    audio_bitrate: int = 128_000,
    original: str = "replace",
    original_gain_db: float = 0.0,
) -> Path:
    """Write `video_out`: the video stream of `video_in` (copied) plus `audio`.

    Parameters
    ----------
    video_in : a video file PyAV can open (mp4, mov, mkv, webm, ...).
    audio : np.ndarray[N] (mono) or [C, N] float in [-1, 1] at `sample_rate` Hz.
    video_out : output path; its suffix picks the container (`AUDIO_CODEC_OF`).
    force : replace an existing `video_out`.
    original : "replace" drops the input's audio; "keep" adds it as a second track after
        the new one; "mix" adds it into the new soundtrack at `original_gain_db` dB.

    Raises `InputError` for a missing/unreadable input, a file without video, bad audio, a
    container that cannot hold the input's video codec, or keep/mix without an audio track;
    `PhysfoleyError` when the written file does not decode to every frame the input does.
    """
    import av

    video_in, video_out = Path(video_in), Path(video_out)
    check_output_path(video_out, force=force)
    if video_in.resolve() == video_out.resolve():
        raise InputError("the output video must be a different file from the input video")
    if original not in ORIGINAL_AUDIO:
        raise InputError(f"original audio must be one of {', '.join(ORIGINAL_AUDIO)}")
    wave = np.asarray(audio, dtype=np.float32)
    if wave.ndim == 1:
        wave = wave[None]
    if wave.ndim != 2 or wave.shape[0] not in (1, 2) or wave.shape[1] == 0:
        raise InputError(f"audio must be [N] or [channels<=2, N] samples; got {np.shape(audio)}")
    if not np.all(np.isfinite(wave)):
        raise InputError("refusing to mux audio with NaN or infinite samples")
    if not video_in.is_file():
        raise InputError(f"{video_in} does not exist")
    check_video_out(video_in, video_out)
    codec = AUDIO_CODEC_OF[video_out.suffix.lower()]
    extra = None
    if original != "replace":
        extra = original_audio(video_in, sample_rate, wave.shape[0])
        if original == "mix":
            wave, extra = mix_original(wave, extra, original_gain_db), None
    src = av.open(str(video_in))
    with src, atomic_path(video_out, force=force) as tmp:
        in_video = src.streams.video[0]
        try:
            decoded = _remux(src, tmp, codec, [wave, extra], sample_rate, audio_bitrate)
        except (av.error.FFmpegError, ValueError) as err:
            raise InputError(
                f"cannot write the {in_video.codec_context.name} video of {video_in} into a "
                f"{video_out.suffix} file ({type(err).__name__}); try .mkv"
            ) from None
        written = _count_frames(tmp)
        if written < decoded:
            raise PhysfoleyError(
                f"the video written for {video_out} decodes to {written} of the {decoded} "
                f"frames of {video_in}; nothing was written (try .mkv)"
            )
    return video_out


def _remux(src, tmp: Path, codec: str, waves: list, sample_rate: int, bitrate: int) -> int:
    """Copy the video packets of `src` into a new file `tmp` and encode each of `waves`
    ([C, N], None skipped) as an audio track; returns the frames the input's picture decodes
    to (counted on the way)."""
    import av

    in_video = src.streams.video[0]
    decoded = 0
    with av.open(str(tmp), mode="w") as dst:
        out_video = dst.add_stream_from_template(in_video)
        tracks = [
            _encode_audio(dst, codec, np.clip(w, -1.0, 1.0), sample_rate, bitrate)
            for w in waves
            if w is not None and w.shape[1]
        ]
        for packet in src.demux(in_video):
            if packet.size == 0:  # the demuxer's flush packet (mkv gives dts None to real ones)
                continue
            try:  # count what the input's picture decodes to, on the way
                decoded += len(packet.decode())
            except av.error.FFmpegError:
                pass
            packet.stream = out_video
            dst.mux(packet)
        try:
            decoded += len(in_video.codec_context.decode(None))
        except av.error.FFmpegError:
            pass
        for stream, frames in tracks:
            for frame in [*frames, None]:
                for packet in stream.encode(frame):
                    dst.mux(packet)
    return decoded
