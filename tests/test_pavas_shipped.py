"""The shipped `pavas` model (tracked in git: no skip): it loads by name, fits its size budget,
and its what-if edits move the generated hits the way SynthHits' physics says."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _soundtrack_data import make_synthhits

from physfoley.evaluation.soundtracks import read_synthhits_hits
from physfoley.evaluation.whatif import peak_levels_db
from physfoley.families import SHIPPED_MODELS, load_pipeline
from physfoley.pavas_pipeline import PavasPipeline


@pytest.fixture(scope="module")
def shipped():
    return load_pipeline("pavas")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three 8 s SynthHits videos of a seed no model was trained or tuned on, with their hits."""
    raw = make_synthhits(tmp_path_factory.mktemp("shipped"), videos=3, seconds=8.0, seed=4242)
    out = []
    for physics in sorted(raw.glob("*_physics.json")):
        times, _, _ = read_synthhits_hits(physics)
        out.append((physics.with_name(physics.name.replace("_physics.json", "_denoised.mp4")),
                    times))  # fmt: skip
    return out


def test_the_shipped_pavas_model_loads_by_name_within_its_budget(shipped):
    path = SHIPPED_MODELS["pavas"]
    assert isinstance(shipped, PavasPipeline)
    assert sum(p.stat().st_size for p in path.iterdir()) <= 15e6
    doc = json.loads((path / "config.json").read_text())
    assert doc["family"] == "pavas" and doc["sampling"]["physics_scale"] > 0
    assert doc["training"]["pavas_adapter"]["segments_level"] == "recorded"
    assert shipped.nets["pavas"].cfg.prior_mass_kg is not None


def test_the_shipped_model_is_louder_for_a_faster_or_heavier_striker(shipped, clips):
    changes = {"speed x2": [], "speed x0.5": [], "mass x2": []}
    for video, times in clips:
        objects = shipped.estimate(video)
        assert objects, "the estimator finds the striker"

        def levels(video=video, objects=objects, times=times, **edit):
            result = shipped.synthesize(video, objects=objects, seed=0, **edit)
            assert np.isfinite(result.wave).all()
            assert result.duration_s == pytest.approx(8.0, abs=0.1)
            return peak_levels_db(result.wave, result.sample_rate, times)

        base = levels()
        changes["speed x2"].append(levels(speed_scale=2.0) - base)
        changes["speed x0.5"].append(levels(speed_scale=0.5) - base)
        changes["mass x2"].append(levels(mass_scale=2.0) - base)
    mean = {k: float(np.concatenate(v).mean()) for k, v in changes.items()}
    assert sum(len(t) for _, t in clips) >= 12
    # physics: +6 dB for x2 and -6 dB for x0.5 (docs/RESULTS.md section 9 measures +4.8 / -4.8
    # over 182 hits); on these 17 hits only the direction is asserted (measured here: +0.5,
    # -2.7 and +8.0 dB for mass x2)
    assert mean["speed x2"] > 0 and mean["speed x0.5"] < 0 and mean["mass x2"] > 0, mean
