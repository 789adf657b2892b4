"""Impact detection on synthetic videos with known contact frames, and on real Greatest Hits clips."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from physfoley.errors import InputError
from physfoley.video.events import ImpactEvent, detect_impacts
from physfoley.video.flow import remove_camera_motion
from physfoley.video.io import VideoFrames, read_video
from physfoley.video.physics import (
    FixedMassEstimator,
    MassEstimator,
    MaterialSizeMassEstimator,
    kinetic_energy_change,
)

REPO = Path(__file__).resolve().parents[1]


def bouncing_bar(
    hits: int = 4, period: int = 30, fps: float = 30.0, shake: float = 2.0, seed: int = 0
) -> tuple[VideoFrames, list[int], list[float]]:
    """A bright bar falls (accelerating) onto a line and is lifted slowly, `hits` times, under
    random camera shake. Returns (video, contact frames, bar speed before contact in px/s)."""
    rng = np.random.default_rng(seed)
    size, floor, top = 160, 120, 50
    pad = 8
    from scipy.ndimage import gaussian_filter

    noise = gaussian_filter(rng.normal(0, 1, (size + 2 * pad, size + 2 * pad)), 2.0)
    bg = np.clip(90 + 30 * noise / noise.std(), 0, 255).astype(np.uint8)
    bg[floor + pad :, :] = 40  # the struck surface
    n = hits * period + 8
    tip = np.full(n, float(top))
    contacts, speeds = [], []
    for h in range(hits):
        s = 4 + h * period
        fall = 7 + h % 3  # frames of fall: different speeds per hit
        k = np.arange(1, fall + 1)
        tip[s + 1 : s + fall + 1] = top + (floor - top) * (k / fall) ** 2
        contacts.append(s + fall)
        speeds.append(2 * (floor - top) / fall * fps)  # d/dt of the parabola at contact
        tip[s + fall + 1 : s + fall + 4] = floor  # rests on the surface
        up = period - fall - 3
        tip[s + fall + 4 : s + period + 1] = np.linspace(floor, top, up + 1)[1 : period - fall - 2]
    stripes = np.where((np.arange(40)[:, None] // 4) % 2 == 0, 235, 170).astype(np.uint8)
    stripes = np.repeat(stripes, 14, 1)
    frames = np.empty((n, size, size, 3), np.uint8)
    offs = np.clip(np.round(rng.normal(0, shake, (n, 2))), -pad, pad).astype(int)
    for t in range(n):
        canvas = bg.copy()
        y1 = int(round(tip[t])) + pad
        # a textured striker (stripes), 14 px wide: flow needs texture to follow it
        canvas[y1 - 40 : y1, pad + 70 : pad + 84] = stripes
        oy, ox = offs[t]
        img = canvas[pad + oy : pad + oy + size, pad + ox : pad + ox + size]
        frames[t] = np.repeat(img[..., None], 3, -1)
    times = np.arange(n) / fps
    video = VideoFrames(frames, times, fps, size, size, n / fps, False)
    return video, contacts, speeds


def test_bouncing_bar_contacts_found_within_one_frame():
    """Two shaking scenes, 6 hits each. Measured: 10 of 12 found within +-1 frame, 2 false
    alarms (docs/results/detection.md); the floor guards that level."""
    tp = n_pred = n_true = 0
    for seed in (0, 1):
        video, contacts, _ = bouncing_bar(hits=6, seed=seed)
        events = detect_impacts(video, method="flow")
        frames = np.array([e.frame for e in events])
        n_pred += len(events)
        n_true += len(contacts)
        tp += sum(bool(np.any(np.abs(frames - c) <= 1)) for c in contacts)
        for e in events:
            assert isinstance(e, ImpactEvent)
            assert 0.5 <= e.confidence < 1.0
            assert 0 <= e.x <= 160 and 0 <= e.y <= 160
            assert e.speed_before_px_s > 0
            assert e.speed_before_m_s is None and e.kinetic_energy_change_j is None
    assert tp / n_true >= 0.75, (tp, n_true)
    assert tp / n_pred >= 0.75, (tp, n_pred)


def sliding_block(speeds: list[float], seed: int = 0) -> VideoFrames:
    """A textured 30 x 30 block slides right over a textured background at `speeds` (pixels
    per frame, one per interval), with sensor noise (so that still frames are not repeats)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    size = 160
    bg = gaussian_filter(rng.normal(0, 1, (size, size)), 2.0)
    bg = 90 + 30 * bg / bg.std()
    block = 200 + 200 * gaussian_filter(rng.normal(0, 1, (30, 30)), 1.0)
    xs = 20 + np.concatenate([[0.0], np.cumsum(speeds)])
    frames = np.empty((len(xs), size, size, 3), np.uint8)
    for t, x in enumerate(xs):
        canvas = bg.copy()
        xi = int(round(x))
        canvas[60:90, xi : xi + 30] = block
        canvas += rng.normal(0, 3, canvas.shape)
        frames[t] = np.clip(canvas, 0, 255).astype(np.uint8)[..., None]
    times = np.arange(len(xs)) / 30.0
    return VideoFrames(frames, times, 30.0, size, size, len(xs) / 30.0, False)


