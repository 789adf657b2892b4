"""Networks: paper-size shapes and one training step, the small preset's budget, TSM, save/load."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from physfoley.config import get_preset, model_config
from physfoley.errors import InputError, ModelError, OutputExistsError
from physfoley.model_dir import load_model_dir, read_model_config, save_model_dir
from physfoley.models.conditioning import ConditionEmbedder
from physfoley.models.factory import build_model, build_residual_encoder
from physfoley.models.physics_encoder import normalize_physics
from physfoley.models.visual_encoder import (
    contact_crop,
    contact_point,
    crop_windows,
    segment_indices,
    temporal_shift,
)


def _physics(b: int, audio, m: int = 100) -> dict[str, torch.Tensor]:
    k = audio.num_freqs
    bin_hz = audio.sample_rate / audio.n_fft
    return {
        "freq_hz": torch.arange(k) * bin_hz + (torch.rand(b, k) - 0.5) * bin_hz,
        "power_db": -80 * torch.rand(b, k),
        "decay_db_per_s": 50 + 2000 * torch.rand(b, k),
        "band_weight": torch.rand(b, m),
        "band_decay_db_per_s": 120 + 1000 * torch.rand(b, m),
    }


def _step(module: torch.nn.Module, loss: torch.Tensor) -> None:
    opt = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=1e-3)
    before = [p.detach().clone() for p in module.parameters() if p.requires_grad]
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = [p.detach() for p in module.parameters() if p.requires_grad]
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.fixture(scope="module")
def paper_model():
    torch.manual_seed(0)
    return build_model("paper")


def test_paper_denoiser_is_the_papers_unet_and_trains(paper_model):
    cfg = paper_model.cfg
    assert cfg.denoiser.kind == "unet2d" and cfg.denoiser.unet_mults == (1, 2, 4, 8)
    n_params = sum(p.numel() for p in paper_model.denoiser.parameters())
    assert 30e6 < n_params < 60e6  # 35 M in the paper with a 17-d nu; 2048-d nu widens FiLM
    cond = {"mu": torch.randn(1, 256), "nu": torch.randn(1, 2048)}
    # The U-Net is fully convolutional (input padded to a multiple of 8, output cropped back):
    # an odd-sized frequency crop checks the shapes and a step exercises every weight; the full
    # 1025 x 44 step is the slow test below.
    out = paper_model.denoiser(torch.rand(1, 1, 129, 44) * 2 - 1, torch.tensor([10]), cond)
    assert out.shape == (1, 1, 129, 44)
    _step(paper_model.denoiser, F.l1_loss(out, torch.randn_like(out)))


@pytest.mark.slow
def test_paper_unet_full_size_training_step(paper_model):
    cond = {"mu": torch.randn(1, 256), "nu": torch.randn(1, 2048)}
    out = paper_model.denoiser(torch.rand(1, 1, 1025, 44) * 2 - 1, torch.tensor([500]), cond)
    assert out.shape == (1, 1, 1025, 44)
    _step(paper_model.denoiser, F.l1_loss(out, torch.randn_like(out)))


def test_paper_visual_encoder_is_resnet50_tsm_and_trains(paper_model):
    enc = paper_model.visual
    assert enc.latent_dim == 2048
    assert 23e6 < sum(p.numel() for p in enc.parameters()) < 24e6  # ResNet-50 + 10-way fc
    frames = torch.randint(0, 255, (2, 2, 32, 32, 3), dtype=torch.uint8)
    logits, feats = enc(frames)
    assert logits.shape == (2, 10) and feats.shape == (2, 2048)
    _step(enc, F.cross_entropy(logits, torch.tensor([1, 3])))
    enc.eval()
    with torch.no_grad():
        nu = paper_model.visual_latent(torch.randint(0, 255, (1, 22, 32, 32, 3), dtype=torch.uint8))
    assert nu.shape == (1, 2048)


def test_paper_physics_and_residual_encoders_train(paper_model):
    audio = get_preset("paper")
    mu = paper_model.physics_latent(_physics(3, audio))
    assert mu.shape == (3, 256) and mu.abs().max() < 1
    _step(paper_model.physics, mu.square().mean())
    res = build_residual_encoder(paper_model.cfg)
    weight, decay = res(torch.rand(3, 1025, 44) * 2 - 1)
    assert weight.shape == decay.shape == (3, 100)
    assert ((weight > 0) & (weight < 1)).all() and (decay >= 60 / 0.5 - 1e-3).all()
    _step(res, weight.mean() + decay.log().mean())


def test_small_model_shapes_and_size_budget():
    model = build_model("small")
    cfg = model.cfg
    assert cfg.audio.spec_shape == (257, 44) and cfg.denoiser.kind == "dit"
    n = sum(p.numel() for p in model.parameters())
    assert n * 2 < 25e6  # float16 weights leave room for the physics bank within 30 MB
    b = 2
    frames = torch.randint(0, 255, (b, 22, 112, 112, 3), dtype=torch.uint8)
    nu = model.visual_latent(frames)
    mu = model.physics_latent(_physics(b, cfg.audio))
    eps = model(torch.randn(b, 1, 257, 44), torch.tensor([3, 700]), {"mu": mu, "nu": nu})
    assert nu.shape == (b, 128) and eps.shape == (b, 1, 257, 44)


def _striker_windows(tips: list[tuple[int, int]], size: int = 112) -> torch.Tensor:
    """Windows [B, 22, S, S, 3] of a textured still scene and a bright bar coming down from the
    top edge; in window b the bar's lower tip reaches tips[b] = (x, y) at the onset frame 11."""
    gen = torch.Generator().manual_seed(0)
    scene = torch.randint(60, 120, (size, size, 3), generator=gen, dtype=torch.uint8)
    out = scene.expand(len(tips), 22, size, size, 3).clone()
    for b, (x, y) in enumerate(tips):
        for f in range(22):
            tip = y - 6 * max(11 - f, 0) + 2 * max(f - 11, 0) // 3  # falls, stops, lifts slowly
            if tip > 0:
                out[b, f, : min(tip + 1, size), x - 2 : x + 3] = 250
    return out


