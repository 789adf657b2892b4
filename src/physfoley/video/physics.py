"""Physical estimates for impact events: mass (pluggable estimators) and kinetic-energy change.

`MassEstimator` is the interface: anything with `estimate(...) -> float` (kg). Two are built in:

- `MaterialSizeMassEstimator` (default): mass = density(material) x apparent area x thickness.
  The apparent area is the region of similar colour around the impact point in the median frame
  (the median over time removes the moving striker), measured with OpenCV flood fill and
  converted to m^2 with `meters_per_pixel`. The thickness is a stated assumption per material
  (a typical plate/panel/slab of that material; table below). This is an order-of-magnitude
  estimate: good enough to tell a paper sheet from a rock, not a scale.
- `FixedMassEstimator(value)`: the user's value.

A vision-language estimator can be plugged in later behind the same interface.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from physfoley.errors import InputError

#: The 10 Greatest Hits materials (paper's order) -> bulk density in kg/m^3.
DENSITY_KG_M3: dict[str, float] = {
    "glass": 2500.0,
    "wood": 600.0,
    "ceramic": 2300.0,
    "metal": 7800.0,
    "cloth": 300.0,
    "plastic": 1100.0,
    "drywall": 700.0,
    "carpet": 300.0,
    "paper": 800.0,
    "rock": 2600.0,
}

#: Stated thickness assumption per material (metres): a typical sheet/panel/slab.
THICKNESS_M: dict[str, float] = {
    "glass": 0.005,
    "wood": 0.02,
    "ceramic": 0.008,
    "metal": 0.003,
    "cloth": 0.003,
    "plastic": 0.005,
    "drywall": 0.0125,
    "carpet": 0.01,
    "paper": 0.001,
    "rock": 0.05,
}


def kinetic_energy_change(
    mass_kg: float | None, speed_before_m_s: float | None, speed_after_m_s: float | None
) -> float | None:
    """Kinetic energy lost at an impact, 0.5 m (v_before^2 - v_after^2), in joules.

    Positive when the striker slows down. None when mass or speeds are unknown.
    """
    if mass_kg is None or speed_before_m_s is None or speed_after_m_s is None:
        return None
    return float(0.5 * mass_kg * (speed_before_m_s**2 - speed_after_m_s**2))


@runtime_checkable
class MassEstimator(Protocol):
    """Interface of mass estimators. Returns kilograms; raises InputError when it cannot."""

    def estimate(
        self,
        *,
        frames: np.ndarray | None = None,
        material: str | None = None,
        meters_per_pixel: float | None = None,
        x: float | None = None,
        y: float | None = None,
    ) -> float:
        """frames: [T, H, W, 3] uint8 RGB of the video; x, y: impact point (pixels)."""
        ...


class FixedMassEstimator:
    """Always returns the given mass (kg)."""

    def __init__(self, value: float):
        if not (value > 0 and np.isfinite(value)):
            raise InputError(f"mass must be a positive number of kg, got {value}")
        self.value = float(value)

    def estimate(self, **_: object) -> float:
        return self.value


def apparent_area_px(frames: np.ndarray, x: float, y: float, tolerance: int = 12) -> float:
    """Area (pixels) of the similar-colour region around (x, y) in the median frame.

    frames : [T, H, W, 3] uint8. The median over (up to 32 evenly spaced) frames removes the
    moving striker. Flood fill with +-`tolerance` grey levels per channel, 8-connected.
    """
    import cv2

    frames = np.asarray(frames)
    t, h, w = frames.shape[:3]
    pick = np.linspace(0, t - 1, min(t, 32)).round().astype(int)
    med = np.median(frames[pick], axis=0).astype(np.uint8)
    med = cv2.GaussianBlur(med, (5, 5), 0)
    mask = np.zeros((h + 2, w + 2), np.uint8)
    seed = (int(np.clip(round(x), 0, w - 1)), int(np.clip(round(y), 0, h - 1)))
    flags = 8 | cv2.FLOODFILL_MASK_ONLY | (255 << 8)
    tol = (tolerance,) * 3
    area, *_ = cv2.floodFill(med.copy(), mask, seed, (0, 0, 0), tol, tol, flags)
    # a region smaller than 1% of the frame is a texture patch, not an object
    return float(max(area, 0.01 * h * w))


class MaterialSizeMassEstimator:
    """mass = density(material) x apparent area (m^2) x stated thickness(material).

    Needs `material` (one of the 10 names), `meters_per_pixel`, and either `area_px` at
    construction or frames + impact point at `estimate` time.
    """

    def __init__(
        self,
        densities: dict[str, float] | None = None,
        thicknesses: dict[str, float] | None = None,
        area_px: float | None = None,
    ):
        self.densities = dict(DENSITY_KG_M3 if densities is None else densities)
        self.thicknesses = dict(THICKNESS_M if thicknesses is None else thicknesses)
        self.area_px = area_px

    def estimate(
        self,
        *,
        frames: np.ndarray | None = None,
        material: str | None = None,
        meters_per_pixel: float | None = None,
        x: float | None = None,
        y: float | None = None,
    ) -> float:
        if material is None:
            raise InputError("the material-size mass estimate needs a material (--material NAME)")
        name = material.lower()
        if name not in self.densities:
            raise InputError(
                f"unknown material {material!r}; use one of {', '.join(self.densities)}"
            )
        if not meters_per_pixel or meters_per_pixel <= 0:
            raise InputError("the material-size mass estimate needs --meters-per-pixel > 0")
        if self.area_px is not None:
            area = float(self.area_px)
        elif frames is not None and x is not None and y is not None:
            area = apparent_area_px(frames, x, y)
        else:
            raise InputError("the material-size mass estimate needs frames and an impact point")
        return float(self.densities[name] * area * meters_per_pixel**2 * self.thicknesses[name])
