"""PhysicsBank: exact nearest neighbours (L2 and L1), IVF, lookup of values, save/load, bad banks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from physfoley.errors import InputError, ModelError
from physfoley.retrieval import PhysicsBank


def _bank_data(n=200, d=16, k=9, seed=0):
    rng = np.random.default_rng(seed)
    keys = rng.normal(size=(n, d)).astype(np.float32)
    values = {
        "freq_hz": rng.uniform(50, 10000, size=(n, k)).astype(np.float32),
        "power_db": rng.uniform(-80, 0, size=(n, k)).astype(np.float32),
        "band_weight": rng.uniform(0, 1, size=(n, 4)).astype(np.float32),
    }
    clip_ids = [f"vid{i // 10}:{i}" for i in range(n)]
    materials = [("wood", "metal", "glass")[i % 3] for i in range(n)]
    return keys, values, clip_ids, materials


def _brute(keys, queries, metric):
    diff = queries[:, None, :] - keys[None, :, :]
    dist = np.sqrt((diff**2).sum(-1)) if metric == "l2" else np.abs(diff).sum(-1)
    return dist.argmin(1), dist.min(1)


@pytest.mark.parametrize("metric", ["l2", "l1"])
def test_flat_search_matches_brute_force(metric):
    keys, values, ids, mats = _bank_data()
    bank = PhysicsBank.build(keys, values, clip_ids=ids, materials=mats, metric=metric)
    queries = np.random.default_rng(1).normal(size=(37, keys.shape[1])).astype(np.float32)
    idx, dist = bank.search(queries, k=3)
    want_idx, want_dist = _brute(keys, queries, metric)
    assert idx.shape == (37, 3) and dist.shape == (37, 3)
    np.testing.assert_array_equal(idx[:, 0], want_idx)
    np.testing.assert_allclose(dist[:, 0], want_dist, rtol=1e-4, atol=1e-4)
    assert np.all(np.diff(dist, axis=1) >= -1e-5)  # nearest first


def test_l1_and_l2_can_disagree_and_each_is_right():
    keys = np.array([[3.0, 0.0], [2.0, 2.0]], np.float32)  # L2: 3 vs 2.83; L1: 3 vs 4
    q = np.zeros((1, 2), np.float32)
    kw = dict(clip_ids=["a", "b"], materials=["wood", "metal"])
    assert PhysicsBank.build(keys, {}, metric="l2", **kw).search(q)[0][0, 0] == 1
    assert PhysicsBank.build(keys, {}, metric="l1", **kw).search(q)[0][0, 0] == 0


def test_lookup_returns_neighbour_values_ids_and_materials():
    keys, values, ids, mats = _bank_data()
    bank = PhysicsBank.build(keys, values, clip_ids=ids, materials=mats)
    rows = np.array([5, 17, 123])
    found = bank.lookup(torch.from_numpy(keys[rows] + 1e-3))  # tensors work too
    np.testing.assert_array_equal(found.indices[:, 0], rows)
    np.testing.assert_array_equal(found.values["freq_hz"], values["freq_hz"][rows])
    assert found.values["band_weight"].shape == (3, 4)
    assert found.clip_ids == [ids[r] for r in rows]
    assert found.materials == [mats[r] for r in rows]
    top2 = bank.lookup(keys[rows], k=2)
    assert top2.values["power_db"].shape == (3, 2, 9) and len(top2.clip_ids[0]) == 2


def test_ivf_finds_exact_neighbours_of_stored_keys():
    keys, values, ids, mats = _bank_data(n=2000, d=8)
    bank = PhysicsBank.build(keys, values, clip_ids=ids, materials=mats, index="ivf", nprobe=64)
    assert bank.index_kind == "ivf" and bank.nlist > 1
    rows = np.arange(0, 2000, 97)
    idx, dist = bank.search(keys[rows])
    np.testing.assert_array_equal(idx[:, 0], rows)
    np.testing.assert_allclose(dist[:, 0], 0.0, atol=1e-3)


@pytest.mark.parametrize("index", ["flat", "ivf"])
def test_save_load_roundtrip(tmp_path, index):
    keys, values, ids, mats = _bank_data(n=400)
    bank = PhysicsBank.build(
        keys, values, clip_ids=ids, materials=mats, metric="l1", index=index, extra={"nu": "v1"}
    )
    bank.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.faiss", "bank.json", "bank.npz"]
    again = PhysicsBank.load(tmp_path)
    assert (again.metric, again.index_kind, again.extra) == ("l1", index, {"nu": "v1"})
    q = keys[:50] + 0.01
    for a, b in zip(bank.search(q, k=2), again.search(q, k=2), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(again.values["power_db"], values["power_db"])
    assert again.clip_ids.tolist() == ids
    with pytest.raises(InputError, match="exists"):
        bank.save(tmp_path)
    bank.save(tmp_path, force=True)


def test_missing_partial_and_corrupt_banks_raise_model_error(tmp_path):
    keys, values, ids, mats = _bank_data(n=50)
    with pytest.raises(ModelError, match="missing"):
        PhysicsBank.load(tmp_path)
    PhysicsBank.build(keys, values, clip_ids=ids, materials=mats).save(tmp_path)
    raw = (tmp_path / "bank.faiss").read_bytes()
    (tmp_path / "bank.faiss").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelError, match="checksum"):
        PhysicsBank.load(tmp_path)
    (tmp_path / "bank.faiss").write_bytes(raw)
    PhysicsBank.load(tmp_path)
    (tmp_path / "bank.json").write_text("{not json")
    with pytest.raises(ModelError, match="JSON"):
        PhysicsBank.load(tmp_path)
    (tmp_path / "bank.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ModelError, match="not a physfoley physics bank"):
        PhysicsBank.load(tmp_path)
    (tmp_path / "bank.json").unlink()
    with pytest.raises(ModelError, match="bank.json"):
        PhysicsBank.load(tmp_path)


def test_bad_inputs_are_input_errors():
    keys, values, ids, mats = _bank_data(n=20)
    with pytest.raises(InputError, match="metric"):
        PhysicsBank.build(keys, values, clip_ids=ids, materials=mats, metric="cosine")
    with pytest.raises(InputError, match="rows"):
        PhysicsBank.build(keys, {"x": np.zeros((3, 2))}, clip_ids=ids, materials=mats)
    bank = PhysicsBank.build(keys, values, clip_ids=ids, materials=mats)
    with pytest.raises(InputError, match="dimension"):
        bank.search(np.zeros((2, 3), np.float32))
    with pytest.raises(InputError, match="NaN"):
        bank.search(np.full((1, keys.shape[1]), np.nan, np.float32))
    with pytest.raises(InputError, match="k must be"):
        bank.search(keys[:1], k=21)