def test_flow_gradual_stop_is_no_impact(monkeypatch):
    """A block sliding at 8 px per frame that stops dead is found at its stop frame; one that
    slows down by 30 % per frame is not an impact. Without the region-level stop test
    (FLOW_STOP_FRACTION) the flow noise on the moving block makes a false alarm."""
    import physfoley.video.flow as flow

    abrupt = sliding_block([0.0] * 3 + [8.0] * 8 + [0.0] * 14)
    found = [e.frame for e in detect_impacts(abrupt, method="flow")]
    assert len(found) == 1 and abs(found[0] - 11) <= 1
    gradual = sliding_block([0.0] * 3 + [8.0] * 6 + [8 * 0.7**k for k in range(1, 9)] + [0] * 8)
    assert detect_impacts(gradual, method="flow") == []
    monkeypatch.setattr(flow, "FLOW_STOP_FRACTION", np.inf)
    assert len(detect_impacts(gradual, method="flow")) >= 1


def test_flow_stop_in_the_last_frames_is_not_confirmed():
    """A video whose last frame repeats the one before (a frozen end frame, re-encoded with
    noise) while the block still slides: the motion seems to stop, but no later frames
    confirm it, so no impact is reported there (before this rule: frame 21, confidence 0.8);
    the same stop with frames after it is found."""
    frozen = sliding_block([0.0] * 9 + [8.0] * 12 + [0.0])
    # (the flow noise on the moving block may still make a false alarm mid-way, at frame 19)
    assert all(e.frame < 20 for e in detect_impacts(frozen, method="flow"))
    confirmed = sliding_block([0.0] * 9 + [8.0] * 12 + [0.0] * 4)
    assert [abs(e.frame - 21) <= 1 for e in detect_impacts(confirmed, method="flow")] == [True]


