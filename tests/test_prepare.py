"""`physfoley data prepare`: clips, windows, modal parameters, split by video, resume, failures,
and the memory-mapped `ImpactClipDataset` that training reads."""

from __future__ import annotations

import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
from gh_layout import make_video

from physfoley.cli import main
from physfoley.config import get_preset, get_video_preset
from physfoley.data.clips import PrepareOptions, cut_clips
from physfoley.data.datasets import ImpactClipDataset, PreparedData
from physfoley.data.parts import split_videos
from physfoley.data.prepare import prepare_dataset
from physfoley.errors import InputError
from physfoley.video.windows import frame_index_at, onset_windows

CFG = get_preset("small")
VIDEO = get_video_preset("small")
FPS = 30000 / 1001


def _layout(root):
    """5 good videos (one without wav), a corrupt mp4, a malformed times file."""
    make_video(
        root,
        "v0_edges",  # hits near the start and the end: padded windows
        [(0.05, "glass", "hit", "static"), (1.9, "wood", "hit", "static")],
        extra_lines="# a comment and a blank line\n\n",
    )
    make_video(
        root,
        "v1_filter",
        [
            (0.6, "metal", "hit", "static"),
            (0.9, "metal", "scratch", "static"),
            (1.2, "rock", "hit", "rattle"),
            (1.5, "leaf", "hit", "static"),
        ],
    )
    make_video(root, "v2_mp4audio", [(0.7, "carpet", "hit", "static")], wav=False, mp4_audio=True)
    make_video(root, "v3", [(0.8, "wood", "hit", "static"), (1.4, "glass", "hit", "static")])
    make_video(root, "v4", [(1.0, "rock", "hit", "static")])
    (root / "bad_mp4_denoised.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 500)
    (root / "bad_mp4_times.txt").write_text("0.5 wood hit static\n")
    make_video(root, "bad_times", [(0.5, "wood", "hit", "static")])
    (root / "bad_times_times.txt").write_text("0.5 wood hit static\n0.7 wood\n")


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("gh")
    _layout(root)
    return root


@pytest.fixture(scope="module")
def prepared(layout, tmp_path_factory):
    out = tmp_path_factory.mktemp("prep") / "ds"
    summary = prepare_dataset(layout, out, PrepareOptions(preset="small", test_fraction=0.4))
    return out, summary


def test_onset_windows_pads_with_edge_frames():
    times = np.arange(30) / FPS
    onset, window, padded = onset_windows(times, np.array([0.0, 0.5, 29 / FPS + 0.01]), 22)
    assert onset.tolist() == [0, 15, 29]
    assert window.shape == (3, 22)
    assert window[1].tolist() == list(range(4, 26))  # onset - 11 .. onset + 11 exclusive
    assert window[0].tolist() == [0] * 12 + list(range(1, 11))
    assert window[2].tolist() == list(range(18, 30)) + [29] * 10
    assert padded.tolist() == [True, False, True]


def test_onset_windows_use_real_frame_times():
    # variable frame rate: frame times are not k / fps
    times = np.array([0.0, 0.1, 0.15, 0.5, 0.55, 1.0])
    onset, _, _ = onset_windows(times, np.array([0.12, 0.3, 0.52, 0.9]), 4)
    assert onset.tolist() == [1, 2, 3, 5]


def test_frame_index_at_is_the_nearest_frame_everywhere():
    """The one nearest-frame helper: onset frames, detected impacts and annotated frames all
    use it; for one time or many it is argmin |times - t|, ties and repeated frame times going
    to the earliest frame, times outside the video to its first or last frame."""
    times = np.array([0.0, 0.1, 0.2, 0.2, 0.3, 0.5])
    queries = np.array([-1.0, 0.0, 0.05, 0.12, 0.2, 0.21, 0.26, 0.4, 0.45, 9.0])
    want = [int(np.argmin(np.abs(times - q))) for q in queries]
    assert frame_index_at(times, queries).tolist() == want
    assert [frame_index_at(times, float(q)) for q in queries] == want
    assert isinstance(frame_index_at(times, 0.3), int)
    onset, _, _ = onset_windows(times, queries, 4)
    assert onset.tolist() == want


def test_cut_clips_start_at_time_and_zero_pad():
    wave = np.arange(1, 101, dtype=np.float32)
    clips, padded = cut_clips(wave, 10, np.array([0.0, 0.55, 9.5]), 20)
    assert clips[0].tolist() == list(range(1, 21))
    assert clips[1, 0] == 7.0  # 0.55 s x 10 Hz = 5.5 -> np.round -> sample 6 (value 7)
    assert clips[2, :5].tolist() == [96, 97, 98, 99, 100] and not clips[2, 5:].any()
    assert padded.tolist() == [False, False, True]


def test_split_is_by_video_and_deterministic():
    names = [f"video{i}" for i in range(50)]
    a = split_videos(names, 0.2, seed=3)
    assert a == split_videos(list(reversed(names)), 0.2, seed=3)
    assert sum(v == "test" for v in a.values()) == 10
    assert a != split_videos(names, 0.2, seed=4)
    two = split_videos(["x", "y"], 0.1, seed=0)
    assert sorted(two.values()) == ["test", "train"]


def test_prepare_summary_counts_everything(prepared):
    out, s = prepared
    assert s["videos_found"] == 7
    assert s["videos_prepared"] == 5 and s["videos_failed"] == 2
    failed = {f["video"]: f["error"] for f in s["failed"]}
    assert set(failed) == {"bad_mp4", "bad_times"}
    assert "bad_mp4_denoised.mp4" in failed["bad_mp4"]
    assert "bad_times_times.txt line 2" in failed["bad_times"]
    assert s["clips"] == 7  # v0: 2, v1: 1 (scratch, rattle, leaf dropped), v2: 1, v3: 2, v4: 1
    assert s["filtered_out"] == {"material": 1, "action": 1, "reaction": 1}
    assert s["windows_padded"] == 2  # t=0.05 and t=1.9 in a 2 s video
    assert s["clips_audio_padded"] == 1  # t=1.9 + 0.25 s > 2 s
    assert s["audio_from_mp4_videos"] == 1
    assert json.loads((out / "summary.json").read_text()) == s


def test_prepared_arrays_index_and_meta(prepared):
    out, _ = prepared
    data = PreparedData.open(out)
    n = len(data)
    assert n == 7 and data.meta["num_clips"] == 7
    assert data.meta["materials"][0] == "glass" and len(data.meta["materials"]) == 10
    assert data.arrays["waves"].shape == (n, CFG.num_samples)
    assert data.arrays["frames"].shape == (n, 22, VIDEO.image_size, VIDEO.image_size, 3)
    assert data.arrays["frames"].dtype == np.uint8
    for name in ("freq_hz", "power_db", "decay_db_per_s"):
        assert data.arrays[name].shape == (n, CFG.num_freqs)
        assert np.isfinite(data.arrays[name]).all()
    assert isinstance(data.arrays["waves"], np.memmap)
    # every video lies wholly in one split, and both splits are used
    by_video = {}
    for rec in data.index:
        by_video.setdefault(rec["video"], set()).add(rec["split"])
        assert data.materials[rec["material_id"]] == rec["material"]
        assert (rec["action"], rec["reaction"]) == ("hit", "static")
    assert all(len(s) == 1 for s in by_video.values())
    assert {s.pop() for s in by_video.values()} == {"train", "test"}
    assert sorted(np.concatenate([data.indices("train"), data.indices("test")])) == list(range(n))


def test_clip_starts_at_the_hit_and_window_centres_on_onset(prepared):
    out, _ = prepared
    data = PreparedData.open(out)
    recs = {(r["video"], round(r["time_s"], 2)): r for r in data.index}
    # the test bursts start exactly at the annotated time: no pre-roll, decaying after
    for rec in data.index:
        wave = np.abs(data.arrays["waves"][rec["clip_id"]])
        assert int(np.argmax(wave > 0.01)) <= 10, rec
        assert wave[:1000].max() > 5 * wave[-1000:].max()
    # frame k of the test videos has grey level ~4k: window = onset-11 .. onset+10, edges repeated
    mid = recs[("v3", 0.8)]
    assert mid["onset_frame"] == round(0.8 * FPS)
    grey = data.arrays["frames"][mid["clip_id"], :, 0, 0, 0].astype(int)
    expected = 4 * (mid["onset_frame"] + np.arange(-11, 11))
    assert np.abs(grey - expected).max() <= 3
    start = recs[("v0_edges", 0.05)]
    grey = data.arrays["frames"][start["clip_id"], :, 0, 0, 0].astype(int)
    assert start["onset_frame"] == 1 and np.abs(grey[:11]).max() <= 3  # frame 0 repeated
    end = recs[("v0_edges", 1.9)]
    grey = data.arrays["frames"][end["clip_id"], :, 0, 0, 0].astype(int)
    assert (grey[-5:] == grey[-1]).all()  # last frame repeated


def test_modal_parameters_follow_the_sound(prepared):
    out, _ = prepared
    data = PreparedData.open(out)
    hz = {"glass": 3000.0, "wood": 400.0, "metal": 1800.0, "carpet": 150.0, "rock": 900.0}
    for rec in data.index:
        k = int(np.argmax(data.arrays["power_db"][rec["clip_id"]]))
        f = data.arrays["freq_hz"][rec["clip_id"], k]
        assert abs(f - hz[rec["material"]]) < 2 * CFG.sample_rate / CFG.n_fft, rec


def test_dataset_items_and_loader(prepared):
    out, _ = prepared
    train = ImpactClipDataset(out, split="train")
    test = ImpactClipDataset(out, split="test")
    assert len(train) + len(test) == 7 and len(test) >= 1
    item = train[0]
    assert item["wave"].shape == (CFG.num_samples,) and item["wave"].dtype == torch.float32
    assert item["frames"].shape == (22, VIDEO.image_size, VIDEO.image_size, 3)
    assert item["frames"].dtype == torch.uint8
    assert item["freq_hz"].shape == (CFG.num_freqs,)
    assert item["material"].dtype == torch.long and item["index"].dtype == torch.long
    assert int(item["index"]) == int(train.rows[0])
    assert (
        train.materials[int(item["material"])] == train.data.index[int(item["index"])]["material"]
    )
    only = ImpactClipDataset(out, split=None, fields=["wave", "power_db"])
    assert set(only[0]) == {"wave", "power_db", "material", "index"} and len(only) == 7
    with pytest.raises(InputError, match="band_weight"):
        ImpactClipDataset(out, fields=["band_weight"])
    with pytest.raises(InputError, match="unknown split"):
        ImpactClipDataset(out, split="val")
    clone = pickle.loads(pickle.dumps(train))
    assert torch.equal(clone[1]["wave"], train[1]["wave"])
    batch = next(iter(torch.utils.data.DataLoader(only, batch_size=4)))
    assert batch["wave"].shape == (4, CFG.num_samples) and batch["material"].shape == (4,)


def test_open_rejects_what_is_not_a_prepared_folder(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        PreparedData.open(tmp_path / "missing")
    with pytest.raises(InputError, match="no meta.json"):
        PreparedData.open(tmp_path)


def test_resume_skips_done_videos_and_keeps_results(layout, prepared, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(prepared[0], out)
    before = np.array(PreparedData.open(out).arrays["power_db"])
    s = prepare_dataset(layout, out, PrepareOptions(preset="small", test_fraction=0.4))
    assert s["videos_cached"] == 5 and s["videos_new"] == 0 and s["videos_failed"] == 2
    assert s["arrays_rewritten"] is False and s["clips"] == 7
    assert np.array_equal(np.array(PreparedData.open(out).arrays["power_db"]), before)
    # a new video and a changed annotation file: only those two are redone
    root = tmp_path / "gh"
    shutil.copytree(layout, root)
    make_video(root, "v5_new", [(0.4, "glass", "hit", "static")])
    times = root / "v4_times.txt"
    times.write_text("1.0 rock hit static\n0.5 wood hit static\n")
    os.utime(times, ns=(1, 1))
    s = prepare_dataset(root, out, PrepareOptions(preset="small", test_fraction=0.4))
    assert s["videos_new"] == 2 and s["videos_cached"] == 4 and s["clips"] == 9
    assert s["arrays_rewritten"] is True
    data = PreparedData.open(out)
    assert len(data) == 9 and data.arrays["waves"].shape[0] == 9
    assert {r["video"] for r in data.index} >= {"v5_new", "v4"}
    # a corrupt cached part is recomputed, not trusted
    (out / ".parts" / "v3" / "frames.npy").write_bytes(b"broken")
    s = prepare_dataset(root, out, PrepareOptions(preset="small", test_fraction=0.4))
    assert s["videos_new"] == 1 and s["clips"] == 9


def test_out_dir_guards(layout, prepared, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("do not touch")
    with pytest.raises(InputError, match="not a prepared dataset"):
        prepare_dataset(layout, foreign)
    with pytest.raises(InputError, match="another preset or filter"):
        prepare_dataset(layout, prepared[0], PrepareOptions(materials=("wood",)))
    with pytest.raises(InputError, match="unknown materials"):
        prepare_dataset(layout, tmp_path / "x", PrepareOptions(materials=("cheese",)))


def test_parallel_workers_match_serial(layout, prepared, tmp_path):
    out = tmp_path / "par"
    s = prepare_dataset(layout, out, PrepareOptions(preset="small", test_fraction=0.4), workers=2)
    assert s["clips"] == 7 and s["videos_failed"] == 2
    a, b = PreparedData.open(out), PreparedData.open(prepared[0])
    assert a.index == b.index
    for name in ("waves", "frames", "freq_hz", "power_db", "decay_db_per_s"):
        assert np.array_equal(a.arrays[name], b.arrays[name]), name


def test_cli_prepare_json(layout, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(
        ["data", "prepare", str(layout), "--out", str(out), "--json", "--no-progress",
         "--materials", "wood", "glass", "--test-fraction", "0.5"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out)
    assert summary["clips"] == 4 and set(summary["clips_per_material"]) == {"glass", "wood"}
    assert "bad_mp4" in captured.err and "prepared 4 clips" in captured.err
    assert main(["data", "prepare", str(layout / "nothing"), "--out", str(tmp_path / "o")]) == 2
    none = ["--materials", "paper", "--no-progress"]
    assert main(["data", "prepare", str(layout), "--out", str(tmp_path / "p"), *none]) == 2
    assert "no clip passed the filter" in capsys.readouterr().err


@pytest.mark.slow
def test_parallel_processes_match_serial(layout, prepared, tmp_path):
    out = tmp_path / "proc"
    opts = PrepareOptions(preset="small", test_fraction=0.4)
    s = prepare_dataset(layout, out, opts, workers=2, processes=True)
    assert s["clips"] == 7 and s["videos_failed"] == 2
    a, b = PreparedData.open(out), PreparedData.open(prepared[0])
    assert a.index == b.index
    assert np.array_equal(a.arrays["power_db"], b.arrays["power_db"])


def test_prepare_real_greatest_hits_clips_audio_from_mp4(gh_demo_dir, tmp_path):
    """Real 224x224 H.264 + AAC stereo clips, laid out as Greatest Hits (no wav: audio from mp4)."""
    truth = json.loads((gh_demo_dir / "impact_times.json").read_text())
    root = tmp_path / "real"
    root.mkdir()
    chosen = sorted(truth)[:3]
    for k, clip in enumerate(chosen):
        name = f"real{k}"
        os.symlink(gh_demo_dir / clip, root / f"{name}_denoised.mp4")
        times = truth[clip]["impact_times_s"]
        (root / f"{name}_times.txt").write_text(
            "".join(f"{t:.4f} wood hit static\n" for t in times)
        )
    s = prepare_dataset(root, tmp_path / "out", PrepareOptions(preset="small"))
    expected = sum(len(truth[c]["impact_times_s"]) for c in chosen)
    assert s["videos_failed"] == 0 and s["audio_from_mp4_videos"] == 3
    assert s["clips"] == expected
    data = PreparedData.open(tmp_path / "out")
    for rec in data.index:
        clip = chosen[int(rec["video"][4:])]
        assert rec["onset_frame"] == round(rec["time_s"] * truth[clip]["fps"])
        # each impact sound starts at its annotated time: loud in the first 20 ms of the clip
        wave = np.abs(data.arrays["waves"][rec["clip_id"]])
        assert wave[: int(0.02 * CFG.sample_rate)].max() > 0.3 * wave.max()


def test_add_residual_arrays_then_dataset_serves_them(prepared, tmp_path):
    from physfoley.data.prepare import add_arrays

    out = tmp_path / "ds"
    shutil.copytree(prepared[0], out)
    n = PreparedData.open(out).meta["num_clips"]
    weight = np.random.default_rng(0).uniform(0, 1, (n, 100)).astype(np.float32)
    add_arrays(out, {"band_weight": weight, "band_decay_db_per_s": np.full((n, 100), 60.0)})
    data = PreparedData.open(out)
    assert data.has_residual and "band_weight" in data.meta["arrays"]
    item = ImpactClipDataset(out, split=None, fields=["band_weight"])[2]
    assert torch.allclose(item["band_weight"], torch.from_numpy(weight[2]))
    with pytest.raises(InputError, match="rows"):
        add_arrays(out, {"band_weight": weight[:2], "band_decay_db_per_s": weight[:2]})
    with pytest.raises(InputError, match="exactly"):
        add_arrays(out, {"band_weight": weight})
