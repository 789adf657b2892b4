"""PhysicsBank: a FAISS key-value store from visual latents nu to the physics of training clips.

At test time there is no sound to analyse, so the physics prior mu of a new impact is borrowed
from the training clip that looks most alike (Su et al. section 3.3): the bank holds one key per
training clip (its visual latent nu [D]) and, as values, that clip's physics inputs (modal
frequencies, powers, decays, residual band weights and decays, optionally the latent mu itself),
its clip id and its material. Search is exact Euclidean distance (`IndexFlatL2`, as the paper
says) by default; L1 (the reference code's choice, FAISS `METRIC_L1`) and an inverted-file index
(IVF, for banks of millions of keys) are options. One FAISS call searches a whole batch, so there
is no Python loop over train x test pairs.

On disk a bank is three files in a (model) directory: `bank.faiss` (the index), `bank.npz` (values,
clip ids, materials, keys) and `bank.json` (metadata, written last: a bank without it is partial).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from physfoley.atomic import write_bytes_atomic, write_text_atomic
from physfoley.errors import InputError, ModelError

BANK_FORMAT = "physfoley-physics-bank"
BANK_VERSION = 1
BANK_FILES = ("bank.faiss", "bank.npz", "bank.json")
METRICS = ("l2", "l1")
INDEX_KINDS = ("flat", "ivf")


@dataclass
class BankLookup:
    """Result of `PhysicsBank.lookup` for B queries and k neighbours.

    values : dict name -> np.ndarray[B, ...] (k == 1) or [B, k, ...], the neighbours' physics
    indices : np.ndarray[B, k] int64, rows of the bank
    distances : np.ndarray[B, k] float32, Euclidean (l2) or L1 distances
    clip_ids, materials : list (length B) of str (k == 1) or of list[str] (k > 1)
    """

    values: dict[str, np.ndarray]
    indices: np.ndarray
    distances: np.ndarray
    clip_ids: list
    materials: list


def _faiss():
    import faiss

    return faiss


def _as_keys(keys, dim: int | None = None, what: str = "keys") -> np.ndarray:
    if hasattr(keys, "detach"):  # torch.Tensor
        keys = keys.detach().cpu().numpy()
    arr = np.ascontiguousarray(np.asarray(keys, dtype=np.float32))
    if arr.ndim != 2:
        raise InputError(f"{what} must be a 2-D array [N, D]; got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise InputError(f"{what} have dimension {arr.shape[1]} but the bank's keys have {dim}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{what} contain NaN or infinite values")
    return arr


class PhysicsBank:
    """Nearest-neighbour store: visual latent nu [D] -> physics values of one training clip.

    Build with `PhysicsBank.build(keys, values, clip_ids=..., materials=...)`, query with
    `search` / `lookup`, persist with `save(dir)` / `PhysicsBank.load(dir)`.
    """

    def __init__(
        self,
        index,
        keys: np.ndarray,
        values: dict[str, np.ndarray],
        clip_ids: np.ndarray,
        materials: np.ndarray,
        *,
        metric: str,
        index_kind: str,
        nlist: int,
        nprobe: int,
        extra: dict | None = None,
    ) -> None:
        self.index = index
        self.keys = keys
        self.values = values
        self.clip_ids = clip_ids
        self.materials = materials
        self.metric = metric
        self.index_kind = index_kind
        self.nlist = nlist
        self.nprobe = nprobe
        self.extra = dict(extra or {})

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(
        cls,
        keys,
        values: dict[str, np.ndarray],
        *,
        clip_ids,
        materials,
        metric: str = "l2",
        index: str = "flat",
        nlist: int | None = None,
        nprobe: int = 16,
        seed: int = 0,
        extra: dict | None = None,
    ) -> PhysicsBank:
        """Build a bank.

        Parameters
        ----------
        keys : array or Tensor [N, D], the training clips' visual latents nu.
        values : name -> array [N, ...], the physics inputs of each clip (e.g. freq_hz [N, K],
            power_db [N, K], decay_db_per_s [N, K], band_weight [N, M], band_decay_db_per_s [N, M]).
        clip_ids, materials : sequences of N strings (reported with every neighbour).
        metric : "l2" (Euclidean, the paper) or "l1" (the reference code).
        index : "flat" (exact) or "ivf" (inverted lists; approximate, for millions of keys).
        nlist : IVF cells (default ~4 sqrt(N)); nprobe : cells visited per query.
        extra : JSON-able metadata saved with the bank (e.g. which encoder made the keys).
        """
        keys = _as_keys(keys)
        n, dim = keys.shape
        if n == 0:
            raise InputError("cannot build a physics bank from zero keys")
        if metric not in METRICS:
            raise InputError(f"unknown bank metric {metric!r}; choose one of {METRICS}")
        if index not in INDEX_KINDS:
            raise InputError(f"unknown bank index {index!r}; choose one of {INDEX_KINDS}")
        vals: dict[str, np.ndarray] = {}
        for name, arr in values.items():
            if hasattr(arr, "detach"):
                arr = arr.detach().cpu().numpy()
            arr = np.asarray(arr)
            if arr.shape[:1] != (n,):
                raise InputError(f"bank value {name!r} has {arr.shape[:1]} rows; expected {n}")
            vals[name] = arr
        clip_ids = np.asarray([str(c) for c in clip_ids])
        materials = np.asarray([str(m) for m in materials])
        if clip_ids.shape != (n,) or materials.shape != (n,):
            raise InputError(f"clip_ids and materials must have {n} entries each")
        faiss = _faiss()
        faiss_metric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_L1
        if index == "flat":
            nlist_used = 0
            idx = faiss.IndexFlat(dim, faiss_metric)
        else:
            nlist_used = int(nlist or max(1, min(n // 39, int(4 * np.sqrt(n)))))
            if n < nlist_used:
                raise InputError(f"IVF with {nlist_used} cells needs at least as many keys ({n})")
            quantizer = faiss.IndexFlat(dim, faiss_metric)
            idx = faiss.IndexIVFFlat(quantizer, dim, nlist_used, faiss_metric)
            idx.cp.seed = seed
            idx.train(keys)
            idx.nprobe = min(nprobe, nlist_used)
        idx.add(keys)
        return cls(
            idx,
            keys,
            vals,
            clip_ids,
            materials,
            metric=metric,
            index_kind=index,
            nlist=nlist_used,
            nprobe=nprobe,
            extra=extra,
        )

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return int(self.keys.shape[0])

    @property
    def dim(self) -> int:
        return int(self.keys.shape[1])

    def search(self, queries, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Find the k nearest keys of each query in one FAISS call.

        queries : array or Tensor [B, D]. Returns (indices [B, k] int64, distances [B, k] float32),
        nearest first; distances are Euclidean for "l2" (FAISS' squared distances, square-rooted)
        and sums of absolute differences for "l1".
        """
        queries = _as_keys(queries, self.dim, what="queries")
        if not 1 <= k <= len(self):
            raise InputError(f"k must be between 1 and the bank size {len(self)}; got {k}")
        if queries.shape[0] == 0:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        distances, indices = self.index.search(queries, k)
        if (indices < 0).any():  # IVF with too few probed cells can come back short
            raise InputError(
                "the IVF bank found fewer than k neighbours; raise nprobe or use index='flat'"
            )
        if self.metric == "l2":
            distances = np.sqrt(np.maximum(distances, 0.0))
        return indices.astype(np.int64), distances.astype(np.float32)

    def lookup(self, queries, k: int = 1) -> BankLookup:
        """Search and gather the neighbours' values, clip ids and materials (see `BankLookup`)."""
        indices, distances = self.search(queries, k)
        rows = indices[:, 0] if k == 1 else indices
        values = {name: arr[rows] for name, arr in self.values.items()}
        clip_ids = self.clip_ids[rows].tolist()
        materials = self.materials[rows].tolist()
        return BankLookup(values, indices, distances, clip_ids, materials)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike, *, force: bool = False) -> Path:
        """Write bank.faiss, bank.npz and bank.json into `directory` (created if missing).

        Each file is written atomically; bank.json goes last and records the shapes, so a bank
        interrupted half-way is detected as partial by `load`.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if not force:
            for name in BANK_FILES:
                if (directory / name).exists():
                    raise InputError(f"{directory / name} exists; pass force=True to overwrite it")
        # bank.json is the commit marker: remove the old one first, so that a crash while
        # overwriting leaves a bank that `load` reports as partial rather than a silent mix.
        (directory / "bank.json").unlink(missing_ok=True)
        faiss = _faiss()
        index_bytes = faiss.serialize_index(self.index).tobytes()
        write_bytes_atomic(directory / "bank.faiss", index_bytes, force=True)
        arrays = {f"value__{k}": v for k, v in self.values.items()}
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, keys=self.keys, clip_ids=self.clip_ids, materials=self.materials, **arrays
        )
        npz_bytes = buffer.getvalue()
        write_bytes_atomic(directory / "bank.npz", npz_bytes, force=True)
        meta = {
            "format": BANK_FORMAT,
            "version": BANK_VERSION,
            "num_keys": len(self),
            "dim": self.dim,
            "metric": self.metric,
            "index": self.index_kind,
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "values": {k: list(v.shape[1:]) for k, v in self.values.items()},
            "sha256": {
                "bank.faiss": hashlib.sha256(index_bytes).hexdigest(),
                "bank.npz": hashlib.sha256(npz_bytes).hexdigest(),
            },
            "extra": self.extra,
        }
        write_text_atomic(directory / "bank.json", json.dumps(meta, indent=2) + "\n", force=True)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> PhysicsBank:
        """Read a bank saved by `save`; a missing, partial or corrupt bank raises `ModelError`."""
        directory = Path(directory)
        missing = [n for n in BANK_FILES if not (directory / n).is_file()]
        if missing:
            raise ModelError(
                f"{directory} has no complete physics bank (missing {', '.join(missing)}); "
                "build it with physfoley.training.diffusion.build_physics_bank"
            )
        try:
            meta = json.loads((directory / "bank.json").read_text())
        except (OSError, ValueError) as err:
            raise ModelError(f"{directory / 'bank.json'} is not valid JSON ({err})") from None
        if not isinstance(meta, dict) or meta.get("format") != BANK_FORMAT:
            raise ModelError(f"{directory / 'bank.json'} is not a physfoley physics bank")
        if meta.get("version") != BANK_VERSION:
            raise ModelError(
                f"physics bank version {meta.get('version')} is not supported (want {BANK_VERSION})"
            )
        index_bytes = (directory / "bank.faiss").read_bytes()
        npz_bytes = (directory / "bank.npz").read_bytes()
        sums = meta.get("sha256", {})
        for name, blob in (("bank.faiss", index_bytes), ("bank.npz", npz_bytes)):
            if sums.get(name) != hashlib.sha256(blob).hexdigest():
                raise ModelError(
                    f"{directory / name} does not match its checksum in bank.json "
                    "(corrupt or from another save); rebuild the bank"
                )
        faiss = _faiss()
        try:
            index = faiss.deserialize_index(np.frombuffer(index_bytes, dtype=np.uint8))
            with np.load(io.BytesIO(npz_bytes), allow_pickle=False) as data:
                keys = np.ascontiguousarray(data["keys"], dtype=np.float32)
                clip_ids = data["clip_ids"]
                materials = data["materials"]
                values = {
                    k[len("value__") :]: data[k] for k in data.files if k.startswith("value__")
                }
        except Exception as err:  # FAISS raises RuntimeError, numpy BadZipFile/KeyError/...
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ModelError(f"physics bank in {directory} is corrupt ({reason})") from None
        n, dim = int(meta.get("num_keys", -1)), int(meta.get("dim", -1))
        shapes_ok = (
            keys.shape == (n, dim)
            and index.ntotal == n
            and index.d == dim
            and clip_ids.shape == (n,)
            and materials.shape == (n,)
            and all(v.shape[:1] == (n,) for v in values.values())
            and set(values) == set(meta.get("values", {}))
        )
        if not shapes_ok:
            raise ModelError(
                f"physics bank in {directory} is inconsistent (files from different saves?); "
                "rebuild it"
            )
        if meta.get("index") == "ivf":
            index.nprobe = int(meta.get("nprobe", 16))
        return cls(
            index,
            keys,
            values,
            clip_ids,
            materials,
            metric=meta["metric"],
            index_kind=meta["index"],
            nlist=int(meta.get("nlist", 0)),
            nprobe=int(meta.get("nprobe", 16)),
            extra=meta.get("extra", {}),
        )