def rising_block(speeds: list[float], seed: int = 0) -> VideoFrames:
    """A textured 30 x 30 block rises from y = 120 over a textured background at `speeds`
    (pixels per frame, one per interval) and may leave the picture at the top; sensor noise."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    size = 160
    bg = gaussian_filter(rng.normal(0, 1, (size, size)), 2.0)
    bg = 90 + 30 * bg / bg.std()
    block = 200 + 200 * gaussian_filter(rng.normal(0, 1, (30, 30)), 1.0)
    ys = 120 - np.concatenate([[0.0], np.cumsum(speeds)])
    frames = np.empty((len(ys), size, size, 3), np.uint8)
    for t, y in enumerate(ys):
        canvas = bg.copy()
        yi = int(round(y))
        if yi + 30 > 0:  # the part still inside the picture
            canvas[max(yi, 0) : yi + 30, 65:95] = block[max(-yi, 0) :]
        canvas += rng.normal(0, 3, canvas.shape)
        frames[t] = np.clip(canvas, 0, 255).astype(np.uint8)[..., None]
    times = np.arange(len(ys)) / 30.0
    return VideoFrames(frames, times, 30.0, size, size, len(ys) / 30.0, False)


def test_flow_region_leaving_the_picture_is_no_stop():
    """A block rising out of the top of the picture (a hand or stick leaving it at a back-
    swing): where it went, flow sees the still background, as if it had stopped. Before the
    room-ahead rule this made a false alarm at the top edge (frames 27 / 19, y = 9 / 17 px);
    now nothing is reported within 40 px of the top. A block that stops mid-picture moving
    up at the same speed is still found at its stop frame. (Flow noise on the moving block
    may make a false alarm mid-way, as in the sliding-block tests.)"""
    for speed in (6.0, 8.0):
        leaving = rising_block([0.0] * 3 + [speed] * (int(155 / speed) + 1) + [0.0] * 10)
        assert all(e.y >= 40 for e in detect_impacts(leaving, method="flow"))
        steps = int(60 / speed)
        stopping = rising_block([0.0] * 3 + [speed] * steps + [0.0] * 12)
        found = [e.frame for e in detect_impacts(stopping, method="flow")]
        assert any(abs(f - (steps + 3)) <= 1 for f in found), (speed, found)


def test_contact_position_and_stop():
    video, contacts, _ = bouncing_bar(hits=6, seed=1)
    events = [
        e
        for e in detect_impacts(video, method="flow")
        if min(abs(e.frame - c) for c in contacts) <= 1
    ]
    assert len(events) >= 5
    for e in events:
        assert 60 <= e.x <= 100 and 95 <= e.y <= 135  # the bar's tip on the surface (y=120)
        assert e.speed_before_px_s > e.speed_after_px_s


@pytest.mark.xfail(
    reason="known weakness: false alarms at the edge of a textureless region under strong "
    "camera shake (docs/detection.md, 'Where it fails')"
)
def test_no_impacts_in_shaking_static_scene():
    video, _, _ = bouncing_bar(hits=0, shake=3.0)
    video = VideoFrames(
        np.concatenate([video.frames] * 6), np.arange(48) / 30.0, 30.0, 160, 160, 1.6, False
    )
    assert detect_impacts(video, method="flow") == []


def test_units_mass_and_energy():
    video, contacts, _ = bouncing_bar()
    ev = detect_impacts(video, meters_per_pixel=0.01, mass_kg=0.1, method="flow")
    assert len(ev) == len(contacts)
    e = ev[0]
    assert e.speed_before_m_s == pytest.approx(e.speed_before_px_s * 0.01)
    assert e.mass_kg == pytest.approx(0.1)
    expect = 0.5 * 0.1 * (e.speed_before_m_s**2 - e.speed_after_m_s**2)
    assert e.kinetic_energy_change_j == pytest.approx(expect)
    est = MaterialSizeMassEstimator()
    assert isinstance(est, MassEstimator)
    ev2 = detect_impacts(video, meters_per_pixel=0.01, mass_estimator=est, material="metal")
    from physfoley.video.physics import apparent_area_px

    area = apparent_area_px(video.frames, ev2[0].x, ev2[0].y)
    assert 0.01 * 160 * 160 <= area <= 160 * 160
    assert ev2[0].mass_kg == pytest.approx(7800 * 0.003 * area * 1e-4)


def test_mass_estimators_validate():
    assert FixedMassEstimator(2.0).estimate() == 2.0
    with pytest.raises(InputError):
        FixedMassEstimator(-1)
    est = MaterialSizeMassEstimator(area_px=1e4)
    assert est.estimate(material="wood", meters_per_pixel=0.001) == pytest.approx(600 * 0.01 * 0.02)
    with pytest.raises(InputError, match="unknown material"):
        est.estimate(material="cheese", meters_per_pixel=0.001)
    with pytest.raises(InputError, match="meters-per-pixel"):
        est.estimate(material="wood", meters_per_pixel=None)
    assert kinetic_energy_change(None, 1.0, 0.0) is None
    assert kinetic_energy_change(2.0, 3.0, 1.0) == pytest.approx(8.0)


def test_camera_motion_removed():
    rng = np.random.default_rng(1)
    h = w = 32
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    flow = np.stack([1.5 + 0.02 * xx, -0.7 + 0.01 * yy], -1)[None].repeat(3, 0)
    flow[:, 10:14, 10:14] += 6.0  # a moving object
    flow += rng.normal(0, 0.01, flow.shape).astype(np.float32)
    res = remove_camera_motion(flow)
    assert np.abs(res[:, 20:, 20:]).max() < 0.1
    assert np.abs(res[:, 10:14, 10:14]).min() > 5.0


def test_short_input_is_rejected():
    video, _, _ = bouncing_bar(hits=0)
    short = VideoFrames(video.frames[:10], video.times_s[:10], 30.0, 160, 160, 0.33, False)
    with pytest.raises(InputError, match="22"):
        detect_impacts(short)


def test_raw_frames_need_times():
    video, contacts, _ = bouncing_bar()
    with pytest.raises(InputError, match="times_s"):
        detect_impacts(video.frames)
    ev = detect_impacts(video.frames, times_s=video.times_s)
    assert [e.frame for e in ev] == [e.frame for e in detect_impacts(video)]


def test_real_frame_times_used():
    """Variable frame rate: the same motion on a stretched timeline gives the same frames,
    times from the timeline, and speeds scaled by the time stretch."""
    video, contacts, _ = bouncing_bar()
    slow = VideoFrames(
        video.frames, video.times_s * 2.0, 15.0, 160, 160, 2 * video.duration_s, False
    )
    from physfoley.video.flow import DEFAULT_THRESHOLD

    # thresholds are per second: half the speed needs half the threshold for the same picks
    a = detect_impacts(video, method="flow")
    b = detect_impacts(slow, threshold=DEFAULT_THRESHOLD / 2, method="flow")
    assert [e.frame for e in a] == [e.frame for e in b]
    for ea, eb in zip(a, b, strict=True):
        assert eb.time_s == pytest.approx(2 * ea.time_s, abs=1e-6)
        assert eb.speed_before_px_s == pytest.approx(ea.speed_before_px_s / 2, rel=0.05)


def _gh_scores(gh_demo_dir: Path) -> dict:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from eval_detect import eval_gh

    return eval_gh(gh_demo_dir, method="flow")


@pytest.fixture(scope="module")
def gh_scores(gh_demo_dir):
    return _gh_scores(gh_demo_dir)


def test_gh_demo_regression_floor(gh_scores):
    """Measured F1 (+-2 frames) is 0.495 (docs/results/detection.md; 0.47 before the room-ahead
    rule, 0.41 before the region stop test and the confirmation rule); guard against
    regressions, with some room for platform differences in the optical flow."""
    assert gh_scores["impacts"] == 54
    assert gh_scores["f1"] >= 0.45


@pytest.mark.xfail(
    reason="F1 >= 0.8 against impact_times.json is out of reach of a detector of the visible contact: the annotations lead the contacts seen by 2-4 frames (docs/results/detection.md)"
)
def test_gh_demo_target_f1(gh_scores):
    assert gh_scores["f1"] >= 0.8


def test_gh_detector_never_reads_audio(gh_demo_dir, monkeypatch):
    import av

    name = sorted(json.loads((gh_demo_dir / "impact_times.json").read_text()))[0]
    video = read_video(gh_demo_dir / name)
    assert video.has_audio

    def no_audio(*a, **k):
        raise AssertionError("the detector opened a file")

    monkeypatch.setattr(av, "open", no_audio)
    detect_impacts(video)  # works from decoded frames alone


# --- the striker-tip tracker (method="tip") -------------------------------------------------


@pytest.fixture(scope="module")
def synth_video(tmp_path_factory):
    """One 6 s SynthHits video (seed 5: not a tuning or evaluation seed) and its physics."""
    from physfoley.data.synthhits import generate_video

    out = tmp_path_factory.mktemp("synth")
    rec = generate_video(out, "v5", 5, seconds=6.0, mp4_audio=False)
    return read_video(out / "v5_denoised.mp4"), rec


def test_tip_finds_synthhits_contacts_and_speeds(synth_video):
    """Measured: all 5 contacts (4 hits, 1 scratch) within +-1 frame, 1 false alarm (the
    scratch's end; 2 before the tip rules of 2026-11-23); hit speeds 0.63-1.1 x the truth (fast strikes
    are underestimated)."""
    video, rec = synth_video
    mpp = rec["meters_per_pixel"]
    events = detect_impacts(video, method="tip", meters_per_pixel=mpp)
    hits = rec["hits"]
    found = 0
    for h in hits:
        near = [e for e in events if abs(e.frame - h["contact_frame"]) <= 1]
        if not near:
            continue
        found += 1
        e = near[0]
        # the tracked tip is where the striker touched (true position in image pixels)
        assert abs(e.x - h["striker_px"]["x"]) < 12 and abs(e.y - h["striker_px"]["y"]) < 15
        if h["action"] == "hit":  # speed before contact within a factor of 2 of the truth
            assert 0.5 < e.speed_before_px_s / h["speed_before_px_s"] < 2.0
            assert e.speed_before_m_s == pytest.approx(e.speed_before_px_s * mpp)
    assert found >= len(hits) - 1
    assert len(events) <= len(hits) + 2


def test_tip_method_static_scene_and_bad_method():
    video, _, _ = bouncing_bar(hits=0, shake=0.7)
    video = VideoFrames(
        np.concatenate([video.frames] * 6), np.arange(48) / 30.0, 30.0, 160, 160, 1.6, False
    )
    assert detect_impacts(video, method="tip") == []
    with pytest.raises(InputError, match="method"):
        detect_impacts(video, method="sift")


def test_tip_repeated_frames_and_gray_input(synth_video):
    """Every frame shown twice (frame-rate doubling): the same contacts; gray input works."""
    video, _ = synth_video
    a = detect_impacts(video, method="tip")
    doubled = VideoFrames(
        np.repeat(video.frames, 2, axis=0),
        np.repeat(video.times_s, 2) + np.tile([0.0, 0.5 / video.fps], video.num_frames),
        2 * video.fps,
        video.width,
        video.height,
        video.duration_s,
        False,
    )
    b = detect_impacts(doubled, method="tip")
    assert [round(e.time_s, 3) for e in a] == [round(e.time_s, 3) for e in b]
    gray = video.frames.mean(-1).astype(np.uint8)
    assert len(detect_impacts(gray, times_s=video.times_s, method="tip")) >= len(a) - 2


def test_tip_large_video_positions_in_original_pixels(synth_video):
    """A 448 x 448 copy is tracked at 224 px: same contacts, positions and speeds in its pixels."""
    import cv2

    video, rec = synth_video
    big = np.stack(
        [cv2.resize(f, (448, 448), interpolation=cv2.INTER_LINEAR) for f in video.frames]
    )
    large = VideoFrames(big, video.times_s, video.fps, 448, 448, video.duration_s, False)
    a = detect_impacts(video, method="tip")
    b = detect_impacts(large, method="tip")
    # the same contacts, except that one near the threshold may be found at one scale only
    # (measured: the scratch touch-down at frame 37 scores 0.38 at 224 px, 0.35 the bar, and
    # is not found in the resampled copy), and a false alarm (the scratch's end at frame 43:
    # at 448 px its chain is diagonal and it is dropped as a sideways stop without a rebound;
    # measured 2026-11-23)
    contacts = {h["contact_frame"] for h in rec["hits"]}
    pairs = [(ea, eb) for ea in a for eb in b if ea.frame == eb.frame]
    assert len(pairs) >= max(len(a), len(b)) - 2
    unpaired = [e for e in a + b if e.frame not in {p[0].frame for p in pairs}]
    assert sum(min(abs(e.frame - c) for c in contacts) <= 1 for e in unpaired) <= 1
    assert all(e.confidence < 0.6 for e in unpaired if min(abs(e.frame - c) for c in contacts) <= 1)
    for ea, eb in pairs:
        assert abs(eb.x - 2 * ea.x) <= 6 and abs(eb.y - 2 * ea.y) <= 6


def _one_point_track(ys: list[float], extra: dict[int, float] | None = None, x: float = 50.0):
    """A tip track (ext [T, D, K], pts [T, D, K, 2]) of one point at (x, ys[t]) in every
    direction, plus a second blob at (x + 10, extra[t]) in the frames listed in `extra`."""
    from physfoley.video.tip_points import TIP_CANDIDATES, TIP_DIRECTIONS

    t, nd = len(ys), len(TIP_DIRECTIONS)
    pts = np.full((t, nd, TIP_CANDIDATES, 2), np.nan)
    pts[:, :, 0] = np.stack([np.full(t, x), np.asarray(ys, float)], -1)[:, None]
    for i, y in (extra or {}).items():
        pts[i, :, 1] = (x + 10.0, y)
    ext = np.einsum("tdkc,dc->tdk", pts, TIP_DIRECTIONS)
    return ext, pts


def test_tip_link_ignores_blob_appearing_beside_the_striker():
    """A striker comes down 20 px per frame, stops at frame 6 and rebounds; in frame 7 an object
    shifted by the hit appears 40 px further down. Linking the striker to that blob would
    make frame 7 look like a harder stop (40 px/frame); near-mutual links keep frame 6."""
    from physfoley.video.tip import tip_impacts

    ys = [10.0, 10, 10, 30, 50, 70, 90, 80, 72, 66, 62, 60, 60, 60]
    times = np.arange(len(ys)) / 30.0
    ext, pts = _one_point_track(ys, extra={7: 130.0, 8: 130.0, 9: 130.0})
    found = tip_impacts(ext, pts, times, 224, threshold=0.4, min_sep_s=0.2)
    assert list(found["peaks"]) == [6]
    # contact between frames 5 and 6, where the approach line meets the rebound line
    assert times[5] <= found["t_contact"][0] <= times[6]
    # speed before contact: 20 px per frame = 600 px/s (constant speed: no extrapolation)
    assert found["speed_before"][0] == pytest.approx(600.0, rel=0.05)
    # without the second blob the same single contact is found
    ext0, pts0 = _one_point_track(ys)
    assert list(tip_impacts(ext0, pts0, times, 224, 0.4, 0.2)["peaks"]) == [6]


def test_tip_contact_during_the_step_into_the_stop_frame():
    """20 px per frame, then only 10 px into frame 6 (the contact came during that step) and a
    rebound of 10 px per frame: the contact is where the approach and rebound lines meet
    (frame 5 + 2/3), and the speed before it is the last full step's 600 px/s grown at the
    typical approach rate over the 7/6 frame from that step's middle to the contact."""
    from physfoley.video.tip import TIP_APPROACH_GROWTH, tip_impacts

    ys = [10.0, 10, 10, 30, 50, 70, 80, 70, 62, 56, 52, 50, 50, 50]
    times = np.arange(len(ys)) / 30.0
    ext, pts = _one_point_track(ys)
    found = tip_impacts(ext, pts, times, 224, threshold=0.4, min_sep_s=0.2)
    assert list(found["peaks"]) == [6]
    assert found["t_contact"][0] == pytest.approx((5 + 2 / 3) / 30.0, abs=1e-6)
    expected = 600.0 * TIP_APPROACH_GROWTH ** (7 / 6)
    assert found["speed_before"][0] == pytest.approx(expected, rel=1e-3)
    assert found["speed_before"][0] > 600.0
    assert found["speed_after"][0] == pytest.approx(300.0, rel=1e-3)  # 10 px per frame back


