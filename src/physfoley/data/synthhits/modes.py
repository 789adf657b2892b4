"""Objects and their vibration modes: geometry + material -> mode frequencies, damping, shapes.

Each object is one of five kinds, each with textbook mode ratios:
- bar: free-free Euler-Bernoulli beam, f_n = (beta_n L)^2 / (2 pi L^2) * h sqrt(E / 12 rho).
- plate: rectangular plate (simply supported approximation),
  f_mn = (pi/2) sqrt(D / rho h) ((m/a)^2 + (n/b)^2), D = E h^3 / 12 (1 - nu^2).
- shell: cups, bowls, bottles: ring bending modes f_n ~ h/R^2 sqrt(E/12 rho) n(n^2-1)/sqrt(n^2+1),
  each a near-degenerate pair split by imperfection (the beating of a struck glass), plus an
  axial family.
- lump: rocks, irregular solids: f0 ~ k c / L (c = sqrt(E/rho), k from cracks and shape) with
  irregular overtones.
- soft: cloth, carpet, paper lying on a hidden support (table, floor): the support's plate modes,
  damped by the soft material's Rayleigh damping.

Decay per mode is Rayleigh damping, sigma_k = alpha/2 + beta omega_k^2 / 2 (1/s). The
amplitude with which a strike excites mode k is the mode shape at the strike point (bar: the
beam shape at u; plate: sin(m pi u) sin(n pi v); shell: cos/sin(n theta) of the pair). Only u
(along the visible length) is seen in the picture; v, thickness and the support are hidden, so
the picture only partly tells the modes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from physfoley.data.synthhits.materials import METAL_ALLOYS, Material

MAX_MODES = 40
MIN_FREQ_HZ = 40.0
MAX_FREQ_HZ = 19000.0
POISSON = 0.3

# Free-free beam eigenvalues beta_n L (then (2n+1) pi / 2).
_BEAM_BL = np.array(
    [4.7300, 7.8532, 10.9956, 14.1372, 17.2788] + [(2 * n + 1) * np.pi / 2 for n in range(6, 16)]
)


@dataclass
class ObjectPhysics:
    """One object's mechanics and geometry (SI units) and its modes.

    kind : bar | plate | shell | lump | soft
    length_m, width_m, thickness_m, height_m : float, size (shell: width = 2 R, height = wall height)
    mass_kg : float
    freq_hz, decay_per_s : np.ndarray[K] mode frequencies and amplitude decay rates (1/s)
    mode_index : np.ndarray[K, 2] mode numbers (bar: n, 0; plate: m, n; shell: n, pair; lump: k, 0)
    shape_params : extra per-mode numbers the strike amplitude needs (np arrays)
    """

    material: str
    kind: str
    alloy: str | None
    density_kg_m3: float
    youngs_pa: float
    rayleigh_alpha: float
    rayleigh_beta: float
    contact_youngs_pa: float
    restitution: float
    length_m: float
    width_m: float
    thickness_m: float
    height_m: float
    mass_kg: float
    freq_hz: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    decay_per_s: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    mode_index: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 2)))
    shape_params: dict = field(repr=False, default_factory=dict)

    def summary(self) -> dict:
        return {
            "material": self.material,
            "kind": self.kind,
            "alloy": self.alloy,
            "density_kg_m3": round(float(self.density_kg_m3), 3),
            "youngs_pa": float(f"{self.youngs_pa:.6g}"),
            "rayleigh_alpha": round(float(self.rayleigh_alpha), 6),
            "rayleigh_beta": float(f"{self.rayleigh_beta:.6g}"),
            "contact_youngs_pa": float(f"{self.contact_youngs_pa:.6g}"),
            "restitution": round(float(self.restitution), 4),
            "length_m": round(float(self.length_m), 5),
            "width_m": round(float(self.width_m), 5),
            "thickness_m": round(float(self.thickness_m), 6),
            "height_m": round(float(self.height_m), 5),
            "mass_kg": round(float(self.mass_kg), 5),
            "modes": {
                "freq_hz": [round(float(f), 3) for f in self.freq_hz],
                "decay_db_per_s": [round(float(d) * DB_PER_NEPER, 3) for d in self.decay_per_s],
            },
        }


DB_PER_NEPER = 20.0 / np.log(10.0)


def _logn(rng: np.random.Generator, sigma: float) -> float:
    return float(np.exp(rng.normal(0.0, sigma)))


def sample_object(mat: Material, rng: np.random.Generator, *, max_length_m: float) -> ObjectPhysics:
    """Draw one object of material `mat`: kind, jittered mechanics, size, then its modes.

    max_length_m : largest visible length the scene has room for (the object may be bigger
    only for plates, which then run out of their slot, as a board or wall panel would).
    """
    kinds = list(mat.shapes)
    probs = np.array([mat.shapes[k] for k in kinds])
    kind = kinds[int(rng.choice(len(kinds), p=probs / probs.sum()))]
    rho, E = mat.density_kg_m3, mat.youngs_pa
    alloy = None
    if mat.name == "metal":
        alloy, rho, E = METAL_ALLOYS[int(rng.integers(len(METAL_ALLOYS)))]
    rho *= _logn(rng, mat.mech_jitter * 0.5)
    E *= _logn(rng, mat.mech_jitter)
    alpha = mat.rayleigh_alpha * _logn(rng, mat.damping_jitter)
    beta = mat.rayleigh_beta * _logn(rng, mat.damping_jitter)
    contact_E = mat.contact_youngs_pa * _logn(rng, 0.4)
    restitution = float(np.clip(mat.restitution * _logn(rng, 0.2), 0.03, 0.85))

    def u(lo: float, hi: float) -> float:  # a range squeezed by a small slot stays valid
        return float(rng.uniform(lo, max(hi, lo + 1e-3)))

    if kind == "bar":
        length = min(u(0.12, 0.5), max_length_m)
        width = u(0.015, 0.06)
        thick = u(0.004, 0.03) if mat.name == "wood" else u(0.003, 0.02)
        height = thick
        mass = rho * length * width * thick
    elif kind == "plate":
        big = mat.name in ("drywall", "wood")
        length = u(0.15, 0.9 if big else 0.45)
        width = length * u(0.4, 1.0)
        thick = {
            "glass": (0.003, 0.008),
            "wood": (0.006, 0.03),
            "ceramic": (0.005, 0.012),
            "metal": (0.0008, 0.004),
            "plastic": (0.002, 0.008),
            "drywall": (0.009, 0.016),
        }.get(mat.name, (0.003, 0.01))
        thick = u(*thick)
        height = thick
        mass = rho * length * width * thick
    elif kind == "shell":
        radius = u(0.025, 0.11)
        length = width = 2 * radius
        height = radius * u(0.8, 4.0)
        thick = radius * u(0.03, 0.12) if mat.name != "metal" else radius * u(0.01, 0.05)
        mass = rho * 2 * np.pi * radius * height * thick * 1.2  # wall + bottom
    elif kind == "lump":
        length = u(0.06, min(0.3, max_length_m))
        width = length * u(0.5, 1.0)
        height = length * u(0.3, 0.8)
        thick = height
        mass = rho * length * width * height * 0.55
    else:  # soft: a piece of cloth, carpet or paper stack on a hidden support
        length = u(0.15, min(0.6, max_length_m * 1.5))
        width = length * u(0.5, 1.0)
        thick = {"cloth": (0.002, 0.03), "carpet": (0.006, 0.02), "paper": (0.0005, 0.03)}[mat.name]
        thick = u(*thick)
        height = thick
        mass = rho * length * width * thick
    length = min(length, max_length_m) if kind not in ("plate", "soft") else length
    obj = ObjectPhysics(
        material=mat.name,
        kind=kind,
        alloy=alloy,
        density_kg_m3=rho,
        youngs_pa=E,
        rayleigh_alpha=alpha,
        rayleigh_beta=beta,
        contact_youngs_pa=contact_E,
        restitution=restitution,
        length_m=float(length),
        width_m=float(width),
        thickness_m=float(thick),
        height_m=float(height),
        mass_kg=float(max(mass, 0.005)),
    )
    _compute_modes(obj, rng)
    return obj


def _compute_modes(obj: ObjectPhysics, rng: np.random.Generator) -> None:
    E, rho, h = obj.youngs_pa, obj.density_kg_m3, obj.thickness_m
    if obj.kind == "bar":
        c = h * np.sqrt(E / (12 * rho))
        bl = _BEAM_BL
        f = bl**2 / (2 * np.pi * obj.length_m**2) * c
        # twisting modes add a second family (torsion ~ c_t / 2L n), weaker
        ct = np.sqrt(E / (2 * (1 + POISSON) * rho)) * (obj.thickness_m / obj.width_m) * 0.9
        ft = np.arange(1, 8) * ct / (2 * obj.length_m)
        freq = np.concatenate([f, ft])
        idx = np.concatenate(
            [
                np.stack([np.arange(1, len(f) + 1), np.zeros(len(f))], 1),
                np.stack([np.arange(1, 8), np.ones(7)], 1),
            ]
        )
    elif obj.kind in ("plate", "soft"):
        if obj.kind == "soft":  # hidden support: table top or floor board
            sE, srho = 11e9 * _logn(rng, 0.3), 650 * _logn(rng, 0.15)
            sh = rng.uniform(0.015, 0.04)
            a, b = rng.uniform(0.4, 1.2), rng.uniform(0.3, 0.9)
            obj.shape_params["support"] = {
                "youngs_pa": sE,
                "density_kg_m3": srho,
                "thickness_m": sh,
                "a_m": a,
                "b_m": b,
            }
        else:
            sE, srho, sh, a, b = E, rho, h, obj.length_m, obj.width_m
        D = sE * sh**3 / (12 * (1 - POISSON**2))
        m, n = np.meshgrid(np.arange(1, 9), np.arange(1, 9), indexing="ij")
        m, n = m.ravel(), n.ravel()
        freq = (np.pi / 2) * np.sqrt(D / (srho * sh)) * ((m / a) ** 2 + (n / b) ** 2)
        freq = freq * (1 + rng.normal(0, 0.02, freq.shape))  # imperfections, boundary conditions
        idx = np.stack([m, n], 1)
    elif obj.kind == "shell":
        radius = obj.width_m / 2
        base = (h / radius**2) * np.sqrt(E / (12 * rho)) / (2 * np.pi)
        nn = np.arange(2, 12)
        fr = base * nn * (nn**2 - 1) / np.sqrt(nn**2 + 1)
        # a short shell is stiffer (closed bottom); tall ones approach the ring
        fr = fr * (1 + 0.6 * radius / max(obj.height_m, 1e-3) / nn)
        split = 1 + rng.uniform(0.001, 0.012, len(nn))
        axial = fr[: len(nn) // 2] * rng.uniform(1.3, 1.7)
        freq = np.concatenate([fr, fr * split, axial])
        idx = np.concatenate(
            [
                np.stack([nn, np.zeros_like(nn)], 1),
                np.stack([nn, np.ones_like(nn)], 1),
                np.stack([nn[: len(nn) // 2], 2 * np.ones(len(nn) // 2)], 1),
            ]
        )
        obj.shape_params["theta0"] = float(rng.uniform(0, np.pi))
    else:  # lump
        c = np.sqrt(E / rho)
        f0 = rng.uniform(0.08, 0.3) * c / obj.length_m
        ratios = np.sort(np.concatenate([[1.0], 1.0 + np.cumsum(rng.uniform(0.15, 0.6, 16))]))
        freq = f0 * ratios
        idx = np.stack([np.arange(len(freq)), np.zeros(len(freq))], 1)
        obj.shape_params["lump_k"] = rng.uniform(1, 4, len(freq))
        obj.shape_params["lump_phase"] = rng.uniform(0, 2 * np.pi, len(freq))
    keep = (freq > MIN_FREQ_HZ) & (freq < MAX_FREQ_HZ)
    freq, idx = freq[keep], idx[keep]
    order = np.argsort(freq)[:MAX_MODES]
    obj.freq_hz = freq[order].astype(np.float64)
    obj.mode_index = idx[order].astype(np.int64)
    omega = 2 * np.pi * obj.freq_hz
    obj.decay_per_s = obj.rayleigh_alpha / 2 + obj.rayleigh_beta * omega**2 / 2


def strike_shape(obj: ObjectPhysics, u: float, v: float) -> np.ndarray:
    """Mode shape magnitude at the strike point, np.ndarray[K] in [0, 1].

    u : position along the visible length (0..1); v : hidden position across (0..1; shells:
    the angle around the rim as a fraction of a turn).
    """
    idx = obj.mode_index
    if len(idx) == 0:
        return np.zeros(0)
    if obj.kind == "bar":
        bl = np.where(idx[:, 1] == 0, _BEAM_BL[np.clip(idx[:, 0] - 1, 0, len(_BEAM_BL) - 1)], 0.0)
        x = bl * u
        bend = (
            np.abs(
                np.cos(x - np.pi / 4)
                + (np.exp(-x) + (-1.0) ** (idx[:, 0] + 1) * np.exp(-(bl - x))) / np.sqrt(2)
            )
            / 2
        )
        tors = np.abs(np.cos(idx[:, 0] * np.pi * u)) * np.abs(v - 0.5) * 1.2
        shape = np.where(idx[:, 1] == 0, bend, tors)
    elif obj.kind in ("plate", "soft"):
        uu = np.clip(u, 0.02, 0.98)
        shape = np.abs(np.sin(idx[:, 0] * np.pi * uu) * np.sin(idx[:, 1] * np.pi * v))
    elif obj.kind == "shell":
        theta = 2 * np.pi * v - obj.shape_params.get("theta0", 0.0)
        n = idx[:, 0]
        shape = np.where(
            idx[:, 1] == 0,
            np.abs(np.cos(n * theta)),
            np.where(idx[:, 1] == 1, np.abs(np.sin(n * theta)), 0.35),
        )
        shape = shape * (1.0 - 0.5 * u)  # u: how far below the rim
    else:
        k, ph = obj.shape_params["lump_k"][idx[:, 0]], obj.shape_params["lump_phase"][idx[:, 0]]
        shape = np.abs(np.cos(k * np.pi * u + ph + 3 * v))
    return np.clip(shape, 0.03, None)
