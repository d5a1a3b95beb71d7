from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from avatar.face import load_image
from tests.conftest import shared


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(shared("portraits/pd_grace_hopper_us_navy.jpg")).convert("RGB")


def test_exif_rotation_comes_out_upright(tmp_path, photo):
    rotated = photo.transpose(Image.Transpose.ROTATE_90)  # stored sideways ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... with the tag that says "rotate 90° clockwise to view"
    p = tmp_path / "sideways.jpg"
    rotated.save(p, exif=exif, quality=95)
    arr = load_image(p)
    assert arr.shape[:2] == (photo.height, photo.width)
    ref = np.asarray(photo, dtype=np.float32)
    assert np.abs(arr.astype(np.float32) - ref).mean() < 6


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P"])
def test_colour_modes_become_rgb(tmp_path, photo, mode):
    im = photo.convert(mode)
    p = tmp_path / f"img.{'jpg' if mode == 'CMYK' else 'png'}"
    im.save(p)
    arr = load_image(p)
    assert arr.dtype == np.uint8 and arr.shape == (photo.height, photo.width, 3)


def test_transparency_goes_on_white_with_a_notice(tmp_path, photo):
    rgba = photo.convert("RGBA")
    a = np.asarray(rgba).copy()
    a[:40, :, 3] = 0
    p = tmp_path / "cut.png"
    Image.fromarray(a).save(p)
    notices: list[str] = []
    arr = load_image(p, notices=notices)
    assert arr[:40].min() >= 250
    assert any("transparency" in n for n in notices)


def test_sixteen_bit_png(tmp_path, photo):
    grey = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    p = tmp_path / "deep.png"
    Image.fromarray(grey).save(p)
    arr = load_image(p)
    ref = np.asarray(photo.convert("L"), dtype=np.int32)
    assert np.abs(arr[..., 0].astype(np.int32) - ref).max() <= 1


def test_huge_image_is_downscaled_with_a_notice(tmp_path):
    big = Image.new("RGB", (12000, 9000), (120, 100, 90))
    p = tmp_path / "huge.jpg"
    big.save(p, quality=60)
    notices: list[str] = []
    arr = load_image(p, notices=notices)
    assert max(arr.shape[:2]) <= 4096
    assert any("downscaled" in n for n in notices)


def test_reading_a_huge_image_leaves_process_wide_state_alone(tmp_path, monkeypatch):
    """The web app opens the same upload in gradio's threads while ours reads it: a warning
    filter switched to "error" for the length of our read made gradio's open of a
    108-megapixel photo fail now and then (seen in CI)."""
    import warnings

    from avatar.face import image as image_module

    big = Image.new("RGB", (12000, 9000), (120, 100, 90))
    p = tmp_path / "huge.jpg"
    big.save(p, quality=60)
    outside = list(warnings.filters)
    seen: list[list] = []
    real_open = Image.open

    def watching_open(*args, **kwargs):
        seen.append(list(warnings.filters))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(image_module.Image, "open", watching_open)
    load_image(p)
    assert seen and all(filters == outside for filters in seen)
    monkeypatch.setattr(image_module.Image, "open", real_open)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Image.open(p) as im:  # what gradio does with the upload: no bomb warning
            assert im.size == (12000, 9000)


def test_animated_gif_uses_first_frame(tmp_path, photo):
    frames = [
        photo.resize((200, 240)),
        photo.resize((200, 240)).transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    ]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    notices: list[str] = []
    arr = load_image(p, notices=notices)
    assert arr.shape == (240, 200, 3)
    assert any("animated" in n for n in notices)
