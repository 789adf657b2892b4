"""mux_audio: the video stream is copied bit for bit, the new AAC soundtrack replaces any old audio."""

from __future__ import annotations

import av
import numpy as np
import pytest

from physfoley.errors import InputError, OutputExistsError
from physfoley.video.mux import mux_audio


def make_video(path, *, seconds=1.0, fps=25, size=48, audio=False):
    """Write a small H.264 test video (a moving bar), optionally with a silent AAC track."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        astream = out.add_stream("aac", rate=44100) if audio else None
        for i in range(int(seconds * fps)):
            img = np.zeros((size, size, 3), np.uint8)
            img[:, (3 * i) % size] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if astream is not None:
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, int(44100 * seconds)), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 44100, 0
            for packet in [*astream.encode(frame), *astream.encode(None)]:
                out.mux(packet)
    return path


def _video_packets(path):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def _audio(path):
    with av.open(str(path)) as c:
        assert len(c.streams.audio) == 1
        stream = c.streams.audio[0]
        wave = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(stream)])
        return stream.codec_context.name, stream.sample_rate, wave


def test_mux_copies_video_and_replaces_audio(tmp_path):
    src = make_video(tmp_path / "in.mp4", audio=True)
    sr = 22050
    t = np.arange(sr) / sr
    tone = 0.5 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    out = mux_audio(src, tone, sr, tmp_path / "out.mp4")
    assert _video_packets(out) == _video_packets(src)  # no re-encode
    codec, got_sr, wave = _audio(out)
    assert codec == "aac" and got_sr == sr
    assert abs(len(wave) - sr) < 3 * 1024  # AAC priming/padding only
    spectrum = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spectrum) * got_sr / len(wave) - 440) < 5  # it is our tone, not silence


def test_mux_refuses_overwrite_and_leaves_nothing_on_error(tmp_path):
    src = make_video(tmp_path / "in.mp4")
    target = tmp_path / "out.mp4"
    target.write_bytes(b"keep")
    with pytest.raises(OutputExistsError):
        mux_audio(src, np.zeros(100, np.float32), 22050, target)
    assert target.read_bytes() == b"keep"
    mux_audio(src, np.zeros(22050, np.float32), 22050, target, force=True)
    assert target.stat().st_size > 100
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InputError, match="NaN"):
        mux_audio(src, np.full(100, np.nan, np.float32), 22050, tmp_path / "x.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(InputError, match="not a readable video"):
        mux_audio(bad, np.zeros(100, np.float32), 22050, tmp_path / "y.mp4")
    with pytest.raises(InputError, match="extension"):
        mux_audio(src, np.zeros(100, np.float32), 22050, tmp_path / "z.avi")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "bad.mp4"])
