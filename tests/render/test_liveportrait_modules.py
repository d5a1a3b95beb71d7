"""LivePortrait-compatible networks: checkpoint format, strict loading, spectral norm, shapes.

Nothing is downloaded: the checkpoints are random weights written in the released files'
format by ``write_random_checkpoints``. Most tests use ``LivePortraitDims.tiny()``; the
real sizes are checked on the meta device (no memory) and by one real-size write + load.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from avatar.errors import ModelError  # noqa: E402
from avatar.render.liveportrait import (  # noqa: E402
    FILES,
    AppearanceFeatureExtractor,
    LivePortraitDims,
    MotionExtractor,
    SpectralConv2d,
    StitchingRetargetingNetwork,
    build_liveportrait,
    load_liveportrait,
    write_random_checkpoints,
)

TINY = LivePortraitDims.tiny()

# Trainable parameters and state_dict keys of the released files (ref: liveportrait.md §0).
RELEASED = {
    "appearance": (836_224, 107),
    "motion": (28_118_728, 212),
    "warping": (45_529_829, 97),
    "generator": (55_365_388, 182),
    "stitching": (45_249, 8),
    "eye": (144_703, 12),
    "lip": (37_311, 8),
}


def _one_sentence(text: str) -> str:
    assert "\n" not in text and text.endswith(".")
    assert not re.search(r"[.;]\s+[A-Z]", text), text
    return text


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return write_random_checkpoints(tmp_path_factory.mktemp("lp-tiny"), TINY, seed=3)


@pytest.fixture
def tiny_copy(tiny_folder, tmp_path) -> Path:
    """A private copy that a test may damage."""
    return Path(shutil.copytree(tiny_folder, tmp_path / "lp"))


# -- sizes and key layout of the released checkpoints -----------------------------------


def test_real_sizes_match_the_released_checkpoints():
    models = build_liveportrait(device="meta")  # shapes only, no memory
    for name, module in models.named_modules():
        params = sum(p.numel() for p in module.parameters())
        assert (params, len(module.state_dict())) == RELEASED[name], name
    assert models.parameter_count() == 130_077_432
    floats = sum(
        t.numel()
        for _, m in models.named_modules()
        for t in m.state_dict().values()
        if t.is_floating_point()
    )
    assert floats == 130_158_812  # parameters + BN statistics + spectral-norm u/v

    shapes = {k: list(v.shape) for k, v in models.generator.state_dict().items()}
    assert shapes["up_0.conv_s.weight_orig"] == [256, 512, 1, 1]
    assert shapes["up_1.conv_1.weight_v"] == [576]
    assert shapes["conv_img.0.weight"] == [12, 64, 3, 3]
    assert not any(k.endswith("conv_0.weight") for k in shapes)  # the spectral-norm layout
    assert "up_0.conv_s.bias" not in shapes
    warp = {k: list(v.shape) for k, v in models.warping.state_dict().items()}
    assert warp["dense_motion_network.occlusion.weight"] == [1, 2272, 7, 7]
    assert warp["dense_motion_network.mask.weight"] == [22, 142, 7, 7, 7]
    assert warp["dense_motion_network.hourglass.decoder.up_blocks.0.conv.weight"][:2] == [512, 1024]
    assert "resblocks_3d.3dr5.conv2.weight" in models.appearance.state_dict()
    assert list(models.motion.state_dict()["detector.stages.2.8.grn.gamma"].shape) == [
        1,
        1,
        1,
        1536,
    ]


def test_real_size_random_checkpoints_load_strictly(tmp_path):
    """The official container formats at full size (about 520 MB written to tmp)."""
    folder = write_random_checkpoints(tmp_path / "lp", seed=0)
    state = torch.load(folder / FILES["warping"], weights_only=True)
    assert state["third.norm.num_batches_tracked"].dtype == torch.int64
    assert all(v.dtype == torch.float32 for k, v in state.items() if "num_batches" not in k)
    bundle = torch.load(folder / FILES["retargeting"], weights_only=True)
    assert set(bundle) == {"retarget_shoulder", "retarget_mouth", "retarget_eye"}
    assert list(bundle["retarget_eye"]["module.mlp.10.weight"].shape) == [63, 64]
    del state, bundle

    models = load_liveportrait(folder)
    assert models.parameter_count() == 130_077_432
    stored = torch.load(folder / FILES["generator"], weights_only=True)
    loaded = models.generator.state_dict()
    for key in ("G_middle_3.conv_1.weight_orig", "G_middle_3.conv_1.weight_u", "fc.bias"):
        assert torch.equal(loaded[key], stored[key])
    assert all(not p.requires_grad for p in models.generator.parameters())
    assert not models.warping.training


# -- loading errors: one sentence that names the file and the fix ----------------------


def _load_error(folder: Path) -> str:
    with pytest.raises(ModelError) as err:
        load_liveportrait(folder, dims=TINY)
    text = _one_sentence(str(err.value))
    assert "avatar weights download liveportrait" in text and "--liveportrait-dir" in text
    return text


def test_tiny_random_checkpoints_load_and_differ_by_seed(tiny_folder, tmp_path):
    a = load_liveportrait(tiny_folder, dims=TINY)
    b = load_liveportrait(write_random_checkpoints(tmp_path / "other", TINY, seed=4), dims=TINY)
    x = torch.rand(1, 126)
    assert not torch.equal(a.stitching(x), b.stitching(x))
    assert torch.equal(a.stitching(x), load_liveportrait(tiny_folder, dims=TINY).stitching(x))


def test_renamed_key(tiny_copy):
    path = tiny_copy / FILES["appearance"]
    state = torch.load(path, weights_only=True)
    state["second.weight_renamed"] = state.pop("second.weight")
    torch.save(state, path)
    text = _load_error(tiny_copy)
    assert "appearance_feature_extractor.pth" in text
    assert "1 missing key (second.weight)" in text and "1 unexpected key" in text


def test_wrong_shape(tiny_copy):
    path = tiny_copy / FILES["generator"]
    state = torch.load(path, weights_only=True)
    state["fc.bias"] = torch.zeros(7)
    torch.save(state, path)
    text = _load_error(tiny_copy)
    assert "spade_generator.pth" in text and "fc.bias is [7] in the file" in text


def test_retargeting_mlp_of_another_size(tiny_copy):
    """A real-size MLP in a tiny network: what a checkpoint of other sizes gives."""
    path = tiny_copy / FILES["retargeting"]
    bundle = torch.load(path, weights_only=True)
    bundle["retarget_mouth"]["module.mlp.0.weight"] = torch.zeros(128, 65)
    torch.save(bundle, path)
    assert "stitching_retargeting_module.pth" in _load_error(tiny_copy)


def test_missing_retargeting_entry(tiny_copy):
    path = tiny_copy / FILES["retargeting"]
    bundle = torch.load(path, weights_only=True)
    del bundle["retarget_eye"]
    torch.save(bundle, path)
    assert "no 'retarget_eye' entry" in _load_error(tiny_copy)


def test_truncated_file(tiny_copy):
    path = tiny_copy / FILES["warping"]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    text = _load_error(tiny_copy)
    assert "warping_module.pth" in text and "corrupt" in text and "--force" in text


def test_not_a_checkpoint(tiny_copy):
    (tiny_copy / FILES["motion"]).write_text("<html>rate limited</html>")
    assert "motion_extractor.pth" in _load_error(tiny_copy)


def test_missing_file_and_folder(tiny_copy, tmp_path):
    (tiny_copy / FILES["generator"]).unlink()
    text = _load_error(tiny_copy)
    assert "liveportrait/base_models/spade_generator.pth is missing" in text
    assert "does not exist" in _load_error(tmp_path / "nowhere")


# -- spectral norm ---------------------------------------------------------------------


@pytest.mark.parametrize(("kernel", "bias"), [(3, True), (1, False)])
def test_spectral_conv_matches_torch_spectral_norm(kernel, bias):
    torch.manual_seed(0)
    reference = torch.nn.utils.spectral_norm(
        torch.nn.Conv2d(6, 5, kernel, padding=kernel // 2, bias=bias)
    )
    reference.train()
    with torch.no_grad():
        for _ in range(3):  # power iterations move u, v away from their initial values
            reference(torch.rand(1, 6, 8, 8))
    reference.eval()
    ours = SpectralConv2d(6, 5, kernel, padding=kernel // 2, bias=bias)
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 6, 9, 11)
    with torch.no_grad():
        expected = reference(x)
        torch.testing.assert_close(ours(x), expected, rtol=0, atol=1e-6)
        # eval mode does no power iteration: a second call gives the same output
        torch.testing.assert_close(reference(x), expected, rtol=0, atol=0)


def test_fresh_spectral_conv_is_normalised():
    conv = SpectralConv2d(16, 32, 3, padding=1)
    with torch.no_grad():
        sigma = torch.linalg.matrix_norm(conv.effective_weight().flatten(1), ord=2)
    assert abs(sigma.item() - 1.0) < 0.05  # 15 power iterations: close to the top singular value


def test_fused_spectral_weights_are_accepted(tiny_copy):
    """A re-export with the spectral norm divided out (``weight``) renders the same."""
    models = load_liveportrait(tiny_copy, dims=TINY)
    path = tiny_copy / FILES["generator"]
    state = torch.load(path, weights_only=True)
    for name, sub in models.generator.named_modules():
        if isinstance(sub, SpectralConv2d):
            for suffix in ("weight_orig", "weight_u", "weight_v"):
                del state[f"{name}.{suffix}"]
            state[f"{name}.weight"] = sub.effective_weight()
    torch.save(state, path)
    fused = load_liveportrait(tiny_copy, dims=TINY)
    feature = torch.rand(1, 32, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(
            fused.generator(feature), models.generator(feature), rtol=0, atol=1e-5
        )


# -- forward passes --------------------------------------------------------------------


def test_tiny_forward_shapes(tiny_folder):
    m = load_liveportrait(tiny_folder, dims=TINY)
    image = torch.rand(2, 3, 128, 128)  # tiny dims: the hourglass needs a 32x32 volume
    with torch.inference_mode():
        volume = m.appearance(image)
        assert volume.shape == (2, 4, 4, 32, 32)
        info = m.motion(image)
        shapes = {k: tuple(v.shape) for k, v in info.items()}
        assert shapes == {
            "pitch": (2, 66),
            "yaw": (2, 66),
            "roll": (2, 66),
            "t": (2, 3),
            "exp": (2, 63),
            "scale": (2, 1),
            "kp": (2, 63),
        }
        kp_s = torch.tanh(info["kp"].view(2, 21, 3))
        kp_d = kp_s + 0.1 * torch.randn(2, 21, 3)
        warped = m.warping(volume, kp_d, kp_s)
        assert warped["out"].shape == (2, 32, 32, 32)
        assert warped["occlusion_map"].shape == (2, 1, 32, 32)
        assert warped["deformation"].shape == (2, 4, 32, 32, 3)
        occ = warped["occlusion_map"]
        assert occ.min() > 0 and occ.max() < 1
        image_out = m.generator(warped["out"][:, :, :8, :8])  # fully convolutional
        assert image_out.shape == (2, 3, 64, 64)
        assert image_out.min() >= 0 and image_out.max() <= 1 and image_out.std() > 1e-3
        assert m.stitching(torch.rand(2, 126)).shape == (2, 65)
        assert m.eye(torch.rand(2, 66)).shape == (2, 63)
        assert m.lip(torch.rand(2, 65)).shape == (2, 63)


def test_unmoved_keypoints_give_the_identity_flow(tiny_folder):
    """Every per-keypoint motion is the identity, so any softmax blend of them is too."""
    m = load_liveportrait(tiny_folder, dims=TINY)
    volume = torch.rand(1, 4, 4, 32, 32)
    kp = torch.rand(1, 21, 3) * 1.6 - 0.8
    with torch.inference_mode():
        flow = m.warping(volume, kp, kp)["deformation"]
        moved = m.warping(volume, kp + 0.2, kp)["deformation"]
    axes = [torch.linspace(-1, 1, n) for n in (4, 32, 32)]
    z, y, x = torch.meshgrid(*axes, indexing="ij")
    torch.testing.assert_close(flow[0], torch.stack([x, y, z], -1), rtol=0, atol=1e-5)
    assert (moved - flow).abs().max() > 0.05


def test_load_casts_to_the_requested_dtype(tiny_folder):
    m = load_liveportrait(tiny_folder, dims=TINY, dtype=torch.float64)
    assert m.generator.fc.weight.dtype == torch.float64
    assert m.appearance.first.norm.num_batches_tracked.dtype == torch.int64
    with torch.inference_mode():
        assert m.appearance(torch.rand(1, 3, 64, 64, dtype=torch.float64)).dtype == torch.float64


def test_real_size_appearance_motion_and_mlps_on_cpu():
    """F and M at 256x256 (about 76 GFLOPs together); W and G are in the slow test below."""
    dims = LivePortraitDims()
    image = torch.rand(1, 3, 256, 256)
    with torch.inference_mode():
        assert AppearanceFeatureExtractor().eval()(image).shape == (1, 32, 16, 64, 64)
        assert MotionExtractor().eval()(image)["exp"].shape == (1, 63)
        mlp = StitchingRetargetingNetwork(dims.stitching)
        assert mlp(torch.rand(1, 126)).shape == (1, 65)


@pytest.mark.skipif(
    os.environ.get("AVATAR_SLOW_TESTS") != "1" and not torch.cuda.is_available(),
    reason="W + G at 512x512 take tens of seconds on a CPU; set AVATAR_SLOW_TESTS=1",
)
def test_real_size_warping_and_generator():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    m = build_liveportrait()
    m.warping.to(device)
    m.generator.to(device)
    volume = torch.rand(1, 32, 16, 64, 64, device=device)
    kp_s = torch.rand(1, 21, 3, device=device) * 1.4 - 0.7
    start = time.perf_counter()
    with torch.inference_mode():
        warped = m.warping(volume, kp_s + 0.02, kp_s)
        frame = m.generator(warped["out"])
    seconds = time.perf_counter() - start
    assert warped["out"].shape == (1, 256, 64, 64)
    assert warped["occlusion_map"].shape == (1, 1, 64, 64)
    assert frame.shape == (1, 3, 512, 512)
    print(f"one frame of W + G at real size on {device}: {seconds:.2f} s")