def test_contact_point_finds_the_striker_tip_at_onset():
    tips = [(30, 70), (80, 40), (56, 100), (10, 20)]
    found = contact_point(_striker_windows(tips))
    assert found.shape == (4, 2)
    assert torch.allclose(found, torch.tensor(tips, dtype=torch.float32), atol=1.5)
    still = torch.full((2, 22, 64, 48, 3), 90, dtype=torch.uint8)  # nothing moves: centre
    assert torch.allclose(contact_point(still), torch.tensor([[23.5, 31.5]] * 2))


def test_crop_windows_boxes_stay_inside_and_follow_the_centre():
    frames = torch.arange(64 * 64).view(1, 1, 64, 64, 1).expand(3, 2, 64, 64, 3).clone()
    crops = crop_windows(frames, torch.tensor([[32.0, 32.0], [0.0, 0.0], [63.0, 10.0]]), 16)
    assert crops.shape == (3, 2, 16, 16, 3)
    assert torch.equal(crops[0, 1, ..., 0], frames[0, 0, 24:40, 24:40, 0])
    assert torch.equal(crops[1, 0, ..., 0], frames[0, 0, :16, :16, 0])  # clamped into the frame
    assert torch.equal(crops[2, 0, ..., 0], frames[0, 0, 2:18, 48:64, 0])
    windows = _striker_windows([(80, 40)])
    crop = contact_crop(windows, 0.5, 0.1)  # 56 px box centred 11 px below the tip
    assert crop.shape == (1, 22, 56, 56, 3)
    y, x = (int(v) for v in contact_point(windows)[0].flip(0))  # tip found at (80, 41)
    y0 = round(y + 11.2 - 28)
    assert torch.equal(crop[0, 0], windows[0, 0, y0 : y0 + 56, x - 28 : x + 28])


def test_small_model_crops_its_window_and_old_configs_do_not():
    model = build_model("small").eval()
    assert model.cfg.visual.crop == "contact"
    windows = _striker_windows([(80, 40), (30, 70)])
    seen = model.visual_frames(windows)
    assert seen.shape == (2, 22, 56, 56, 3)
    # nu depends only on the crop: changing pixels far from the contact point changes nothing
    far = windows.clone()
    far[0, :, 100:, :20] = 0
    with torch.no_grad():
        assert torch.equal(model.visual_latent(far), model.visual_latent(windows))
    assert model_config("paper").visual.crop == "none"  # configs saved before the crop existed
    with pytest.raises(InputError, match="crop"):
        build_model(model_config("small", {"visual": {"crop": "middle"}})).visual_frames(windows)