def test_tip_fast_striker_with_a_trail_is_still_linked():
    """A striker moving 30 px per frame leaves a blob 5 px behind where it was (a trail, or a
    background-model ghost). That blob is nearer to the striker's previous position than the
    striker is, but the striker moved 30 px: the link allowance grows with its step, so the
    stop at frame 6 is still found (a strict mutual-nearest rule loses it)."""
    from physfoley.video.tip import tip_impacts
    from physfoley.video.tip_points import TIP_DIRECTIONS

    ys = [10.0, 10, 10, 40, 70, 100, 130, 120, 112, 106, 102, 100, 100, 100]
    times = np.arange(len(ys)) / 30.0
    trail = {t: ys[t - 1] + 5.0 for t in range(4, 8)}
    ext, pts = _one_point_track(ys, extra=trail)
    pts[:, :, 1, 0] = 50.0  # the trail lies on the striker's path
    ext = np.einsum("tdkc,dc->tdk", pts, TIP_DIRECTIONS)
    found = tip_impacts(ext, pts, times, 224, threshold=0.4, min_sep_s=0.2)
    assert list(found["peaks"]) == [6]
    assert found["speed_before"][0] == pytest.approx(900.0, rel=0.05)


def test_tip_tap_from_rest_into_a_stop():
    """The striker rests, then covers 50 px in one frame straight into the surface and comes
    back: a short fast tap whose whole descent falls between two frames. It is found at the
    frame it reaches the surface, with the speed at the end of a descent from rest at
    constant acceleration (twice the step's mean: 2 x 1500 px/s). The same long step after
    slow motion (5 px per frame: neither at rest nor speeding up smoothly) is rejected, as a
    blob appearing in one frame is."""
    from physfoley.video.tip import tip_impacts

    ys = [10.0] * 6 + [60.0, 50, 40, 30, 20, 10, 10, 10]
    times = np.arange(len(ys)) / 30.0
    ext, pts = _one_point_track(ys)
    found = tip_impacts(ext, pts, times, 224, threshold=0.4, min_sep_s=0.2)
    assert list(found["peaks"]) == [6]
    assert found["t_contact"][0] == pytest.approx(times[6], abs=1e-6)
    assert found["speed_before"][0] == pytest.approx(3000.0, rel=1e-3)
    slow = [10.0, 15, 20, 25, 30, 35, 85, 75, 65, 55, 45, 35, 35, 35]
    ext, pts = _one_point_track(slow)
    assert len(tip_impacts(ext, pts, times, 224, threshold=0.4, min_sep_s=0.2)["peaks"]) == 0
    # a striker moved in one frame to a new resting place (no lift afterwards) is no tap
    moved = [10.0] * 6 + [60.0, 61, 62, 62, 62, 62, 62, 62]
    ext, pts = _one_point_track(moved)
    assert len(tip_impacts(ext, pts, times, 224, threshold=0.4, min_sep_s=0.2)["peaks"]) == 0


