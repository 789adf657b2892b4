"""Mass of a moving object from its masks: density x apparent volume, behind `MassEstimator`.

The physical parameter estimator (`physfoley.video.objects`) gives every object one mass, the
same in every frame. Without a user value it asks a `physfoley.video.physics.MassEstimator`;
the default is `ApparentVolumeMassEstimator`, built from the object's own masks:

- apparent area A: the mask's area in a large view (AREA_PERCENTILE of the area over the
  frames it is seen in);
- thickness: the mask's mean width in that view, 4 x the mean distance of its pixels to its
  edge (exact for a strip such as a stick seen from the side);
- volume = A x pi/4 x thickness (exact for a cylinder seen from the side: area 2 r L, volume
  pi r^2 L), in m^3 with `meters_per_pixel`;
- mass = density(material) x volume, with the densities of `physfoley.video.physics`
  (`DENSITY_KG_M3`; "wood" for a drumstick) or DEFAULT_DENSITY_KG_M3 when no material is known.

What the picture hides (the part of an object outside the frame, its depth) is not counted: an
order-of-magnitude estimate, as the material-size estimate of the struck object is.
"""

from __future__ import annotations

import numpy as np

from physfoley.errors import InputError
from physfoley.video.physics import DENSITY_KG_M3

#: The view the size is measured in: this percentile of the mask's area over the frames it is
#: seen in (a large view, since the picture's edge and occlusions only ever hide a part; not
#: the largest, which may have merged with another moving thing).
AREA_PERCENTILE = 90

#: Density (kg/m^3) used when no material is known: water, within a factor of 3 of wood,
#: plastic, rubber, bone and a hand (the things that usually move in a Foley video).
DEFAULT_DENSITY_KG_M3 = 1000.0


def mask_width_px(mask: np.ndarray) -> float:
    """Mean width (pixels) of a mask [H, W] uint8: 4 x the mean distance of its pixels to its edge."""
    import cv2

    if not mask.any():
        return 0.0
    # distance from each pixel's centre to the nearest background pixel's centre, less the
    # half pixel to the edge between them (the picture's own edge is no edge of the object)
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    return float(4.0 * (dist[mask > 0] - 0.5).mean())


class ApparentVolumeMassEstimator:
    """mass = density(material) x apparent area x pi/4 x mean width (a `MassEstimator`).

    area_px, width_px : the object's apparent area (pixels^2) and mean width (pixels), in the
    pixels `meters_per_pixel` refers to. `from_masks` measures both.
    """

    def __init__(
        self,
        area_px: float,
        width_px: float,
        densities: dict[str, float] | None = None,
        default_density_kg_m3: float = DEFAULT_DENSITY_KG_M3,
    ):
        self.area_px = float(area_px)
        self.width_px = float(width_px)
        self.densities = dict(DENSITY_KG_M3 if densities is None else densities)
        self.default_density_kg_m3 = float(default_density_kg_m3)

    @classmethod
    def from_masks(
        cls, masks: np.ndarray, present: np.ndarray, pixel_scale: float = 1.0, **kwargs
    ) -> ApparentVolumeMassEstimator:
        """masks : [T, h, w] uint8; present : [T] bool; pixel_scale : pixels of the scale per
        mask pixel (original video pixels over working pixels)."""
        area = masks.reshape(masks.shape[0], -1).sum(1)
        seen = np.flatnonzero(present)
        if seen.size == 0:
            return cls(0.0, 0.0, **kwargs)
        rank = int(AREA_PERCENTILE / 100 * (seen.size - 1))
        view = seen[np.argsort(area[seen], kind="stable")[rank]]
        return cls(
            float(area[view]) * pixel_scale**2,
            mask_width_px(masks[view]) * pixel_scale,
            **kwargs,
        )

    def density(self, material: str | None) -> float:
        if material is None:
            return self.default_density_kg_m3
        name = material.lower()
        if name not in self.densities:
            raise InputError(
                f"unknown material {material!r}; use one of {', '.join(self.densities)}"
            )
        return self.densities[name]

    def estimate(
        self,
        *,
        frames: np.ndarray | None = None,
        material: str | None = None,
        meters_per_pixel: float | None = None,
        x: float | None = None,
        y: float | None = None,
    ) -> float:
        if not meters_per_pixel or meters_per_pixel <= 0:
            raise InputError("the apparent-volume mass estimate needs meters_per_pixel > 0")
        volume_m3 = self.area_px * np.pi / 4 * self.width_px * meters_per_pixel**3
        return float(self.density(material) * volume_m3)


__all__ = [
    "AREA_PERCENTILE",
    "DEFAULT_DENSITY_KG_M3",
    "ApparentVolumeMassEstimator",
    "mask_width_px",
]
