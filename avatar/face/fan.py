"""face-alignment as an optional backend: SFD face boxes and FAN 68-point landmarks.

The face-alignment package (Adrian Bulat, BSD-3-Clause; ``pip install -e ".[fan]"``)
brings the S3FD face detector that Wav2Lip's training crops came from, and the FAN
landmark network whose 68 points are the field's usual landmarks for lip-sync
evaluation. Its weights download through face-alignment's own mechanism (torch.hub)
on first use, into :func:`weights_dir`; nothing here downloads anything else.

Nothing in the default path imports this module: MediaPipe stays the landmarker and
our landmark boxes the Wav2Lip crop, unless the user asks for face-alignment
(``--wav2lip-boxes sfd``, ``avatar eval --tracker fan``). Asked for and unavailable
(not installed, or its weights cannot be downloaded), it is one sentence, never a
silent switch back to MediaPipe.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from avatar.errors import ModelError

log = logging.getLogger(__name__)

#: face-alignment's weight files (its download URLs' basenames), by network.
WEIGHT_FILES = {
    "S3FD face detector": "s3fd-619a316812.pth",
    "2D FAN-4 landmarks": "2DFAN4-11f355bf06.pth.tar",
}
INSTALL = 'pip install -e ".[fan]"'
DOWNLOAD_COMMAND = "avatar weights download face-alignment"
N_POINTS = 68
#: SFD detections below this score are dropped (face-alignment's own default).
SFD_THRESHOLD = 0.5
#: The SFD pass looks at the frame around our landmarks, this many face widths each side,
#: scaled so the crop's longer side is at most ``SFD_MAX_SIDE`` (S3FD is a VGG-16 run at the
#: input's full size: 0.7 s for 384² on two cores, so a crop is what makes it usable).
SFD_CONTEXT = 0.6
SFD_MAX_SIDE = 384

_LOCK = threading.Lock()


class FaceAlignmentError(ModelError):
    """face-alignment was asked for and cannot be used."""


def weights_dir() -> Path:
    """Where face-alignment keeps its downloads: torch.hub's checkpoints folder."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def missing_weights() -> list[str]:
    """The weight files face-alignment would have to download first (names)."""
    folder = weights_dir()
    return [name for name in WEIGHT_FILES.values() if not (folder / name).is_file()]


def require() -> Any:
    """The imported ``face_alignment`` package, or one sentence saying how to install it."""
    try:
        import face_alignment
    except ImportError as exc:
        raise FaceAlignmentError(
            f"face-alignment is not installed; install it with `{INSTALL}`."
        ) from exc
    return face_alignment


@contextlib.contextmanager
def _weights_download(what: str) -> Iterator[None]:
    """Turn a failed first-use download into one sentence naming the command."""
    missing = missing_weights()
    if missing:
        log.info("face-alignment downloads %s into %s", ", ".join(missing), weights_dir())
    try:
        yield
    except (OSError, RuntimeError, ValueError) as exc:
        if not missing:
            raise FaceAlignmentError(
                f"face-alignment could not load its {what} weights from {weights_dir()} "
                f"({type(exc).__name__}: {exc}); delete them and run `{DOWNLOAD_COMMAND}`."
            ) from exc
        raise FaceAlignmentError(
            f"face-alignment could not download its {what} weights into {weights_dir()} "
            f"({_reason(exc)}); run `{DOWNLOAD_COMMAND}` where the internet is reachable, "
            f"or copy {', '.join(missing)} there."
        ) from exc


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return f"{type(exc).__name__}: {reason}"


