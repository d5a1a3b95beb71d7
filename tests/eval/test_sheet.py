"""Contact sheet: the tiles show the states they are labelled with, in a fixed grid."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.eval.sheet import (
    COLUMNS,
    LABEL_PX,
    TILE_PX,
    load_motion,
    save_motion,
    write_details,
    write_sheet,
)

FPS, N = 25, 50


@pytest.fixture(scope="module")
def clip(tmp_path_factory, luciano_rig):
    """A 2 s warp-rendered clip: mouth closed, half open, wide; a blink; head left/right/up."""
    import imageio_ffmpeg

    from avatar.motion import Motion
    from avatar.render import WarpRenderer

    motion = Motion.zeros(N, FPS)
    motion["jaw_open"][10:20] = 0.35
    motion["jaw_open"][20:28] = 0.9
    for eye in ("blink_left", "blink_right"):
        motion[eye][31:36] = [0.5, 1.0, 1.0, 1.0, 0.5]
    motion["yaw"][38:42] = -10.0
    motion["yaw"][42:46] = 10.0
    motion["pitch"][46:50] = -8.0
    renderer = WarpRenderer(luciano_rig, size=256)
    folder = tmp_path_factory.mktemp("sheet")
    path = folder / "clip.mp4"
    w, h = renderer.output_size
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=FPS, codec="libx264")
    writer.send(None)
    for i in range(N):
        writer.send(np.ascontiguousarray(renderer.render(motion.values[i])))
    writer.close()
    return path, motion, renderer.canvas.copy()


def _tile(sheet: np.ndarray, k: int, head: int) -> np.ndarray:
    r, c = divmod(k, COLUMNS)
    y, x = head + 4 + r * (TILE_PX + 2 * LABEL_PX + 4), 4 + c * (TILE_PX + 4)
    return sheet[y : y + TILE_PX, x : x + TILE_PX]


def _lip_gap(rgb: np.ndarray) -> float:
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True) as fm:
        lm = fm.process(np.ascontiguousarray(rgb)).multi_face_landmarks[0].landmark
    p = np.array([(q.x, q.y) for q in lm]) * rgb.shape[1]
    return float(np.linalg.norm(p[13] - p[14]) / np.linalg.norm(p[33] - p[263]))


def test_sheet_tiles_show_their_states(tmp_path, clip):
    import cv2

    from avatar.eval import track_video

    path, _, source = clip
    track = track_video(path)
    res = write_sheet(path, track, tmp_path / "sheet.png", source=source, title="clip")
    sheet = cv2.cvtColor(cv2.imread(str(res.path)), cv2.COLOR_BGR2RGB)
    labels = [p.label for p in res.picks]
    assert labels == [
        "mouth closed",
        "mouth mid",
        "mouth wide",
        "blink",
        "head left",
        "head right",
        "head up",
    ]
    # 1 source + 7 states = 2 rows of 4, title strip on top.
    assert sheet.shape[:2] == (26 + 2 * (TILE_PX + 2 * LABEL_PX + 4) + 4, 4 * (TILE_PX + 4) + 4)
    assert res.size == (sheet.shape[1], sheet.shape[0])
    picks = {p.label: p for p in res.picks}
    assert picks["mouth closed"].frame < 10 or picks["mouth closed"].frame >= 28
    assert 20 <= picks["mouth wide"].frame < 28
    assert 31 <= picks["blink"].frame < 36
    assert 38 <= picks["head left"].frame < 42 and 42 <= picks["head right"].frame < 46
    # The tile pixels themselves, measured again: wide is open, closed is not.
    closed, wide = _lip_gap(_tile(sheet, 1, 26)), _lip_gap(_tile(sheet, 3, 26))
    assert wide > closed + 0.05, (closed, wide)
    # The source tile is the photo (no motion): its mouth is as closed as the closed tile.
    assert abs(_lip_gap(_tile(sheet, 0, 26)) - closed) < 0.05

    # Close-ups: source + 3 mouths, source + blink eyes = 6 tiles in 2 rows of 4.
    details = write_details(path, track, res.picks, tmp_path / "details.png", source=source)
    img = cv2.imread(str(details))
    assert img.shape[:2] == (2 * (TILE_PX + 2 * LABEL_PX + 4) + 4, 4 * (TILE_PX + 4) + 4)
    mouths = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    dark = [float(np.mean(_tile(mouths, k, 0).mean(axis=2) < 60)) for k in (1, 3)]
    assert dark[1] > dark[0] + 0.01, dark  # the wide close-up shows the mouth's dark inside


def test_motion_picks_and_cli(tmp_path, clip, capsys):
    from avatar.cli import main

    path, motion, _ = clip
    npz = save_motion(motion, tmp_path / "m.npz")
    assert np.array_equal(load_motion(npz).values, motion.values)
    out = tmp_path / "cli.png"
    code = main(["eval", str(path), "--no-lse", "--sheet", str(out), "--motion", str(npz)])
    assert code == 0 and out.is_file()
    assert f"wrote {out}" in capsys.readouterr().err
    import cv2

    img = cv2.imread(str(out))
    # No source: 7 tiles, 2 rows of 4, title strip.
    assert img.shape[:2] == (26 + 2 * (TILE_PX + 2 * LABEL_PX + 4) + 4, 4 * (TILE_PX + 4) + 4)
    assert main(["eval", str(path), "--no-lse", "--sheet", str(out), "--motion", "nope.npz"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_background_of_an_odd_sized_photo_is_cropped_not_resized():
    """A native-size video drops an odd photo's last column; the meter must not resample."""
    from avatar.eval.metrics import _BackgroundMeter
    from avatar.eval.tracker import FrameFace

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (121, 161, 3), dtype=np.uint8)  # odd both ways
    frame = np.ascontiguousarray(photo[:120, :160])  # what the renderer shows
    meter = _BackgroundMeter(photo)
    meter(0, frame, FrameFace(center=(80.0, 60.0), face_width=30.0))
    assert meter.mse == [0.0]