def test_retrieval_key_is_nu_or_its_mean_with_the_mirrored_window():
    torch.manual_seed(0)
    windows = _striker_windows([(80, 40), (30, 70)])
    plain = build_model(_tiny_cfg()).eval()
    assert plain.cfg.visual.retrieval_tta == "none"  # configs saved before the option existed
    with torch.no_grad():
        nu, key = plain.latent_and_key(windows)
        assert torch.equal(nu, plain.visual_latent(windows)) and torch.equal(key, nu)
    flip = build_model(model_config(_tiny_cfg(), {"visual": {"retrieval_tta": "flip"}})).eval()
    flip.load_state_dict(plain.state_dict())
    with torch.no_grad():
        nu_f, key_f = flip.latent_and_key(windows)
    assert torch.equal(nu_f, nu)  # the denoiser's condition does not change
    assert not torch.allclose(key_f, nu, atol=1e-4)
    # the key averages nu with the encoder's latent of the mirrored crop (the training flip)
    seen = flip.visual_frames(windows)
    idx = segment_indices(seen.shape[1], flip.cfg.visual.num_segments)
    with torch.no_grad():
        want = 0.5 * (nu + flip.visual.latent(seen[:, idx].flip(3)))
    torch.testing.assert_close(key_f, want)
    bad = build_model(model_config(_tiny_cfg(), {"visual": {"retrieval_tta": "rotate"}}))
    with pytest.raises(InputError, match="retrieval_tta"):
        bad.retrieval_key(windows)


def test_temporal_shift_moves_channel_folds_between_frames():
    x = torch.arange(2 * 3 * 8, dtype=torch.float32).view(2 * 3, 8, 1, 1)  # B=2, T=3, C=8
    y = temporal_shift(x, 3, 4).view(2, 3, 8)
    xv = x.view(2, 3, 8)
    assert torch.equal(y[:, :-1, :2], xv[:, 1:, :2]) and (y[:, -1, :2] == 0).all()
    assert torch.equal(y[:, 1:, 2:4], xv[:, :-1, 2:4]) and (y[:, 0, 2:4] == 0).all()
    assert torch.equal(y[..., 4:], xv[..., 4:])


def test_segment_indices():
    assert segment_indices(22, 8).tolist() == [1, 4, 6, 9, 12, 15, 17, 20]
    assert segment_indices(22, 22).tolist() == list(range(22))
    r = segment_indices(22, 8, random=True, generator=torch.Generator().manual_seed(0))
    assert ((r >= 0) & (r < 22)).all() and (r.diff() > 0).all()


def test_physics_normalisation_is_in_range():
    audio = get_preset("small")
    phys = _physics(4, audio)
    phys["decay_db_per_s"][0, :3] = torch.tensor([0.0, 1e9, -5.0])  # degenerate decays stay finite
    for key, value in normalize_physics(phys, audio).items():
        assert (
            value.shape == phys[key].shape
            and value.abs().max() <= 1
            and torch.isfinite(value).all()
        )


def test_condition_dropout_uses_learned_null():
    emb = ConditionEmbedder(16, {"mu": 4, "nu": 3})
    with torch.no_grad():
        emb.null["mu"].fill_(7.0)
    c = emb(
        torch.tensor([1, 2]),
        {"mu": torch.zeros(2, 4), "nu": torch.ones(2, 3)},
        torch.tensor([True, False]),
    )
    assert (c[0, 16:20] == 7).all() and (c[1, 16:20] == 0).all()
    with pytest.raises(ValueError, match="missing conditions"):
        emb(torch.tensor([1]), {"mu": torch.zeros(1, 4)})


def _tiny_cfg():
    return model_config(
        "small",
        {
            "visual": {"widths": [8, 8, 8, 8], "stem_width": 8, "input_size": 32},
            "denoiser": {"dit_dim": 32, "dit_depth": 1, "dit_heads": 2},
            "physics": {"mode_hidden": [16]},
        },
    )


def test_save_load_round_trip_float32_and_float16(tmp_path):
    torch.manual_seed(0)
    model = build_model(_tiny_cfg()).eval()
    x = torch.randn(2, 1, 257, 44)
    cond = {"mu": torch.randn(2, 256), "nu": torch.randn(2, 8)}
    with torch.no_grad():
        for i, p in enumerate(model.denoiser.parameters()):  # non-zero output layers
            p.add_(0.01 * (i % 3))
        ref = model(x, torch.tensor([5, 9]), cond)
    save_model_dir(tmp_path / "m32", model)
    loaded, cfg = load_model_dir(tmp_path / "m32")
    assert cfg == model.cfg
    assert torch.equal(loaded(x, torch.tensor([5, 9]), cond), ref)
    save_model_dir(tmp_path / "m16", model, dtype=torch.float16)
    half, _ = load_model_dir(tmp_path / "m16")
    assert (tmp_path / "m16" / "model.safetensors").stat().st_size < 0.6 * (
        tmp_path / "m32" / "model.safetensors"
    ).stat().st_size
    assert torch.allclose(half(x, torch.tensor([5, 9]), cond), ref, atol=1e-2)
    with pytest.raises(OutputExistsError):
        save_model_dir(tmp_path / "m32", model)


