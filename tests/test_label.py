"""The visible "AI-generated" label: drawn in its corner only; metadata still marks the video."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.errors import AvatarError
from avatar.video.label import Label


def test_label_changes_only_its_corner():
    frame = np.full((256, 256, 3), 120, np.uint8)
    out = Label(256, 256, position="top-left", size=0.06).apply(frame)
    assert (frame == 120).all()  # the input is not touched
    changed = np.any(out != frame, axis=2)
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 200
    assert ys.max() < 64 and xs.max() < 160  # all in the top-left corner
    br = Label(256, 256, position="bottom-right").apply(frame)
    ys, xs = np.nonzero(np.any(br != frame, axis=2))
    assert ys.min() > 192 and xs.min() > 96


def test_bad_label_settings_are_rejected():
    from avatar.settings import GenerationSettings

    with pytest.raises(AvatarError, match="position"):
        GenerationSettings(label=True, label_position="middle")
    with pytest.raises(AvatarError, match="size"):
        GenerationSettings(label=True, label_size=2.0)


def test_labelled_video_differs_in_the_corner_and_keeps_the_tags(tmp_path, luciano_rig):
    from avatar.audio.speech import Speech
    from avatar.settings import GenerationSettings
    from avatar.video.probe import probe_video
    from avatar.video.reader import iter_frames
    from pipelines import TalkingPortraitPipeline

    t = np.arange(16000) / 16000
    speech = Speech((0.1 * np.sin(2 * np.pi * 180 * t) * (t % 0.25 < 0.15)).astype(np.float32))
    videos = {}
    for label in (False, True):
        s = GenerationSettings(size=256, label=label, label_position="bottom-left", seed=1)
        out = tmp_path / f"label_{label}.mp4"
        TalkingPortraitPipeline()(luciano_rig.image, speech, s, output=out, rig=luciano_rig)
        videos[label] = np.stack(list(iter_frames(out))).astype(np.float32)
    diff = np.abs(videos[True] - videos[False]).mean(axis=(0, 3))  # (H, W)
    assert diff[215:250, 5:80].mean() > 20  # the label's corner
    assert diff[:160, :].mean() < 1.0  # the rest is unchanged (up to encoding noise)
    tags = probe_video(tmp_path / "label_True.mp4").metadata
    assert tags["synthetic"] == "true" and "AI-generated" in tags["comment"]
