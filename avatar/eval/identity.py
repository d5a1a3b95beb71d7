"""Identity: how far the face in a video drifts from the person in the source photo.

dlib's 128-D face descriptor (the ResNet of ``face_recognition``; distance < 0.6 means
"same person" on its scale, DESIGN.md asks for <= 0.35 to the source photo) is computed
on the source photo and on frames sampled through the video, during the tracking pass.
Everything runs offline: ``dlib-bin`` brings dlib as a wheel and
``face-recognition-models`` ships the model files (the 5-point shape predictor and the
ResNet). When either is missing the metric is skipped with a note
(``pip install talking-avatar[eval]``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from avatar.eval.tracker import FrameFace

#: How many frames are described at most, and how close together they may be.
MAX_SAMPLES = 24
MIN_STEP_S = 0.5
#: The frame is cropped to this many face widths around the tracked face and scaled so
#: the face is about FACE_PX wide before dlib looks at it (its HOG detector wants >= 80 px).
CROP_FACE_WIDTHS = 2.0
FACE_PX = 160
INSTALL_HINT = "pip install dlib-bin face-recognition-models"


def _models_dir() -> Path | None:
    # face_recognition_models' __init__ imports pkg_resources (gone from new setuptools),
    # so its folder is located without importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder if folder.is_dir() else None


def unavailable_reason() -> str | None:
    """None when the identity metric can run, else why not (one sentence)."""
    try:
        import dlib  # noqa: F401
    except ImportError:
        return f"identity not measured: dlib is not installed ({INSTALL_HINT})"
    folder = _models_dir()
    if folder is None or not (folder / "dlib_face_recognition_resnet_model_v1.dat").is_file():
        return f"identity not measured: face-recognition-models is not installed ({INSTALL_HINT})"
    return None


class FaceDescriber:
    """dlib HOG detector + 5-point alignment + ResNet descriptor, loaded once."""

    def __init__(self) -> None:
        import dlib

        folder = _models_dir()
        if folder is None:
            raise RuntimeError(unavailable_reason() or "face-recognition-models missing")
        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.shape = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
        self.net = dlib.face_recognition_model_v1(
            str(folder / "dlib_face_recognition_resnet_model_v1.dat")
        )

    def describe(
        self,
        rgb: np.ndarray,
        fallback_box: tuple[float, float, float, float] | None,
        near: tuple[float, float] | None = None,
    ):
        """128-D descriptor of the largest face in ``rgb`` (uint8 RGB), or None.

        ``fallback_box`` (x0, y0, x1, y1) is used when the HOG detector finds nothing
        (a turned head, a painting), so a tracked face is still described; ``near``
        (x, y) takes the face nearest that point instead of the largest.
        """
        img = np.ascontiguousarray(rgb, dtype=np.uint8)
        upsample = 1 if min(img.shape[:2]) < 300 else 0
        rects = list(self.detector(img, upsample))
        if rects and near is not None:
            rect = min(
                rects,
                key=lambda r: (r.center().x - near[0]) ** 2 + (r.center().y - near[1]) ** 2,
            )
        elif rects:
            rect = max(rects, key=lambda r: r.width() * r.height())
        elif fallback_box is not None:
            x0, y0, x1, y1 = (int(round(v)) for v in fallback_box)
            rect = self._dlib.rectangle(x0, y0, x1, y1)
        else:
            return None
        shape = self.shape(img, rect)
        return np.asarray(self.net.compute_face_descriptor(img, shape), np.float64)


def _face_crop(
    frame: np.ndarray, center: tuple[float, float], face_width: float
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A crop around the tracked face, scaled so the face is ~FACE_PX wide, and the face box in it."""
    import cv2

    h, w = frame.shape[:2]
    half = CROP_FACE_WIDTHS * face_width / 2.0
    x0, x1 = int(max(0, center[0] - half)), int(min(w, center[0] + half))
    y0, y1 = int(max(0, center[1] - half)), int(min(h, center[1] + half))
    crop = frame[y0:y1, x0:x1]
    scale = FACE_PX / max(face_width, 1.0)
    if abs(scale - 1.0) > 0.1:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interp)
    else:
        scale = 1.0
    cx, cy = (center[0] - x0) * scale, (center[1] - y0) * scale
    r = 0.42 * face_width * scale  # dlib's boxes are tighter than the landmark box
    return crop, (cx - r, cy - 0.8 * r, cx + r, cy + 1.2 * r)


