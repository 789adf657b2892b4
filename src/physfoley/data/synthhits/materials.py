"""The 10 SynthHits materials: mechanics (density, stiffness, damping) and look, with jitter.

Numbers are textbook orders of magnitude (density kg/m^3, Young's modulus Pa). Damping is
Rayleigh damping, sigma(omega) = alpha/2 + beta*omega^2/2 (amplitude decay rate, 1/s), so
decay grows with frequency. Every object draws its own values around the material's nominal
ones (log-normal jitter), so materials overlap the way real objects do: a thick plastic bowl
can ring longer than a thin chipped mug. The look is deliberately ambiguous in places
(ceramic vs plastic vs glazed tiles; cloth vs carpet; drywall vs paper vs rock greys).
"""

from __future__ import annotations

from dataclasses import dataclass

from physfoley.errors import InputError
from physfoley.materials import MATERIALS  # the paper's order, one definition


@dataclass(frozen=True)
class Material:
    """Nominal mechanics and look of one material.

    density_kg_m3, youngs_pa : float
        Nominal values; objects jitter them (log-normal, `mech_jitter`).
    rayleigh_alpha, rayleigh_beta : float
        Rayleigh damping (1/s and s); objects jitter them by `damping_jitter` (log-normal sigma).
    contact_youngs_pa : float
        Stiffness the striker's tip feels (Hertz contact); soft surfaces give long, dull contacts.
    restitution : float
        Coefficient of restitution of a drumstick on it (speed after / speed before).
    shapes : dict kind -> probability; kinds: bar, plate, shell, lump, soft.
    colors : RGB base colours (0-255) the look samples from, then jitters.
    texture : one of grain, smooth, brushed, speckle, weave, fuzz, sheet, matte, clear.
    sheen : 0..1 strength of the specular highlight.
    transparency : 0..1 how much background shows through (glass).
    rattle_prob : probability that a hit on it rattles.
    """

    name: str
    density_kg_m3: float
    youngs_pa: float
    rayleigh_alpha: float
    rayleigh_beta: float
    contact_youngs_pa: float
    restitution: float
    shapes: dict[str, float]
    colors: tuple[tuple[int, int, int], ...]
    texture: str
    sheen: float
    transparency: float = 0.0
    rattle_prob: float = 0.15
    mech_jitter: float = 0.25
    damping_jitter: float = 0.3


_M = [
    Material(
        "glass", 2500, 70e9, 8.0, 1.0e-7, 70e9, 0.6,
        {"shell": 0.7, "plate": 0.3},
        ((200, 225, 220), (170, 200, 190), (190, 205, 215)),
        "clear", 0.9, transparency=0.55, rattle_prob=0.2,
    ),
    Material(
        "wood", 650, 11e9, 60.0, 1.5e-6, 11e9, 0.45,
        {"bar": 0.45, "plate": 0.55},
        ((160, 110, 60), (190, 140, 90), (120, 75, 40), (210, 170, 120), (90, 60, 40)),
        "grain", 0.15,
    ),
    Material(
        "ceramic", 2400, 90e9, 15.0, 2.0e-7, 90e9, 0.55,
        {"shell": 0.65, "plate": 0.35},
        ((235, 235, 230), (225, 215, 190), (60, 90, 140)),
        "smooth", 0.7, rattle_prob=0.2,
    ),
    Material(
        "metal", 7850, 200e9, 3.0, 2.0e-8, 200e9, 0.55,
        {"bar": 0.3, "plate": 0.35, "shell": 0.35},
        ((170, 170, 175), (140, 140, 150), (190, 160, 90)),
        "brushed", 0.85, rattle_prob=0.25,
    ),
    Material(
        "cloth", 300, 5e6, 700.0, 1.0e-5, 1.5e7, 0.1,
        {"soft": 1.0},
        ((60, 70, 130), (150, 40, 50), (90, 120, 80)),
        "weave", 0.0, rattle_prob=0.05,
    ),
    Material(
        "plastic", 1100, 2.5e9, 40.0, 9.0e-7, 2.5e9, 0.5,
        {"shell": 0.6, "plate": 0.4},
        ((230, 230, 225), (200, 50, 40), (40, 90, 180), (240, 200, 40)),
        "smooth", 0.55, rattle_prob=0.25,
    ),
    Material(
        "drywall", 700, 2.5e9, 250.0, 5.0e-6, 2.0e9, 0.3,
        {"plate": 1.0},
        ((225, 222, 215), (210, 205, 195), (235, 235, 232), (190, 185, 175)),
        "matte", 0.0, rattle_prob=0.05,
    ),
    Material(
        "carpet", 250, 2e6, 1000.0, 1.5e-5, 1e7, 0.1,
        {"soft": 1.0},
        ((120, 100, 80), (90, 90, 95), (140, 60, 50)),
        "fuzz", 0.0, rattle_prob=0.02,
    ),
    Material(
        "paper", 800, 3e9, 350.0, 6.0e-6, 5e8, 0.2,
        {"soft": 1.0},
        ((240, 240, 235), (225, 220, 200), (200, 180, 140), (245, 245, 245)),
        "sheet", 0.05, rattle_prob=0.1,
    ),
    Material(
        "rock", 2600, 40e9, 40.0, 2.0e-7, 40e9, 0.5,
        {"lump": 1.0},
        ((130, 125, 120), (160, 150, 135), (95, 90, 85)),
        "speckle", 0.1, rattle_prob=0.1,
    ),
]  # fmt: skip

MATERIAL_TABLE: dict[str, Material] = {m.name: m for m in _M}
assert tuple(MATERIAL_TABLE) == MATERIALS

# Metals are not one material: steel, aluminium, brass (density, Young's modulus).
METAL_ALLOYS: tuple[tuple[str, float, float], ...] = (
    ("steel", 7850.0, 200e9),
    ("aluminium", 2700.0, 69e9),
    ("brass", 8500.0, 100e9),
)


def get_material(name: str) -> Material:
    """Material by name (one of `MATERIALS`)."""
    if name not in MATERIAL_TABLE:
        raise InputError(f"unknown material {name!r}; choose one of {', '.join(MATERIALS)}")
    return MATERIAL_TABLE[name]
