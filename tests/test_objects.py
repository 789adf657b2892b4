"""The physical parameter estimator: velocity of a moving block, nothing in a static scene,
mass from the estimators, the segmenter plug-in, shape matching at the picture's edge."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from physfoley.errors import InputError
from physfoley.video.camera import camera_maps, chunk_bounds
from physfoley.video.io import VideoFrames
from physfoley.video.object_mass import (
    DEFAULT_DENSITY_KG_M3,
    ApparentVolumeMassEstimator,
    mask_width_px,
)
from physfoley.video.object_tracks import mask_shift
from physfoley.video.objects import (
    DEFAULT_SCENE_LONG_SIDE_M,
    MotionSegmenter,
    ObjectSegmenter,
    SegmentedObject,
    default_meters_per_pixel,
    estimate_objects,
)
from physfoley.video.physics import DENSITY_KG_M3, FixedMassEstimator, MassEstimator

FPS = 30.0


def block_video(
    speed_px: tuple[float, float] = (2.0, 1.0),
    frames: int = 50,
    shake_px: float = 1.0,
    moving: bool = True,
    seed: int = 0,
    size: tuple[int, int] = (120, 160),
) -> VideoFrames:
    """A red 24 x 14 block gliding at `speed_px` pixels per frame over a textured scene, under
    sub-pixel-rounded camera shake of about `shake_px` pixels; `moving=False`: no block."""
    rng = np.random.default_rng(seed)
    h, w = size
    pad = 8
    noise = gaussian_filter(rng.normal(0, 1, (h + 2 * pad, w + 2 * pad)), 2.0)
    grey = np.clip(120 + 35 * noise / noise.std(), 0, 255).astype(np.uint8)
    scene = np.repeat(grey[..., None], 3, -1)
    out = np.empty((frames, h, w, 3), np.uint8)
    offs = np.clip(np.round(rng.normal(0, shake_px, (frames, 2))), -pad, pad).astype(int)
    for t in range(frames):
        canvas = scene.copy()
        if moving:
            x = int(round(10 + speed_px[0] * t)) + pad
            y = int(round(50 + speed_px[1] * t)) + pad
            canvas[y : y + 14, x : x + 24] = (200, 40, 40)
        oy, ox = offs[t]
        out[t] = canvas[pad + oy : pad + oy + h, pad + ox : pad + ox + w]
    return VideoFrames(out, np.arange(frames) / FPS, FPS, w, h, frames / FPS, False)


def test_moving_block_speed_within_five_percent():
    mpp = 0.002
    video = block_video(speed_px=(2.0, 1.0))
    objects = estimate_objects(video, meters_per_pixel=mpp, mass_kg=0.1)
    assert len(objects) == 1
    obj = objects[0]
    assert obj.present.sum() >= 48
    true_v = np.array([2.0, 1.0]) * FPS * mpp  # m/s
    seen = np.isfinite(obj.speed_m_s)
    assert seen.sum() >= 45
    v = np.median(obj.velocity_m_s[seen], axis=0)
    assert np.allclose(v, true_v, rtol=0.05, atol=0.005), (v, true_v)
    assert abs(np.median(obj.speed_m_s[seen]) / np.hypot(*true_v) - 1) < 0.05
    # areas in pixels of the original video: the 24 x 14 block (give or take its edge)
    assert 0.8 * 336 < np.median(obj.mask_area_px[obj.present]) < 1.25 * 336
    assert obj.mass_kg == 0.1 and obj.mass_source == "given"
    assert obj.masks.shape == (50, 120, 160) and obj.masks.dtype == np.uint8
    d = obj.to_dict()
    assert len(d["velocity_m_s"]) == 50 and d["velocity_m_s"][0] == [None, None]  # no frame before


def test_downscaled_video_keeps_original_units():
    """Working at half size (or decoded at half size) changes neither m/s nor areas."""
    video = block_video(speed_px=(4.0, 0.0), shake_px=0.0, frames=30)
    full = estimate_objects(video, meters_per_pixel=0.002, mass_kg=1.0)[0]
    half = estimate_objects(video, meters_per_pixel=0.002, mass_kg=1.0, work_size=80)[0]
    assert half.masks.shape == (30, 60, 80)
    v_full = np.nanmedian(full.speed_m_s)
    assert abs(np.nanmedian(half.speed_m_s) / v_full - 1) < 0.05
    assert abs(v_full / (4.0 * FPS * 0.002) - 1) < 0.05
    area_ratio = np.median(half.mask_area_px[half.present]) / np.median(
        full.mask_area_px[full.present]
    )
    assert 0.8 < area_ratio < 1.25


def test_static_scene_has_no_objects():
    assert estimate_objects(block_video(moving=False, shake_px=1.5)) == []


def test_default_scale_and_estimated_mass():
    video = block_video(speed_px=(2.0, 0.0))
    (obj,) = estimate_objects(video, material="metal")
    mpp = default_meters_per_pixel(160, 120)
    assert mpp == pytest.approx(DEFAULT_SCENE_LONG_SIDE_M / 160)
    assert abs(np.nanmedian(obj.speed_m_s) / (2.0 * FPS * mpp) - 1) < 0.05
    (plain,) = estimate_objects(video)  # no material: the default density
    assert obj.material == "metal" and plain.material is None
    ratio = obj.mass_kg / plain.mass_kg
    assert ratio == pytest.approx(DENSITY_KG_M3["metal"] / DEFAULT_DENSITY_KG_M3, rel=1e-6)
    # density x area x pi/4 x width, the block 24 x 14 px seen side on (width about 14 px)
    volume = 24 * 14 * np.pi / 4 * 14 * mpp**3
    assert 0.5 < plain.mass_kg / (DEFAULT_DENSITY_KG_M3 * volume) < 1.5


def test_mass_width_of_a_strip():
    strip = np.zeros((60, 80), np.uint8)
    strip[20:28, 5:75] = 1
    assert mask_width_px(strip) == pytest.approx(8, rel=0.1)
    est = ApparentVolumeMassEstimator(area_px=1000, width_px=10)
    assert isinstance(est, MassEstimator)
    m = est.estimate(material="wood", meters_per_pixel=0.001)
    assert m == pytest.approx(600 * 1000 * np.pi / 4 * 10 * 1e-9)
    with pytest.raises(InputError):
        est.estimate(material="unobtainium", meters_per_pixel=0.001)
    with pytest.raises(InputError):
        est.estimate(material="wood", meters_per_pixel=None)


class OneBoxSegmenter:
    """A stand-in for a segmentation model: one fixed box, labelled."""

    def segment(self, frames, times_s, camera=None):
        masks = np.zeros(frames.shape[:3], np.uint8)
        masks[:, 10:20, 10:30] = 1
        return [SegmentedObject(masks, label="box", material="plastic")]


def test_segmenter_and_mass_estimator_plug_in():
    seg = OneBoxSegmenter()
    assert isinstance(seg, ObjectSegmenter) and isinstance(MotionSegmenter(), ObjectSegmenter)
    calls = []

    class Recording(FixedMassEstimator):
        def estimate(self, **kw):
            calls.append(kw)
            return super().estimate(**kw)

    video = block_video(shake_px=0.0)  # a box fixed in the picture, so fixed in the scene
    (obj,) = estimate_objects(
        video, meters_per_pixel=0.01, segmenter=seg, mass_estimator=Recording(2.5)
    )
    assert obj.label == "box" and obj.material == "plastic" and obj.mass_kg == 2.5
    assert calls and calls[0]["material"] == "plastic"
    assert np.nanmax(obj.speed_m_s) < 0.02  # the box never moves (camera noise: 0.05 px)


def test_bad_arguments():
    video = block_video(frames=10)
    with pytest.raises(InputError):
        estimate_objects(video, meters_per_pixel=-1)
    with pytest.raises(InputError):
        estimate_objects(video, mass_kg=0)
    with pytest.raises(InputError):
        estimate_objects(video, material="gold")
    short = VideoFrames(video.frames[:2], video.times_s[:2], FPS, 160, 120, 0.1, False)
    with pytest.raises(InputError):
        estimate_objects(short)


def test_mask_shift_of_an_object_entering_the_picture():
    """A stick reaching in from the top edge: its visible part grows, its shift is the tip's."""
    import cv2

    def stick(tip_y: int) -> np.ndarray:
        m = np.zeros((120, 120), np.uint8)
        cv2.line(m, (60, tip_y), (60 + 52, tip_y - 193), 1, 5)
        return m

    assert np.allclose(mask_shift(stick(40), stick(52), 30), [0, 12], atol=0.5)
    assert np.allclose(mask_shift(stick(52), stick(40), 30), [0, -12], atol=0.5)
    assert np.isnan(mask_shift(np.zeros((20, 20), np.uint8), stick(40)[:20, :20], 5)).all()


def test_camera_maps_follow_a_pan():
    import cv2

    rng = np.random.default_rng(1)
    grey = np.clip(128 + 40 * gaussian_filter(rng.normal(0, 1, (120, 160)), 2) * 4, 0, 255)
    grey = grey.astype(np.uint8)
    shifts = [(1.5 * i, -0.5 * i) for i in range(7)]
    frames = np.stack(
        [
            cv2.warpAffine(grey, np.float32([[1, 0, dx], [0, 1, dy]]), (160, 120),
                           borderMode=cv2.BORDER_REFLECT)
            for dx, dy in shifts
        ]
    )  # fmt: skip
    maps = camera_maps(frames)
    ref = np.array(shifts[3])
    for i, s in enumerate(shifts):  # frame i -> reference: moves by ref - s
        assert np.allclose(maps[i, :, 2], ref - np.array(s), atol=0.2), (i, maps[i])
        assert np.allclose(maps[i, :, :2], np.eye(2), atol=0.01)


def test_chunks_cover_the_video():
    b = chunk_bounds(500, 240)
    assert b[0] == 0 and b[-1] == 500 and np.diff(b).max() <= 240 and np.diff(b).min() >= 160
    assert list(chunk_bounds(10, 240)) == [0, 10]
