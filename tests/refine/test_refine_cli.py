"""`avatar generate --refine wav2lip` end to end, dubbing a video, and every failure as one sentence."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from avatar.cli import main  # noqa: E402
from avatar.video import probe_video  # noqa: E402
from tests.conftest import shared  # noqa: E402


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def portrait():
    return str(shared("portraits/cc0_codait_luciano.png"))


@pytest.fixture
def voice(short_voice):
    return short_voice


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, offline: nothing can be found or fetched."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_generate_with_refinement_writes_a_valid_video(
    capsys, tmp_path, portrait, voice, tiny_checkpoint, offline_cache
):
    out = tmp_path / "refined.mp4"
    code, stdout, err = run(
        capsys,
        "generate",
        "--image", portrait,
        "--audio", voice,
        "-o", str(out),
        "--size", "128",
        "--refine", "wav2lip",
        "--wav2lip-checkpoint", str(tiny_checkpoint),
        "-q",
    )  # fmt: skip
    assert code == 0, err
    assert "wrote" in stdout and out.is_file()
    info = probe_video(out)
    assert info.video_codec == "h264" and info.pixel_format == "yuv420p"
    assert info.audio_codec == "aac" and (info.width, info.height) == (128, 128)
    assert abs(info.video_duration - info.audio_duration) <= 1 / 25 + 1e-3


def _generate_with_sfd_boxes(capsys, out, portrait, voice, checkpoint):
    return run(
        capsys,
        "generate",
        "--image", portrait,
        "--audio", voice,
        "-o", str(out),
        "--size", "128",
        "--wav2lip-checkpoint", str(checkpoint),
        "--wav2lip-boxes", "sfd",
        "-q",
    )  # fmt: skip


def test_refinement_with_sfd_boxes(
    capsys, tmp_path, portrait, voice, tiny_checkpoint, offline_cache, face_alignment_hub
):
    """face-alignment's real S3FD (random weights: its boxes rarely fit the face, so most
    frames pass through) in the refinement pass, end to end, nothing downloaded."""
    out = tmp_path / "sfd.mp4"
    code, _, err = _generate_with_sfd_boxes(capsys, out, portrait, voice, tiny_checkpoint)
    assert code == 0, err
    info = probe_video(out)
    assert info.video_codec == "h264" and (info.width, info.height) == (128, 128)


def test_sfd_boxes_without_their_weights_offline(
    capsys, tmp_path, portrait, voice, tiny_checkpoint, face_alignment_offline
):
    out = tmp_path / "never.mp4"
    code, _, err = _generate_with_sfd_boxes(capsys, out, portrait, voice, tiny_checkpoint)
    assert code == 2 and not out.exists()
    line = _one_error_line(err)
    assert "could not download" in line and "avatar weights download face-alignment" in line


def test_stages_are_reported_in_order(tmp_path, portrait, voice, tiny_checkpoint):
    from avatar.settings import GenerationSettings
    from pipelines import TalkingPortraitPipeline, stages_for

    settings = GenerationSettings(size=128, wav2lip_checkpoint=str(tiny_checkpoint))
    assert settings.refine == "wav2lip"
    order: list[str] = []
    fractions: dict[str, list[float]] = {}

    def progress(stage, fraction):
        if not order or order[-1] != stage:
            order.append(stage)
        fractions.setdefault(stage, []).append(fraction)

    result = TalkingPortraitPipeline()(
        portrait, voice, settings, output=tmp_path / "o.mp4", progress=progress
    )
    assert tuple(order) == stages_for(settings)
    assert order.index("refine") == order.index("render") - 1
    assert all(f[-1] == 1.0 for f in fractions.values())
    assert "refine" in result.timings and result.notices == []
    assert stages_for(GenerationSettings()) == ("face", "audio", "speech", "motion", "render")


def test_missing_weights_offline_is_one_sentence(capsys, tmp_path, portrait, voice, offline_cache):
    out = tmp_path / "o.mp4"
    code, _, err = run(
        capsys, "generate", "--image", portrait, "--audio", voice, "-o", str(out),
        "--refine", "wav2lip_gan", "-q",
    )  # fmt: skip
    assert code != 0 and not out.exists()
    line = _one_error_line(err)
    assert "avatar weights download wav2lip_gan" in line
    assert "--wav2lip-checkpoint PATH" in line
    assert "HF_HUB_OFFLINE" in line


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_bad_checkpoint_is_one_sentence(capsys, tmp_path, portrait, voice, tiny_checkpoint, damage):
    bad = tmp_path / "bad.pth"
    if damage == "truncate":
        bad.write_bytes(tiny_checkpoint.read_bytes()[: tiny_checkpoint.stat().st_size // 2])
    elif damage == "garbage":
        bad.write_bytes(np.random.default_rng(0).bytes(5000))
    out = tmp_path / "o.mp4"
    code, _, err = run(
        capsys, "generate", "--image", portrait, "--audio", voice, "-o", str(out),
        "--wav2lip-checkpoint", str(bad), "-q",
    )  # fmt: skip
    assert code != 0 and not out.exists()
    line = _one_error_line(err)
    assert "bad.pth" in line
    assert ("does not exist" in line) if damage == "missing" else ("corrupt" in line)


def test_image_or_video(capsys, tmp_path, portrait, voice):
    code, _, err = run(capsys, "generate", "--audio", voice, "-o", str(tmp_path / "o.mp4"))
    assert code != 0 and "--image" in _one_error_line(err)
    code, _, err = run(
        capsys, "generate", "--image", portrait, "--video", portrait, "--audio", voice,
        "-o", str(tmp_path / "o.mp4"),
    )  # fmt: skip
    assert code != 0 and "--video" in _one_error_line(err)


def _video_with_blank_frames(path, src, n_blank: int = 10, n: int = 40):
    """The first ``n`` frames of ``src`` with ``n_blank`` faceless grey frames in the middle."""
    from avatar.video import VideoWriter
    from avatar.video.reader import iter_frames

    frames = iter_frames(src)
    with VideoWriter(path, fps=25, size=(360, 288), audio=None, crf=18) as writer:
        for i in range(n):
            frame = next(frames)
            writer.write(np.full_like(frame, 128) if 15 <= i < 15 + n_blank else frame)
    frames.close()
    return path


def test_dubbing_a_video_passes_faceless_frames_through(tmp_path, voice, tiny_checkpoint):
    from avatar.settings import GenerationSettings
    from pipelines.dubbing import DUB_STAGES, DubbingPipeline

    src = _video_with_blank_frames(tmp_path / "in.mp4", shared("videos/grid_bbaf2n_male.mpg"))
    stages: list[str] = []
    result = DubbingPipeline()(
        src,
        voice,
        GenerationSettings(wav2lip_checkpoint=str(tiny_checkpoint)),
        output=tmp_path / "dub.mp4",
        progress=lambda s, f: stages.append(s) if not stages or stages[-1] != s else None,
    )
    assert tuple(stages) == DUB_STAGES
    info = probe_video(result.video_path)
    assert (info.width, info.height) == (360, 288)
    # the voice-over (1.6 s, 40 frames) covers the 40-frame video: one pass
    assert result.n_frames == round(result.audio_duration * 25)
    assert abs(info.video_duration - info.audio_duration) <= 1 / 25 + 1e-3
    assert result.n_frames == 40
    assert 40 - 10 - 3 <= result.refined_frames <= 40 - 10
    assert any("had no face" in n for n in result.notices)


def test_dubbing_from_the_cli_loops_a_short_video(capsys, tmp_path, voice, tiny_checkpoint):
    src = _video_with_blank_frames(
        tmp_path / "in.mp4", shared("videos/grid_bbaf2n_male.mpg"), n_blank=0, n=15
    )
    out = tmp_path / "dub.mp4"
    code, stdout, err = run(
        capsys, "generate", "--video", str(src),
        "--audio", voice, "-o", str(out), "--wav2lip-checkpoint", str(tiny_checkpoint), "-q",
    )  # fmt: skip
    assert code == 0, err
    assert out.is_file() and "wrote" in stdout and "40 frames" in stdout  # 15 frames, looped
    info = probe_video(out)
    assert abs(info.video_duration - info.audio_duration) <= 1 / 25 + 1e-3

    # the same dub with the visible label: only the chosen corner changes
    labelled = tmp_path / "dub_label.mp4"
    code, _, err = run(
        capsys, "generate", "--video", str(src), "--audio", voice, "-o", str(labelled),
        "--wav2lip-checkpoint", str(tiny_checkpoint), "--label", "--label-position", "top-left",
        "-q",
    )  # fmt: skip
    assert code == 0, err
    from avatar.video.reader import iter_frames

    plain_frame = next(iter_frames(out)).astype(np.int16)
    label_frame = next(iter_frames(labelled)).astype(np.int16)
    diff = np.abs(plain_frame - label_frame).max(axis=2)
    h, w = diff.shape
    assert diff[: h // 4, : w // 3].max() > 60  # the label is drawn top-left
    assert np.percentile(diff[h // 2 :, w // 2 :], 99) < 12  # elsewhere only codec noise


def test_unreadable_video(capsys, tmp_path, voice, tiny_checkpoint):
    fake = tmp_path / "v.mp4"
    fake.write_text("not a video")
    code, _, err = run(
        capsys, "generate", "--video", str(fake), "--audio", voice, "-o", str(tmp_path / "o.mp4"),
        "--wav2lip-checkpoint", str(tiny_checkpoint), "-q",
    )  # fmt: skip
    assert code != 0 and "v.mp4" in _one_error_line(err)


def test_sync_scores_before_and_after_refinement(
    capsys, tmp_path, portrait, voice, tiny_checkpoint
):
    """With SyncNet weights at hand, `avatar eval plain --compare refined` gives LSE-D/LSE-C of both."""
    import json

    sn = pytest.importorskip("avatar.eval.syncnet")
    torch.manual_seed(0)
    weights = tmp_path / "syncnet_v2.model"
    sn.save_checkpoint(sn.SyncNet().eval(), weights)
    videos = []
    for extra in ([], ["--wav2lip-checkpoint", str(tiny_checkpoint)]):
        out = tmp_path / f"v{len(videos)}.mp4"
        args = ["generate", "--image", portrait, "--audio", voice, "-o", str(out), "--size", "128"]
        assert main([*args, "-q", *extra]) == 0
        videos.append(str(out))
    capsys.readouterr()
    code, stdout, err = run(
        capsys, "eval", videos[0], "--compare", videos[1], "--syncnet-weights", str(weights),
        "--json",
    )  # fmt: skip
    assert code == 0, err
    before, after = json.loads(stdout)
    for report in (before, after):
        assert np.isfinite(report["lse_d"]) and np.isfinite(report["lse_c"])


def test_without_pytorch_refinement_is_one_sentence(capsys, tmp_path, portrait, voice, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):  # as if PyTorch were not installed
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    code, _, err = run(
        capsys, "generate", "--image", portrait, "--audio", voice, "-o", str(tmp_path / "o.mp4"),
        "--refine", "wav2lip", "-q",
    )  # fmt: skip
    assert code != 0 and 'pip install -e ".[refine]"' in _one_error_line(err)
