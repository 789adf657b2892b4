"""SynthHits: layout files, exact ground truth (checked from the written files alone), determinism."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from physfoley.cli import main as cli_main
from physfoley.data.synthhits import MATERIALS, generate_dataset, generate_video
from physfoley.data.synthhits.events import Event
from physfoley.data.synthhits.materials import MATERIAL_TABLE
from physfoley.data.synthhits.modes import sample_object, strike_shape
from physfoley.data.synthhits.sound import hertz_contact_time, modal_sum
from physfoley.data.synthhits.stroke import tip_trajectory
from physfoley.errors import InputError
from physfoley.video.io import read_video

FPS = 30000 / 1001


def audio_onset(wave: np.ndarray, sr: int, t: float) -> float | None:
    """Onset near annotated time t from a 1 ms energy envelope of the pre-emphasised signal
    (first difference, as onset detectors weight high frequencies): the first time the
    envelope climbs a quarter of the way from the level just before to the peak just after."""
    wave = np.diff(wave, prepend=wave[:1])
    hop = 44  # ~1 ms
    n = len(wave) // hop
    env = np.sqrt(np.mean(wave[: n * hop].reshape(n, hop) ** 2, axis=1))
    ms = sr / hop / 1000.0  # envelope frames per millisecond
    c = int(round(t * sr / hop))
    before = env[max(c - int(40 * ms), 0) : max(c - int(12 * ms), 1)]
    after = env[c : c + int(30 * ms)]
    if len(before) == 0 or len(after) == 0:
        return None
    base, peak = float(before.max()), float(after.max())
    if peak < 2.0 * base:  # not audible over what came before: ground truth would be wrong
        return None
    lo = max(c - int(12 * ms), 0)
    above = np.nonzero(env[lo : c + int(30 * ms)] > base + 0.25 * (peak - base))[0]
    return (lo + above[0] + 0.5) * hop / sr


def stick_mask(frames: np.ndarray, rgb) -> np.ndarray:
    """Pixels of the painted drumstick (hue close to its colour, saturated), [T, H, W] bool."""
    target = cv2.cvtColor(np.uint8([[rgb]]), cv2.COLOR_RGB2HSV_FULL)[0, 0].astype(int)
    out = []
    for f in frames:
        hsv = cv2.cvtColor(f, cv2.COLOR_RGB2HSV_FULL).astype(int)
        dh = np.abs(((hsv[..., 0] - target[0] + 128) % 256) - 128)
        out.append((dh < 14) & (hsv[..., 1] > 90) & (hsv[..., 2] > 40))
    return np.stack(out)


def contact_frame_from_video(
    mask: np.ndarray, x: float, y: float, around: int, scratch: bool
) -> int:
    """Frame (near `around`) where the stick's tip meets the surface at (x, y): for a hit, the
    first frame where its lowest pixel is at (within 1.5 px of) its lowest; for a scratch the tip
    then slides away along the surface, so only frames up to one after `around` count."""
    xi, yi = int(round(x)), int(round(y))
    frames = list(range(max(around - 3, 0), min(around + 4, mask.shape[0])))
    lows = []
    for f in frames:
        win = mask[f, max(yi - 40, 0) : yi + 4, max(xi - 8, 0) : xi + 9]
        rows = np.nonzero(win.sum(axis=1) >= 2)[0]  # >= 2 pixels: not a speck of noise
        lows.append(rows.max() + max(yi - 40, 0) if len(rows) else -1)
    lows = np.array(lows)
    if scratch:  # after touch-down the tip slides out of the window: look up to one frame after
        lows = np.where(np.array(frames) <= around + 1, lows, -1)
    found = np.nonzero(lows >= lows.max() - 1.5)[0]
    return frames[int(found[0])] if len(found) else None


def check_ground_truth(folder: Path) -> dict:
    counts = {"hits": 0, "audio_ok": 0, "frame_ok": 0, "videos": 0}
    errors = []
    for js in sorted(folder.glob("*_physics.json")):
        stem = str(js)[: -len("_physics.json")]
        rec = json.loads(js.read_text())
        wave, sr = sf.read(stem + "_denoised.wav", dtype="float32")
        assert sr == 44100 and wave.ndim == 1
        video = read_video(stem + "_denoised.mp4")
        assert video.frames.shape[1:] == (224, 224, 3)
        assert abs(video.fps - FPS) < 1e-3
        times = [line.split() for line in Path(stem + "_times.txt").read_text().splitlines()]
        assert len(times) == len(rec["hits"])
        mask = stick_mask(video.frames, rec["striker"]["color_rgb"])
        counts["videos"] += 1
        for line, hit in zip(times, rec["hits"], strict=True):
            t = float(line[0])
            assert line[1] in MATERIALS and line[2] in ("hit", "scratch")
            assert line[3] in ("static", "rattle")
            assert abs(t - hit["time_s"]) < 1e-6 and line[1] == hit["material"]
            counts["hits"] += 1
            onset = audio_onset(wave, sr, t)
            if onset is not None and abs(onset - t) <= 0.005:
                counts["audio_ok"] += 1
            else:
                errors.append((js.name, t, "audio", onset))
            cf = contact_frame_from_video(
                mask,
                hit["striker_px"]["x"],
                hit["striker_px"]["y"],
                int(round(t * FPS)),
                hit["action"] == "scratch",
            )
            if (
                cf is not None
                and abs(cf - hit["contact_frame"]) <= 1
                and hit["contact_frame"] == round(t * FPS)
            ):
                counts["frame_ok"] += 1
            else:
                errors.append((js.name, t, "frame", cf, hit["contact_frame"]))
    counts["errors"] = errors
    return counts


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthhits")
    generate_dataset(out, videos=20, seconds=2.0, seed=11, workers=1)
    return out


def test_layout_files_and_ground_truth_are_exact(small_dataset):
    counts = check_ground_truth(small_dataset)
    assert counts["videos"] == 20 and counts["hits"] >= 25
    assert counts["errors"] == [], counts["errors"]


@pytest.mark.slow
def test_ground_truth_exact_on_40_videos_of_6_s(tmp_path):
    generate_dataset(tmp_path, videos=40, seconds=6.0, seed=5, workers=2)
    counts = check_ground_truth(tmp_path)
    assert counts["videos"] == 40 and counts["hits"] >= 120
    assert counts["errors"] == [], counts["errors"]


def test_physics_record_has_contract_fields(small_dataset):
    rec = json.loads(next(small_dataset.glob("*_physics.json")).read_text())
    assert rec["meters_per_pixel"] > 0 and rec["sample_rate"] == 44100
    assert {"rt60_s", "drr_db"} <= set(rec["room"]) and "snr_db" in rec["noise"]
    hit = rec["hits"][0]
    for key in (
        "time_s", "contact_frame", "material", "object_id", "modes", "strike_position",
        "striker_mass_kg", "speed_before_m_s", "speed_after_m_s", "speed_before_px_s",
        "speed_after_px_s", "striker_px",
    ):  # fmt: skip
        assert key in hit, key
    assert hit["speed_before_px_s"] == pytest.approx(
        hit["speed_before_m_s"] / rec["meters_per_pixel"], rel=1e-3
    )
    modes = hit["modes"]
    assert len(modes["freq_hz"]) == len(modes["power_db"]) == len(modes["decay_db_per_s"]) > 0
    obj = rec["objects"][hit["object_id"]]
    assert obj["material"] == hit["material"] and obj["mass_kg"] > 0


def test_same_seed_same_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    generate_video(a, "x", [3, 1], seconds=2.0)
    generate_video(b, "x", [3, 1], seconds=2.0)
    for suffix in ("_denoised.wav", "_times.txt", "_physics.json"):
        assert (a / f"x{suffix}").read_bytes() == (b / f"x{suffix}").read_bytes(), suffix
    generate_video(b, "y", [3, 2], seconds=2.0)
    assert (a / "x_physics.json").read_bytes() != (b / "y_physics.json").read_bytes()


def test_refuses_overwrite_without_force(tmp_path):
    generate_video(tmp_path, "x", 1, seconds=2.0)
    with pytest.raises(InputError):
        generate_video(tmp_path, "x", 1, seconds=2.0)
    generate_video(tmp_path, "x", 1, seconds=2.0, force=True)


def test_physics_faster_strike_is_shorter_and_brighter():
    slow = hertz_contact_time(0.05, 0.006, 0.5, 70e9, 0.5)
    fast = hertz_contact_time(0.05, 0.006, 0.5, 70e9, 3.0)
    soft = hertz_contact_time(0.05, 0.006, 0.5, 2e6, 3.0)
    assert fast < slow < soft


def test_modal_sum_matches_direct_formula():
    f = np.array([440.0, 1234.5]), np.array([1.0, 0.5]), np.array([3.0, 20.0])
    n, sr = 5000, 44100
    t = np.arange(n) / sr
    direct = (f[1] * np.exp(-np.outer(t, f[2])) * np.sin(2 * np.pi * np.outer(t, f[0]))).sum(1)
    np.testing.assert_allclose(modal_sum(*f, n, sr), direct, atol=1e-4)


def test_material_damping_and_geometry_set_modes():
    rng = np.random.default_rng(0)
    metal = [sample_object(MATERIAL_TABLE["metal"], rng, max_length_m=0.3) for _ in range(20)]
    cloth = [sample_object(MATERIAL_TABLE["cloth"], rng, max_length_m=0.3) for _ in range(20)]
    med = lambda objs: np.median([np.median(o.decay_per_s) for o in objs])  # noqa: E731
    assert med(metal) * 5 < med(cloth)
    for o in metal + cloth:
        assert np.all(np.diff(o.freq_hz) >= 0) and len(o.freq_hz) > 0
        shape = strike_shape(o, 0.3, 0.6)
        assert shape.shape == o.freq_hz.shape and np.all(shape > 0)


def test_cli_synth_and_resume(tmp_path, capsys):
    out = tmp_path / "ds"
    assert (
        cli_main(["data", "synth", "--out", str(out), "--videos", "1", "--seconds", "2", "--json"])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["made"] == 1
    assert (
        cli_main(["data", "synth", "--out", str(out), "--videos", "1", "--seconds", "2", "--json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["skipped"] == 1
    assert cli_main(["data", "synth", "--out", str(out), "--videos", "1", "--seconds", "3"]) == 2


def test_dataset_balances_materials_and_writes_manifest(small_dataset):
    manifest = json.loads((small_dataset / "synthhits.json").read_text())
    assert manifest["videos"] == 20 and manifest["seed"] == 11
    for i, name in enumerate(manifest["names"]):
        rec = json.loads((small_dataset / f"{name}_physics.json").read_text())
        assert rec["objects"][0]["material"] == MATERIALS[(11 + i) % len(MATERIALS)]
        assert 1 <= len(rec["objects"]) <= 3
        assert len({o["material"] for o in rec["objects"]}) == len(rec["objects"])


def test_dataset_does_not_depend_on_workers(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    generate_dataset(one, videos=3, seconds=2.0, seed=7, workers=1)
    generate_dataset(two, videos=3, seconds=2.0, seed=7, workers=2)
    for path in sorted(one.glob("*_physics.json")) + sorted(one.glob("*.wav")):
        assert path.read_bytes() == (two / path.name).read_bytes(), path.name


def test_backswing_off_is_unchanged_and_on_changes_only_the_picture(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for d in (a, b, c):
        d.mkdir()
    generate_video(a, "x", [5, 1], seconds=2.5)
    generate_video(b, "x", [5, 1], seconds=2.5, backswing_prob=0.0)
    rec = generate_video(c, "x", [5, 1], seconds=2.5, backswing_prob=1.0)
    for suffix in ("_denoised.wav", "_times.txt", "_physics.json", "_denoised.mp4"):
        assert (a / f"x{suffix}").read_bytes() == (b / f"x{suffix}").read_bytes(), suffix
    for suffix in ("_denoised.wav", "_times.txt"):  # the back-swing is silent
        assert (a / f"x{suffix}").read_bytes() == (c / f"x{suffix}").read_bytes(), suffix
    plain = json.loads((a / "x_physics.json").read_text())
    swung = [h for h in rec["hits"] if "backswing" in h]
    assert swung and all(h["action"] == "hit" for h in swung)
    stripped = json.loads((c / "x_physics.json").read_text())
    for h in stripped["hits"]:
        h.pop("backswing", None)
    assert stripped == plain  # only the back-swing keys were added
    # the picture: the stick's tip (its lowest pixel near the contact column) rises into the top
    video = read_video(c / "x_denoised.mp4")
    mask = stick_mask(video.frames, rec["striker"]["color_rgb"])
    for h in swung:
        bs = h["backswing"]
        top, cf = bs["top_frame"], h["contact_frame"]
        assert 0 < cf - top <= round(0.35 * FPS) and bs["pause_frames"] in (0, 1, 2)
        assert 0.05 <= bs["rise_s"] <= 0.2 + 1e-9
        ratio = bs["rise_speed_m_s"] / h["speed_before_m_s"]
        assert 0.4 - 1e-6 <= ratio <= 1.0 + 1e-6
        xi, yi = int(round(h["striker_px"]["x"])), int(round(h["striker_px"]["y"]))
        win = mask[:, : yi + 4, max(xi - 10, 0) : xi + 11]
        low = [np.nonzero(win[f].sum(axis=1) >= 2)[0].max() for f in (top - 2, top)]
        assert low[1] <= low[0] - 2, (top, low)  # the tip went up by at least 2 px


def test_backswing_tip_path_rises_stops_and_holds():

    def one_hit():
        ev = Event(
            time_s=1.5, object_id=0, action="hit", reaction="static", x_px=100.0, y_px=150.0,
            u=0.5, v=0.5, speed_before_m_s=1.5, speed_after_m_s=0.5, t_down_s=0.12,
        )  # fmt: skip
        ev.y_px_end = ev.y_px
        ev.surface = lambda x: 150.0
        return ev

    mpp, times = 0.0015, np.arange(60) / FPS
    plain_ev, ev = one_hit(), one_hit()
    x0, y0 = tip_trajectory([plain_ev], times, mpp, (112.0, 150.0))
    rng = np.random.default_rng(0)
    x1, y1 = tip_trajectory([ev], times, mpp, (112.0, 150.0), backswing_prob=1.0, backswing_rng=rng)
    bs = ev.backswing
    assert bs is not None and plain_ev.backswing is None
    top, pause = bs["top_frame"], bs["pause_frames"]
    t_rise = bs["t_top"] - bs["rise_s"]
    descent = times >= ev.time_s - ev.t_down_s
    np.testing.assert_array_equal(y1[descent], y0[descent])  # the descent is unchanged
    np.testing.assert_array_equal(x1, x0)  # straight up and down at the contact column
    assert np.all(y1[top : top + pause + 1] == y1[top])  # held at the top
    h0 = 0.7 * ev.speed_before_m_s / mpp * ev.t_down_s  # height of the descent's start
    assert y1[top] == pytest.approx(ev.y_px - h0) == pytest.approx(bs["y_top"])
    rising = np.nonzero((times > t_rise) & (times <= bs["t_top"] + 1e-9))[0]
    assert len(rising) >= 2 and np.all(np.diff(y1[rising[0] - 1 : top + 1]) < 0)
    assert y1[top + pause + 1] > y1[top]  # then down into the hit
    # it stops at full speed: the last rising step is the fastest (px/frame ~ rise speed)
    steps = -np.diff(y1[rising[0] - 1 : top + 1])
    assert steps[-1] == steps.max()
    assert steps[-1] * FPS == pytest.approx(bs["rise_speed_m_s"] / mpp, rel=0.35)


def test_cli_synth_rejects_bad_backswing(tmp_path, capsys):
    for bad in ("1.5", "-0.1"):
        args = ["data", "synth", "--out", str(tmp_path / "d"), "--videos", "1"]
        assert cli_main([*args, "--seconds", "2", "--backswing", bad]) == 2
    assert "--backswing must be in [0, 1]" in capsys.readouterr().err
    with pytest.raises(InputError):
        generate_video(tmp_path, "x", 1, seconds=2.0, backswing_prob=2.0)
    generate_dataset(tmp_path / "ds", videos=1, seconds=2.0, seed=3)
    with pytest.raises(InputError, match="other settings"):  # no mixing into a P=0 dataset
        generate_dataset(tmp_path / "ds", videos=1, seconds=2.0, seed=3, backswing_prob=0.5)


def test_backswing_never_dips_into_the_rise():
    """The tip never moves down between the previous stroke and a back-swing's top: a glide
    down into the rise would be a downward stop and turn in mid-air (a light tap to an impact
    detector). Where the glide arrives above the planned start, the rise starts there."""

    def hit(t, y_end_lift):
        ev = Event(
            time_s=t, object_id=0, action="hit", reaction="static", x_px=100.0, y_px=150.0,
            u=0.5, v=0.5, speed_before_m_s=1.5, speed_after_m_s=y_end_lift, t_down_s=0.12,
        )  # fmt: skip
        ev.y_px_end = ev.y_px
        ev.surface = lambda x: 150.0
        return ev

    mpp, times = 0.0015, np.arange(90) / FPS
    swung = 0
    for seed in range(20):
        # a hard rebound (high end point) before the second hit, which gets the back-swing
        first, second = hit(0.5, 1.2), hit(1.6, 0.5)
        rng = np.random.default_rng(seed)
        _, y = tip_trajectory(
            [first, second], times, mpp, (112.0, 60.0), backswing_prob=1.0, backswing_rng=rng
        )
        bs = second.backswing
        if bs is None:
            continue
        swung += 1
        end_first = int(np.ceil((first.time_s + first.t_up_s) * FPS))
        path = y[end_first : bs["top_frame"] + 1]
        assert np.all(np.diff(path) <= 1e-9), seed  # level or rising (y grows downward)
    assert swung >= 2