def _point_track(xs, ys):
    """A tip track of one point at (xs[t], ys[t]) in every direction (NaN: no blob that frame)."""
    from physfoley.video.tip_points import TIP_CANDIDATES, TIP_DIRECTIONS

    t, nd = len(ys), len(TIP_DIRECTIONS)
    pts = np.full((t, nd, TIP_CANDIDATES, 2), np.nan)
    pts[:, :, 0] = np.stack([np.asarray(xs, float), np.asarray(ys, float)], -1)[:, None]
    return np.einsum("tdkc,dc->tdk", pts, TIP_DIRECTIONS), pts


def _tip_peaks(xs, ys):
    from physfoley.video.tip import tip_impacts

    ext, pts = _point_track(xs, ys)
    times = np.arange(len(ys)) / 30.0
    return tip_impacts(ext, pts, times, 224, threshold=0.4, min_sep_s=0.2)


def test_tip_strike_from_rest_starting_inside_the_interval_before():
    """The striker rests, starts down during the interval into frame 5 (8 px seen) and covers
    25 px into frame 6, where it stops and rebounds. The two approach steps differ by more
    than the smooth-acceleration bound allows (25 > 2.5 x 8 + 3): only the rule for an
    approach from rest finds it (added 2026-11-23). Its speed before contact is at
    least the last step's 750 px/s (the strike was still speeding up)."""
    ys = [10.0] * 5 + [18.0, 43, 30, 20, 12, 10, 10, 10, 10]
    found = _tip_peaks([50.0] * len(ys), ys)
    assert list(found["peaks"]) == [6]
    assert found["speed_before"][0] >= 750.0
    # the same steps without the rest before them (moving 8 px per frame before): rejected
    moving = [-22.0, -14, -6, 2, 10, 18, 43, 30, 20, 12, 10, 10, 10, 10]
    assert list(_tip_peaks([50.0] * len(ys), moving)["peaks"]) == []