def test_load_errors_are_clear(tmp_path):
    model = build_model(_tiny_cfg())
    good = save_model_dir(tmp_path / "good", model)
    with pytest.raises(ModelError, match="does not exist"):
        load_model_dir(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        load_model_dir(empty)
    (empty / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="corrupt"):
        load_model_dir(empty)
    (empty / "config.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ModelError, match="not a physfoley model"):
        load_model_dir(empty)
    (empty / "config.json").write_text((good / "config.json").read_text())
    with pytest.raises(ModelError, match="incomplete"):
        load_model_dir(empty)
    weights = (good / "model.safetensors").read_bytes()
    (empty / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(ModelError, match="corrupt or truncated"):
        load_model_dir(empty)
    doc = json.loads((good / "config.json").read_text())
    doc["config"]["denoiser"]["dit_dim"] = 64
    (empty / "config.json").write_text(json.dumps(doc))
    (empty / "model.safetensors").write_bytes(weights)
    with pytest.raises(ModelError, match="shape"):
        load_model_dir(empty)
    doc["config"]["denoiser"]["dit_dim"] = 32
    doc["config"]["denoiser"]["dit_depth"] = 2
    (empty / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="missing tensors"):
        load_model_dir(empty)
    doc["config"]["denoiser"]["no_such_key"] = 1
    (empty / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="invalid model config"):
        load_model_dir(empty)


def test_unknown_preset_and_override_are_input_errors():
    with pytest.raises(InputError, match="unknown model preset"):
        model_config("huge")
    with pytest.raises(InputError, match="unknown config key"):
        model_config("small", {"denoiser": {"dit_width": 3}})


def test_model_dir_states_its_family_and_unknown_families_are_model_errors(tmp_path):
    model = build_model(_tiny_cfg())
    good = save_model_dir(tmp_path / "good", model)
    doc = json.loads((good / "config.json").read_text())
    assert doc["family"] == "per-impact"
    del doc["family"]  # written before families existed: reads as the per-impact model
    (good / "config.json").write_text(json.dumps(doc))
    loaded, cfg = load_model_dir(good)
    assert cfg == model.cfg
    doc["family"] = "soundtrack"
    (good / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="'soundtrack' model") as err:
        load_model_dir(good)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="unknown model family"):
        save_model_dir(tmp_path / "other", model, family="soundtrack")


def test_old_config_with_video_keys_in_its_audio_block_still_loads(tmp_path):
    from physfoley.config import AudioConfig, VideoConfig

    cfg = _tiny_cfg()
    assert cfg.video == VideoConfig(frames_per_window=22, video_fps=29.97, image_size=112)
    good = save_model_dir(tmp_path / "old", build_model(cfg))
    doc = json.loads((good / "config.json").read_text())
    old = {**doc["config"].pop("video"), "image_size": 96}
    doc["config"]["audio"].update(old)  # the layout before VideoConfig
    (good / "config.json").write_text(json.dumps(doc))
    loaded, _ = read_model_config(good)
    assert loaded.audio == cfg.audio and loaded.video.image_size == 96
    assert AudioConfig.from_dict({**cfg.audio.to_dict(), **old}) == cfg.audio
    # YAML overrides in the old layout, and an audio preset named alone, as before
    assert model_config("small", {"audio": {"image_size": 64}}).video.image_size == 64
    assert model_config("small", {"audio": "paper"}).video.image_size == 224


def test_shipped_model_dir_reads_unchanged():
    from physfoley.pipeline import DEFAULT_MODEL_DIR

    cfg, doc = read_model_config(DEFAULT_MODEL_DIR)
    assert "family" not in doc and "video" not in doc["config"]  # the old layout, as shipped
    assert cfg == model_config(
        "small",
        {
            "visual": {"retrieval_tta": "flip"},
            "diffusion": {
                k: doc["config"]["diffusion"][k] for k in ("guidance_scale", "data_scale")
            },
        },
    )