def describe_photo(
    describer: FaceDescriber, rgb: np.ndarray, near: tuple[float, float] | None = None
):
    """Descriptor of the largest face in a photo (the source portrait), or None.

    ``near`` (x, y in photo pixels) takes the face nearest that point instead: the
    animated one of a group photo.
    """
    img = np.asarray(rgb, dtype=np.uint8)
    longest = max(img.shape[:2])
    s = 1.0
    if longest > 1024:  # dlib's HOG needs no more, and is linear in pixels
        import cv2

        s = 1024 / longest
        img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    return describer.describe(img, None, None if near is None else (near[0] * s, near[1] * s))


def describe_like_frames(
    describer: FaceDescriber,
    rgb: np.ndarray,
    near: tuple[float, float] | None = None,
    tracker: str = "mediapipe",
):
    """Descriptor of the source photo taken exactly as video frames are: the tracker's
    face box, the same crop and scale to ``FACE_PX`` (None when the tracker finds no face).

    Described whole instead, the unchanged photo already measures 0.04-0.12 from itself
    through the frames' path, a bias every video would carry."""
    from avatar.eval.tracker import face_in_image

    img = np.asarray(rgb, dtype=np.uint8)
    face = face_in_image(img, near=near, tracker=tracker)
    if face is None:
        return None
    crop, box = _face_crop(img, face.center, face.face_width)
    return describer.describe(crop, box)


class IdentityMeter:
    """``track_video`` callback: descriptor distance to the source photo on sampled frames."""

    def __init__(
        self,
        source_rgb: np.ndarray,
        fps: float,
        duration_s: float | None,
        near: tuple[float, float] | None = None,
        tracker: str = "mediapipe",
    ) -> None:
        self.notes: list[str] = []
        self.distances: list[float] = []
        self.frames: list[int] = []
        self.skip = unavailable_reason()
        self.describer: FaceDescriber | None = None
        self.reference = None
        if self.skip is None:
            self.describer = FaceDescriber()
            self.reference = describe_like_frames(self.describer, source_rgb, near, tracker)
            if self.reference is None:
                self.reference = describe_photo(self.describer, source_rgb, near)
                if self.reference is not None:
                    self.notes.append(
                        "identity: the tracker finds no face in the source photo; it is "
                        "described whole, not cropped like the frames (a bias of ~0.05)"
                    )
            if self.reference is None:
                self.skip = "identity not measured: dlib finds no face in the source photo"
        fps = fps if fps > 0 else 25.0
        spacing = MIN_STEP_S
        if duration_s and np.isfinite(duration_s):
            spacing = max(MIN_STEP_S, duration_s / MAX_SAMPLES)
        self.step = max(1, round(spacing * fps))

    def __call__(self, index: int, frame: np.ndarray, face: FrameFace | None) -> None:
        if self.skip is not None or face is None or index % self.step:
            return
        if len(self.distances) >= 2 * MAX_SAMPLES:
            return
        crop, box = _face_crop(frame, face.center, face.face_width)
        desc = self.describer.describe(crop, box)
        if desc is not None:
            self.distances.append(float(np.linalg.norm(desc - self.reference)))
            self.frames.append(index)

    def summary(self) -> tuple[float, float, int]:
        """(mean distance, worst distance, frames described); NaN when none were."""
        if not self.distances:
            return float("nan"), float("nan"), 0
        d = np.asarray(self.distances)
        return float(d.mean()), float(d.max()), int(d.size)


def identity_distance(image_a, image_b) -> float:
    """Descriptor distance between the largest faces of two photos (paths or RGB arrays)."""
    from avatar.eval.metrics import _load_source

    reason = unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    describer = FaceDescriber()
    a = describe_photo(describer, _load_source(image_a))
    b = describe_photo(describer, _load_source(image_b))
    if a is None or b is None:
        return float("nan")
    return float(np.linalg.norm(a - b))