def test_tip_tap_from_the_picture_edge_then_gone():
    """A striker resting at the picture's top edge (its visible stub jitters 2.8 px sideways
    from frame to frame), one 26 px step down into a stop, back up and out of the picture
    (no blob from frame 7 on). Before 2026-11-23 the 2.8 px jitter was not 'at rest' and a
    striker that left the picture had not 'lifted again'; both are now accepted."""
    ys = [4.0] * 5 + [30.0, 15.0] + [np.nan] * 7
    xs = [80.0, 77.2] * 2 + [80.0, 77.2, 78.0] + [np.nan] * 7
    found = _tip_peaks(xs, ys)
    assert list(found["peaks"]) == [5]
    # a striker that stays down (moved to a new resting place) is still no tap
    stays = [4.0] * 5 + [30.0] * 9
    assert list(_tip_peaks([80.0, 77.2] * 2 + [80.0] * 10, stays)["peaks"]) == []


def test_tip_scratch_touch_down_found_and_its_end_dropped():
    """A scratch: the striker comes down 5 px per frame, touches the surface at frame 6,
    slides right along it (3-9 px per frame, not sped up) for 8 frames, stops, and lifts
    slowly. The touch-down is found although the point leaves sideways (a slide, TIP_SLIDE);
    the stop at the end of the slide (frame 14) is a kinematically clean sideways stop but
    comes from the touch-down without the striker lifting off the surface: no second impact
    (TIP_SLIDE_LIFT_PX; the uneven slide is no steady glide, so only this rule drops it)."""
    ys = [10.0, 10, 10, 15, 20, 25, 30] + [30.0] * 8 + [28.0, 26, 24, 22, 20, 18, 16]
    xs = list(50.0 + np.cumsum([0.0] * 7 + [3, 8, 4, 9, 3, 8, 4, 9] + [0.0] * 7))
    found = _tip_peaks(xs, ys)
    assert list(found["peaks"]) == [6]
    # the same sideways stop with the striker lifted off before it (a new sideways strike
    # coming from above the surface, speeding up) is kept
    # (up 5 px per frame for three frames, then right into the stop)
    lifted = ys[:7] + [25.0, 20, 15] + [15.0] * 8 + [13.0, 11, 9, 7, 5, 3]
    xs = list(50.0 + np.cumsum([0.0] * 10 + [2, 3, 4, 5, 6, 8, 10, 12] + [0.0] * 6))
    found = _tip_peaks(xs, lifted)
    assert list(found["peaks"]) == [6, 17]


