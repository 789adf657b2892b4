"""Greatest Hits layout: annotation parsing, video discovery, audio from wav or from the mp4."""

from __future__ import annotations

import numpy as np
import pytest
from gh_layout import make_video

from physfoley.data.greatest_hits import (
    discover_videos,
    parse_times,
    read_audio,
    read_times,
)
from physfoley.errors import InputError
from physfoley.materials import MATERIALS


def test_materials_in_paper_order():
    assert MATERIALS == (
        "glass",
        "wood",
        "ceramic",
        "metal",
        "cloth",
        "plastic",
        "drywall",
        "carpet",
        "paper",
        "rock",
    )


def test_parse_times_skips_blank_and_comment_lines_and_lowercases():
    text = "# header\n\n 0.5 wood hit static \n1.25\tMetal  scratch rattle\n\n2 None None None\n"
    anns = parse_times(text)
    assert [(a.time_s, a.material, a.action, a.reaction) for a in anns] == [
        (0.5, "wood", "hit", "static"),
        (1.25, "metal", "scratch", "rattle"),
        (2.0, "none", "none", "none"),
    ]
    assert [a.line for a in anns] == [3, 4, 6]


@pytest.mark.parametrize(
    "bad_line, why",
    [
        ("0.5 wood hit", "4 fields"),
        ("0.5 wood hit static extra", "4 fields"),
        ("abc wood hit static", "not a number"),
        ("-1 wood hit static", "not a number"),
        ("nan wood hit static", "not a number"),
    ],
)
def test_malformed_times_name_file_and_line(tmp_path, bad_line, why):
    path = tmp_path / "v_times.txt"
    path.write_text(f"0.1 wood hit static\n\n{bad_line}\n")
    with pytest.raises(InputError, match=why) as err:
        read_times(path)
    assert str(path) in str(err.value) and "line 3" in str(err.value)


def test_read_times_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_times(tmp_path / "nope_times.txt")


def test_discover_videos_reports_incomplete_entries(tmp_path):
    make_video(tmp_path, "b", [(0.5, "wood", "hit", "static")], seconds=1.0)
    make_video(tmp_path, "a", [(0.5, "wood", "hit", "static")], seconds=1.0, wav=False)
    (tmp_path / "c_times.txt").write_text("0.2 rock hit static\n")
    (tmp_path / "notes.txt").write_text("not a video\n")
    entries = discover_videos(tmp_path)
    assert [e.name for e in entries] == ["a", "b", "c"]
    a, b, c = entries
    assert a.wav_path is None and a.video_path.name == "a_denoised.mp4"
    assert b.wav_path.name == "b_denoised.wav" and b.times_path.name == "b_times.txt"
    assert c.video_path is None and c.times_path is not None


def test_discover_videos_empty_folder(tmp_path):
    with pytest.raises(InputError, match="Greatest Hits layout"):
        discover_videos(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        discover_videos(tmp_path / "missing")


def test_audio_from_mp4_matches_wav(tmp_path):
    hits = [(0.3, "glass", "hit", "static"), (1.1, "wood", "hit", "static")]
    make_video(tmp_path, "v", hits, seconds=1.5, wav=True, mp4_audio=True)
    entry = discover_videos(tmp_path)[0]
    from_wav, src_wav = read_audio(entry, 22050)
    no_wav = type(entry)(entry.name, entry.video_path, None, entry.times_path)
    from_mp4, src_mp4 = read_audio(no_wav, 22050)
    assert (src_wav, src_mp4) == ("wav", "mp4")
    assert from_mp4.dtype == np.float32 and from_mp4.ndim == 1
    assert abs(from_mp4.size - from_wav.size) < 0.05 * 22050
    # the AAC track is aligned with the wav: each burst starts at the same sample (+-1 ms)
    for t, _, _, _ in hits:
        s = int(t * 22050)
        seg_wav = np.abs(from_wav[s - 200 : s + 400])
        seg_mp4 = np.abs(from_mp4[s - 200 : s + 400])
        onset_wav = np.argmax(seg_wav > 0.1)
        onset_mp4 = np.argmax(seg_mp4 > 0.1)
        assert abs(int(onset_wav) - int(onset_mp4)) <= 22


def test_audio_missing_everywhere_is_clear(tmp_path):
    make_video(tmp_path, "v", [(0.5, "wood", "hit", "static")], seconds=1.0, wav=False)
    entry = discover_videos(tmp_path)[0]
    with pytest.raises(InputError, match="no audio track"):
        read_audio(entry, 22050)
