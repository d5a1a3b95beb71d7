"""face-alignment as an optional backend: real networks with random weights, nothing downloaded.

The S3FD and FAN networks are face-alignment's own classes, built with random weights
and saved under the names its first-use download would give them, in a torch.hub
folder of the test's; any attempt to download fails the test.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("face_alignment")

from avatar.face import fan  # noqa: E402
from tests.conftest import hide_package, shared  # noqa: E402


@pytest.fixture
def hub(face_alignment_hub):
    return face_alignment_hub


@pytest.fixture(scope="module")
def portrait():
    from avatar.face import load_image

    return load_image(shared("portraits/cc0_codait_luciano.png"))


def test_weights_are_found_where_face_alignment_looks(hub):
    assert fan.weights_dir() == hub / "hub" / "checkpoints"
    assert fan.missing_weights() == []
    assert all(row["cached"] for row in fan.weights_status())


def test_fan_landmarks_from_the_real_network(hub, portrait):
    """Random weights place points anywhere, but the shapes, the tracking and the no-download
    path are the real ones."""
    landmarks = fan.FanLandmarks.load("cpu")
    first = landmarks(portrait)
    assert first is not None and first.shape == (fan.N_POINTS, 2)
    assert np.all(np.isfinite(first))
    assert landmarks._box is not None  # the next frame skips the detector
    second = landmarks(portrait)
    assert second is None or second.shape == (fan.N_POINTS, 2)


def test_sfd_detector_runs_on_a_real_frame(hub, portrait):
    detector = fan.load_detector("cpu")
    boxes = detector.detect_from_image(np.ascontiguousarray(portrait[:256, :256]))
    assert len(boxes) > 0  # random weights (seed 0) score many anchors over the threshold
    for box in boxes:
        assert len(box) == 5 and box[4] >= fan.SFD_THRESHOLD


def test_track_video_with_fan_gives_the_same_record(hub):
    from avatar.eval.tracker import FAN68, track_video

    track = track_video(shared("videos/grid_bbaf2n_male.mpg"), tracker="fan", max_frames=3)
    assert track.tracker == "fan" and track.n_frames == 3
    assert track.stable_ids == FAN68.stable_ids
    assert track.stable.shape == (3, len(FAN68.stable_ids), 2)


def test_missing_weights_offline_is_one_sentence(face_alignment_offline):
    with pytest.raises(fan.FaceAlignmentError) as err:
        fan.load_landmarker("cpu")
    message = str(err.value)
    assert "could not download" in message and fan.DOWNLOAD_COMMAND in message
    assert str(face_alignment_offline) in message and "\n" not in message


def test_not_installed_is_one_sentence(monkeypatch):
    hide_package(monkeypatch, "face_alignment")
    with pytest.raises(fan.FaceAlignmentError, match=r"not installed.*\.\[fan\]"):
        fan.load_detector("cpu")


def test_verify_deletes_files_that_do_not_match_their_name(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    for name in fan.WEIGHT_FILES.values():
        (folder / name).write_bytes(b"not the weights")
    with pytest.raises(fan.FaceAlignmentError, match="do not match their sha256"):
        fan.verify_weights()
    assert len(fan.missing_weights()) == 1  # the first file checked is gone


def test_weights_cli_path_and_verify(tmp_path, monkeypatch, capsys):
    from avatar.cli import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert main(["weights", "path", "face-alignment"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "hub" / "checkpoints")
    assert main(["weights", "verify", "face-alignment"]) == 2
    assert "run `avatar weights download face-alignment`" in capsys.readouterr().err


class StubDetector:
    """S3FD's interface with fixed detections in the coordinates of the image it is given."""

    def __init__(self, boxes):
        self.boxes = boxes
        self.shapes: list[tuple[int, ...]] = []

    def detect_from_image(self, rgb):
        self.shapes.append(rgb.shape)
        return [np.array(b, np.float64) for b in self.boxes(rgb)]


def test_sfd_boxes_map_the_crop_back_and_pick_our_face():
    frame = np.zeros((1000, 1200, 3), np.uint8)
    landmarks = np.array([[500.0, 400.0], [700.0, 650.0]])  # a 200 x 250 face

    def boxes(crop):
        # S3FD sees a crop around our face, scaled to at most 384 px: report our face
        # (in crop pixels) and a second face in the crop's corner.
        # the crop is 0.6 face sizes (250 px) around the landmarks: frame rows 250..801,
        # columns 350..851
        s = crop.shape[0] / 551
        ours = [(500 - 350) * s, (400 - 250) * s, (700 - 350) * s, (680 - 250) * s, 0.99]
        return [[0, 0, 20 * s, 20 * s, 0.9], ours]

    detector = StubDetector(boxes)
    sfd = fan.SfdBoxes(detector)
    box = sfd(frame, landmarks)
    assert max(detector.shapes[0][:2]) <= fan.SFD_MAX_SIDE
    np.testing.assert_allclose(box, [500, 400, 700, 680], atol=2.5)
    assert sfd(frame, None) is None
    lonely = fan.SfdBoxes(StubDetector(lambda crop: [[0, 0, 5, 5, 0.9]]))
    assert lonely(frame, landmarks) is None and lonely.missed == 1


def test_refiner_uses_detector_boxes_with_the_bottom_pad():
    from avatar.refine.mel import MelChunks
    from avatar.refine.wav2lip import BOTTOM_PAD, Wav2LipRefiner

    class Engine:
        device = torch.device("cpu")
        precision = "fp32"
        bf16_max_diff = None

        def __call__(self, mels, faces):
            return faces.astype(np.float32)

    detected = np.array([40.0, 30.0, 140.0, 150.0])
    seen = []

    def boxes(frame, landmarks):
        seen.append(landmarks.shape)
        return detected

    mels = MelChunks(np.zeros((80, 40), np.float32), 25)
    refiner = Wav2LipRefiner(Engine(), mels, batch_size=2, boxes=boxes)
    frame = np.full((200, 200, 3), 128, np.uint8)
    lm = np.tile([[90.0, 100.0]], (478, 1)) + np.random.default_rng(0).normal(0, 20, (478, 2))
    refiner.push(frame, lm)
    item = refiner._pending[0]
    np.testing.assert_allclose(item.box[:3], detected[:3])
    assert item.box[3] == pytest.approx(150 + BOTTOM_PAD * 120)
    assert seen == [(478, 2)]
    refiner.push(frame, None)  # no face: the detector is not asked
    assert len(seen) == 1 and refiner._pending[1].box is None


def test_avatar_info_says_whether_face_alignment_can_run(tmp_path, monkeypatch, hub):
    from avatar import system

    ready = {c.name: c for c in system.capabilities()}["face-alignment"]
    assert ready.active and "--tracker fan" in ready.detail
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # installed, nothing downloaded yet
    waiting = {c.name: c for c in system.capabilities()}["face-alignment"]
    assert not waiting.active and fan.DOWNLOAD_COMMAND in waiting.detail
