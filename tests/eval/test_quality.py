"""Identity, flicker, the Markdown report, `avatar eval --report/--compare/--json`, the suite,
and a rendered video with exactly two blinks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from avatar.cli import main
from avatar.eval import evaluate_video
from avatar.eval.identity import identity_distance, unavailable_reason
from tests.conftest import shared

needs_dlib = pytest.mark.skipif(
    unavailable_reason() is not None, reason="dlib-bin / face-recognition-models not installed"
)


def _write_video(path: Path, frames, fps: int = 25, audio: Path | None = None) -> Path:
    import imageio_ffmpeg

    first = frames[0]
    kwargs = {"audio_path": str(audio), "audio_codec": "aac"} if audio else {}
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (first.shape[1], first.shape[0]),
        fps=fps,
        codec="libx264",
        quality=None,
        output_params=["-crf", "12"],
        macro_block_size=1,
        **kwargs,
    )
    writer.send(None)
    for f in frames:
        writer.send(np.ascontiguousarray(f))
    writer.close()
    return path


@pytest.fixture(scope="module")
def grid_reports():
    clip = shared("videos/grid_bbaf2n_male.mpg")
    other = shared("videos/grid_lwbsza_female_older.mpg")
    return evaluate_video(clip), evaluate_video(other)


# ------------------------------------------------------------------------- identity


@needs_dlib
def test_identity_same_and_different_people():
    luciano = shared("portraits/cc0_codait_luciano.png")
    hopper = shared("portraits/pd_grace_hopper_us_navy.jpg")
    assert identity_distance(luciano, luciano) < 0.05
    assert identity_distance(luciano, hopper) > 0.6  # dlib: same person < 0.6


@needs_dlib
def test_identity_of_a_real_clip_to_its_own_first_frame():
    from avatar.eval.suite import _first_frame

    clip = shared("videos/grid_swiz3n_male.mpg")
    same = evaluate_video(clip, source_image=_first_frame(clip))
    assert same.identity_samples >= 3
    assert same.identity_distance < 0.35  # the person stays himself
    other = evaluate_video(clip, source_image=shared("portraits/pd_grace_hopper_us_navy.jpg"))
    assert other.identity_distance > 0.6


@needs_dlib
def test_identity_of_the_unchanged_photo_is_only_the_encode_loss(tmp_path):
    """The source photo is described through the frames' own crop and scale: a still video
    of it measures only what H.264 costs (0.083 here; 0.124 with the photo described whole,
    which put the unchanged photo 0.04-0.12 from itself on every portrait)."""
    from avatar.eval.identity import FaceDescriber, describe_like_frames, describe_photo
    from avatar.eval.metrics import _load_source
    from avatar.video import VideoWriter

    path = shared("portraits/pd_eileen_collins_nasa.png")
    photo = _load_source(path)
    still = tmp_path / "still.mp4"
    with VideoWriter(still, fps=25, size=photo.shape[1::-1], audio=None) as writer:
        for _ in range(13):
            writer.write(photo)
    report = evaluate_video(still, source_image=path, lse=False)
    assert report.identity_samples >= 1
    assert report.identity_distance < 0.1
    describer = FaceDescriber()
    whole = describe_photo(describer, photo)
    like_frames = describe_like_frames(describer, photo)
    assert np.linalg.norm(whole - like_frames) > 0.02  # the bias the frames' path removes


# -------------------------------------------------------------------------- flicker


def test_flicker_sees_a_shimmering_background_not_a_still_one(tmp_path):
    img = np.array(
        __import__("PIL.Image", fromlist=["Image"])
        .open(shared("portraits/cc0_codait_luciano.png"))
        .convert("RGB")
    )
    img = img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2]
    rng = np.random.default_rng(0)
    still = [img] * 30
    # Brightness pumping of +-4 levels everywhere: what a redrawn background looks like.
    pumping = [
        np.clip(img.astype(int) + rng.integers(-4, 5), 0, 255).astype(np.uint8) for _ in range(30)
    ]
    a = evaluate_video(_write_video(tmp_path / "still.mp4", still), identity=False)
    b = evaluate_video(_write_video(tmp_path / "pump.mp4", pumping), identity=False)
    assert a.face_found_fraction == 1.0
    assert a.flicker < 0.5
    assert b.flicker > 2.0 and b.flicker_worst >= b.flicker


def test_real_clips_have_a_measured_flicker(grid_reports):
    for r in grid_reports:
        assert 0.2 < r.flicker < 5.0  # camera noise and MPEG-1 on a blue screen
        assert "background flicker" in r.format_table()
        json.dumps(r.to_dict(), allow_nan=False)


# ----------------------------------------------------------------------- two blinks


def test_rendered_video_with_two_blinks_reports_two(tmp_path, luciano_rig):
    from avatar.motion import Motion
    from avatar.render import WarpRenderer

    fps, n = 25, 100
    motion = Motion.zeros(n, fps)
    for start in (30, 70):  # 5-frame blinks: 200 ms each
        for name in ("blink_left", "blink_right"):
            motion[name][start : start + 5] = [0.5, 1.0, 1.0, 1.0, 0.5]
    renderer = WarpRenderer(luciano_rig, size=256)
    frames = [renderer.render(motion.values[i]).copy() for i in range(n)]  # buffer is reused
    r = evaluate_video(_write_video(tmp_path / "blinks.mp4", frames), identity=False)
    assert r.blink_count == 2
    assert all(100 <= d <= 400 for d in r.blink_durations_ms)


# -------------------------------------------------------------------- report and CLI


def test_report_single_and_compare(tmp_path, grid_reports):
    from avatar.eval.report import write_report

    a, b = grid_reports
    md = write_report(a, tmp_path / "one")
    text = md.read_text()
    assert "| lip sync r (lag 0) |" in text and "![Blink timeline](blinks.png)" in text
    for png in ("mouth_audio.png", "blinks.png", "head_pose.png"):
        data = (tmp_path / "one" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert json.loads((tmp_path / "one" / "report.json").read_text())["n_frames"] == 75
    md2 = write_report([a, b], tmp_path / "two")
    head = md2.read_text().splitlines()
    assert head[0].startswith("# Comparison: grid_bbaf2n_male.mpg vs grid_lwbsza_female_older")
    row = next(line for line in head if line.startswith("| lip sync r (lag 0)"))
    assert row.count("|") == 5  # metric, A, B, target
    assert len(json.loads((tmp_path / "two" / "report.json").read_text())) == 2


def test_cli_eval_compare_report_json(tmp_path, capsys):
    a = str(shared("videos/grid_bbaf2n_male.mpg"))
    b = str(shared("videos/grid_swiz3n_male.mpg"))
    code = main(["eval", a, "--compare", b, "--report", str(tmp_path / "rep"), "--json"])
    out = capsys.readouterr()
    assert code == 0
    data = json.loads(out.out)
    assert [Path(d["video"]).name for d in data] == [Path(a).name, Path(b).name]
    assert (tmp_path / "rep" / "report.md").is_file()
    assert "wrote" in out.err
    # `--compare A B` without a positional video works too; three videos do not.
    assert main(["eval", "--compare", a, b, "--no-lse"]) == 0
    assert "lip sync r (lag 0)" in capsys.readouterr().out
    assert main(["eval", a, "--compare", b, a]) == 2
    assert "exactly two" in capsys.readouterr().err


def test_cli_eval_missing_syncnet_weights_is_one_sentence(capsys, tmp_path):
    a = str(shared("videos/grid_bbaf2n_male.mpg"))
    code = main(["eval", a, "--syncnet-weights", str(tmp_path / "nope.model")])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert [ln for ln in err.splitlines() if ln.startswith("error:")] == [
        f"error: The SyncNet weights file {tmp_path / 'nope.model'} does not exist."
    ]


# ---------------------------------------------------------------------------- suite


def test_suite_writes_table_and_json(tmp_path):
    from avatar.eval.suite import SPEECH, run_suite

    shared("speech/zh_female_aishell1_BAC009S0764W0121.wav")
    result = run_suite(
        tmp_path / "suite",
        portraits=(("luciano", "portraits/cc0_codait_luciano.png"),),
        speech=SPEECH[1:2],
        grid=1,
        size=256,
    )
    assert [r.group for r in result.rows] == ["ours", "real"]
    md = result.markdown_path.read_text()
    assert "| **ours, median of 1** |" in md and "| **real GRID, median of 1** |" in md
    assert "in-sample" in md  # the hold-out note
    data = json.loads(result.json_path.read_text())
    ours = data["rows"][0]["report"]
    assert ours["container"]["video_codec"] == "h264"
    assert ours["lipsync_r0"] is not None and not math.isnan(ours["lipsync_r0"])
    assert (tmp_path / "suite" / "videos").is_dir()