def test_tip_slowing_approach_and_creeping_on_are_no_impacts():
    """A hand placing the striker: 12 px per frame, then 8, then 5 into a stop (slowing over
    both of the last two steps): no impact. And a stop after which the point creeps on 1.5 px
    per frame (more than 0.3 of its 4 px approach two frames later): no impact either. Both
    were reported before 2026-11-23."""
    placed = [10.0, 10, 10, 22, 34, 46, 54, 59, 59, 59, 59, 57, 55, 53]
    assert list(_tip_peaks([50.0] * len(placed), placed)["peaks"]) == []
    creeps = [10.0, 10, 14, 18, 22, 26, 26, 27.5, 29, 30.5, 32, 32, 32, 32]
    assert list(_tip_peaks([50.0] * len(creeps), creeps)["peaks"]) == []
    # a clean stop at the same speed is found
    stops = [10.0, 10, 14, 18, 22, 26, 26, 26, 24, 22, 20, 20, 20, 20]
    assert list(_tip_peaks([50.0] * len(stops), stops)["peaks"]) == [5]


def test_tip_strike_entering_the_picture():
    """A striker comes into the picture at its top edge (nothing there before frame 5), moves
    4 px, then 21 px into a stop and rebounds: an approach seen for two steps only, too
    uneven for the smooth-approach rule (4 < 0.25 x 21). It is found as an approach from
    outside the picture; the same steps after a moving point at 4 px per frame are not."""
    ys = [np.nan] * 5 + [4.0, 8, 29, 25, 23, 20, 18, 18, 18]
    xs = [np.nan if np.isnan(y) else 80.0 for y in ys]
    assert list(_tip_peaks(xs, ys)["peaks"]) == [7]
    moving = [-16.0, -12, -8, -4, 0, 4, 8, 29, 25, 23, 20, 18, 18, 18]
    assert list(_tip_peaks([80.0] * len(moving), moving)["peaks"]) == []


def test_tip_steady_glide_into_a_stop_is_no_impact():
    """A striker carried at a steady 6 px per frame (+-1 px) for 10 frames that stops and lifts
    away: a hand guiding it (the end of a drag), not a strike; dropped (TIP_GLIDE_S). The same
    stop after an approach that speeds up (a strike) is found."""
    glide = [10.0, 16, 23, 29, 35, 40, 46, 52, 58, 65, 71, 71, 69, 66, 63, 60, 60, 60]
    assert list(_tip_peaks([50.0] * len(glide), glide)["peaks"]) == []
    strike = [10.0, 10, 10, 11, 12, 14, 17, 21, 26, 32, 39, 39, 37, 34, 31, 28, 28, 28]
    assert list(_tip_peaks([50.0] * len(strike), strike)["peaks"]) == [10]


def test_tip_slightly_short_step_into_the_stop_is_cut_by_the_contact():
    """20 px per frame, then 16 px into frame 6 where the point stops and rebounds: a strike
    does not slow down before the contact, so the shorter step was cut short by it (contact
    in (5, 6)) and the speed before is the full steps' 600 px/s grown to the contact, not the
    cut step's 480 px/s (as with the 0.7 fraction used before 2026-11-23 15:45)."""
    ys = [10.0, 10, 10, 30, 50, 70, 86, 76, 68, 62, 58, 56, 56, 56]
    found = _tip_peaks([50.0] * len(ys), ys)
    assert list(found["peaks"]) == [6]
    assert 5 / 30.0 < found["t_contact"][0] < 6 / 30.0
    assert found["speed_before"][0] > 600.0