def _device(device: str | None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_detector(device: str | None = None) -> Any:
    """face-alignment's S3FD detector (``detect_from_image(rgb) -> [[x0, y0, x1, y1, score]]``)."""
    require()
    with _LOCK, _weights_download("S3FD face detector"):
        from face_alignment.detection.sfd.sfd_detector import SFDDetector

        return SFDDetector(device=_device(device), filter_threshold=SFD_THRESHOLD)


def load_landmarker(device: str | None = None) -> Any:
    """face-alignment's 2-D FAN with its S3FD detector, eager (no torch.compile), no flip."""
    fa = require()
    with _LOCK, _weights_download("FAN and S3FD"):
        return fa.FaceAlignment(
            fa.LandmarksType.TWO_D,
            device=_device(device),
            flip_input=False,
            face_detector="sfd",
            face_detector_kwargs={"filter_threshold": SFD_THRESHOLD},
            compile=False,
        )


def download_weights() -> list[Path]:
    """Fetch both networks' weights through face-alignment, then check them (``avatar
    weights download face-alignment``)."""
    load_landmarker("cpu")
    return verify_weights()


def verify_weights() -> list[Path]:
    """Check each file against the sha256 prefix in its name (torch.hub's convention);
    a file that does not match is deleted and reported, so the next use fetches it anew."""
    from avatar.weights import sha256_file

    folder = weights_dir()
    paths = []
    for title, name in WEIGHT_FILES.items():
        path = folder / name
        if not path.is_file():
            raise FaceAlignmentError(
                f"face-alignment's {title} weights are not in {folder}; run `{DOWNLOAD_COMMAND}`."
            )
        expected = name.split("-", 1)[1].split(".", 1)[0]
        digest = sha256_file(path)
        if not digest.startswith(expected):
            path.unlink()
            raise FaceAlignmentError(
                f"face-alignment's {title} weights in {folder} do not match their sha256 "
                f"(expected {expected}…, got {digest[:10]}…), so they were deleted; run "
                f"`{DOWNLOAD_COMMAND}` again."
            )
        paths.append(path)
    return paths


def weights_status() -> list[dict]:
    """One row per face-alignment weight file, for ``avatar weights list``."""
    folder = weights_dir()
    rows = []
    for title, name in WEIGHT_FILES.items():
        path = folder / name
        rows.append(
            {
                "name": "face-alignment",
                "title": title,
                "file": name,
                "cached": path.is_file(),
                "size": path.stat().st_size if path.is_file() else None,
                "path": str(path),
            }
        )
    return rows


# ----------------------------------------------------------------------------- SFD boxes


def _landmark_box(landmarks: np.ndarray) -> np.ndarray | None:
    xy = np.asarray(landmarks, np.float64)[:, :2]
    if not np.all(np.isfinite(xy)):
        return None
    return np.concatenate([xy.min(0), xy.max(0)])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = np.maximum(a[:2], b[:2])
    x1, y1 = np.minimum(a[2:4], b[2:4])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area > 0 else 0.0


class SfdBoxes:
    """Wav2Lip crop boxes from S3FD, as the reference finds them, for the face we track.

    Called with an RGB frame and that face's landmarks (our tracker's, any scheme);
    runs S3FD on the frame around the landmarks and returns the detection that
    overlaps them most, as float (x0, y0, x1, y1), or None when S3FD finds none there.
    """

    def __init__(self, detector: Any) -> None:
        self.detector = detector
        self.missed = 0  # frames where S3FD found no box on our face

    @classmethod
    def load(cls, device: str | None = None) -> SfdBoxes:
        return cls(load_detector(device))

    def __call__(self, rgb: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray | None:
        if landmarks is None:
            return None
        own = _landmark_box(landmarks)
        if own is None:
            return None
        h, w = rgb.shape[:2]
        size = max(own[2] - own[0], own[3] - own[1])
        pad = SFD_CONTEXT * size
        x0, y0 = (max(0, int(v - pad)) for v in own[:2])
        x1, y1 = min(w, int(own[2] + pad) + 1), min(h, int(own[3] + pad) + 1)
        crop = rgb[y0:y1, x0:x1]
        scale = min(1.0, SFD_MAX_SIDE / max(crop.shape[:2]))
        if scale < 1.0:
            import cv2

            crop = cv2.resize(
                crop,
                (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                interpolation=cv2.INTER_AREA,
            )
        found = self.detector.detect_from_image(np.ascontiguousarray(crop))
        boxes = [np.asarray(b[:4], np.float64) / scale + [x0, y0, x0, y0] for b in found]
        best = max(boxes, key=lambda b: _iou(b, own), default=None)
        if best is None or _iou(best, own) <= 0.1:
            self.missed += 1
            return None
        best[[0, 2]] = np.clip(best[[0, 2]], 0, w)
        best[[1, 3]] = np.clip(best[[1, 3]], 0, h)
        return best


# ------------------------------------------------------------------------ FAN landmarks


class FanLandmarks:
    """68-point FAN landmarks per frame, in frame pixels (x, y).

    S3FD runs on the first frame and whenever the face is lost; otherwise FAN is
    given the previous frame's landmark box (as face-alignment's ``detected_faces``),
    which keeps the track on one face and skips the detector's cost.
    """

    def __init__(self, aligner: Any) -> None:
        self.aligner = aligner
        self._box: np.ndarray | None = None

    @classmethod
    def load(cls, device: str | None = None) -> FanLandmarks:
        return cls(load_landmarker(device))

    def reset(self) -> None:
        self._box = None

    def __call__(self, rgb: np.ndarray, near: np.ndarray | None = None) -> np.ndarray | None:
        """(68, 2) landmarks of the face nearest ``near`` (or the largest), or None."""
        faces = None
        if self._box is not None:
            faces = [self._box]
        else:
            found = self.aligner.face_detector.detect_from_image(np.ascontiguousarray(rgb))
            if len(found) == 0:
                return None
            faces = [_choose(found, near)]
        points = self.aligner.get_landmarks_from_image(rgb, detected_faces=faces)
        if not points:
            self._box = None
            return None
        lm = np.asarray(points[0], np.float64)[:, :2]
        box = _landmark_box(lm)
        if box is None or box[2] - box[0] < 8:
            self._box = None
            return None
        # FAN's crop is centred on the box and sized from it: our next box is the landmarks'
        # own box grown to the detector's framing (forehead above the brows, chin included).
        bw, bh = box[2] - box[0], box[3] - box[1]
        self._box = np.array([box[0], box[1] - 0.25 * bh, box[2], box[3] + 0.05 * bh])
        if bw <= 0:
            self._box = None
        return lm


def _choose(found, near: np.ndarray | None) -> np.ndarray:
    boxes = [np.asarray(b[:4], np.float64) for b in found]
    if near is None:
        return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    return min(boxes, key=lambda b: float(np.sum(((b[:2] + b[2:]) / 2 - near) ** 2)))