def test_tip_sideways_stop_must_come_back_but_a_downward_one_may_rest():
    """A point speeding up to the right, stopping dead and staying there is a hand pausing in
    mid-air (nothing holds a sideways-moving striker where it stopped): no impact
    (TIP_REST_DOWN). The same sideways stop followed by a rebound is a strike; the same
    approach straight down that stays is a striker resting on the surface it hit. Creeping back
    1 px per frame (a striker lifted slowly off at the end of a drag) is no rebound."""
    run = [10.0, 10, 10, 11, 12, 14, 17, 21, 26, 32, 39]
    stays = [39.0] * 7
    creeps_back = [38.0, 37, 36, 35, 34, 33, 32]
    rebound = [37.0, 34, 31, 28, 28, 28, 28]
    assert list(_tip_peaks(run + stays, [50.0] * 18)["peaks"]) == []
    assert list(_tip_peaks(run + creeps_back, [50.0] * 18)["peaks"]) == []
    assert list(_tip_peaks(run + rebound, [50.0] * 18)["peaks"]) == [10]
    assert list(_tip_peaks([50.0] * 18, run + stays)["peaks"]) == [10]


def _eval_detect():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import eval_detect

    return eval_detect


def test_consensus_contacts_pairs_within_one_frame():
    """Two annotators: contacts within 1 frame of each other agree (the earlier frame is
    kept); the rest are uncertain, from either side."""
    ev = _eval_detect()
    cons, unc = ev.consensus_contacts([8, 30, 52], [9, 30, 60, 75])
    assert cons == [8, 30]
    assert unc == [52, 60, 75]
    assert ev.consensus_contacts([], [5]) == ([], [5])
    # three annotators: two of three suffice; a chain joins into one contact at its median
    cons, unc = ev.consensus_contacts([8, 30], [9, 52], [31, 53, 70])
    assert (cons, unc) == ([8, 30, 52], [70])
    assert ev.consensus_contacts([10], [11], [12]) == ([11], [])
    assert ev.consensus_contacts([10], [11], [12], min_votes=3) == ([11], [])
    assert ev.consensus_contacts([10], [11], [40], min_votes=3) == ([], [10, 11, 40])


def test_score_against_sets_aside_detections_at_uncertain_contacts():
    ev = _eval_detect()
    pred = np.array([8, 20, 53])
    tp, counted, n = ev.score_against(pred, np.array([8, 30]), np.array([52]), tol=2)
    assert (tp, counted, n) == (1, 2, 2)  # 53 is at an uncertain contact; 20 is a false alarm
    tp, counted, n = ev.score_against(pred, np.array([8, 30]), np.zeros(0, int), tol=2)
    assert (tp, counted, n) == (1, 3, 2)


GH_VISUAL_LABELS = REPO / "benchmarks" / "data" / "gh_visual_contacts.json"


def test_gh_visual_labels_file_is_well_formed(gh_demo_dir):
    """Every clip of the demo set, contact frames inside the clip, three annotators."""
    meta = json.loads((gh_demo_dir / "impact_times.json").read_text())
    labels = json.loads(GH_VISUAL_LABELS.read_text())["clips"]
    assert set(labels) == set(meta)
    for name, lab in labels.items():
        for frames in (lab["a"], lab["b"], lab["c"]):
            assert all(0 <= f < meta[name]["frames"] for f in frames), name
            assert frames == sorted(frames), name


def test_gh_visual_contacts_lead_and_detector_floor(gh_demo_dir):
    """Measured (docs/results/detection.md, "The Greatest Hits annotations against the
    contacts seen in the frames"): the 29 contacts both annotators agree on lie 2-4 frames
    after the annotated time (median 3), so the annotations score F1 0.06 against them; the
    flow detector scores 0.60 (+-2 frames). Guards the labels and the scoring against silent
    changes, and the detector against regressions."""
    ev = _eval_detect()
    res = ev.eval_gh_visual(gh_demo_dir, GH_VISUAL_LABELS)
    assert res["consensus_contacts"] == 29
    assert res["lead_median_frames"] >= 2
    assert res["annotations_vs_visual_contacts"]["f1"] < 0.2
    assert res["detector_vs_visual_contacts"]["f1"] >= 0.5
    # the three-annotator check (two of a, b, c agree): 40 contacts, the same picture
    res3 = ev.eval_gh_visual(gh_demo_dir, GH_VISUAL_LABELS, annotators=("a", "b", "c"))
    assert res3["consensus_contacts"] == 40
    assert res3["lead_median_frames"] >= 2
    assert res3["annotations_vs_visual_contacts"]["f1"] < 0.25
    assert res3["detector_vs_visual_contacts"]["f1"] >= 0.5
