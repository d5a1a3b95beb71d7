"""Find faces and their 478 dense landmarks, offline.

The MediaPipe 0.10.21 wheel bundles the face detector and face-mesh models,
so nothing is downloaded.  Small faces are found by the full-range detector
and then meshed on an upscaled crop, which keeps landmarks accurate on
half-body and group photos.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
from pathlib import Path

import cv2
import numpy as np

from avatar.errors import (
    ExtremePoseError,
    FaceCutError,
    FaceIndexError,
    FaceNotFoundError,
    FaceTooSmallError,
)
from avatar.face.image import load_image
from avatar.face.rig import FaceRig, outside_picture

log = logging.getLogger(__name__)

MIN_FACE_WIDTH = 48  # pixels across the face; below this there is nothing to animate
MAX_YAW = 50.0
MAX_PITCH = 35.0
MESH_INPUT = 384  # side of the upscaled crop given to the mesh model
# Share of the face's landmarks outside the photo: above CUT_NOTICE the user is told the
# missing part is filled in; above MAX_CUT (about one eye and the cheek beyond it gone)
# the photo is refused.
CUT_NOTICE = 0.05
MAX_CUT = 0.35
CUT_ADVICE = "use a photo that shows the whole face"

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_lock = threading.Lock()
_models: dict[str, object] = {}
_used: set[str] = set()


@contextlib.contextmanager
def _native_stderr_silenced():
    """Hide what MediaPipe's C++ side prints straight to file descriptor 2.

    Creating a graph and running it the first time print TensorFlow Lite and
    absl start-up chatter ("Created TensorFlow Lite XNNPACK delegate", "All log
    messages before absl::InitializeLog() ...") that no environment variable
    turns off; a CLI user would see it above the one sentence we promise. Only
    used for those first calls, so other threads' output is hidden for
    milliseconds at most, once per process.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable fd 2 (embedded, closed)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _process(name: str, image: np.ndarray):
    """``_model(name).process(image)``, quiet on first use. Call with ``_lock`` held."""
    if name in _used:
        return _model(name).process(image)
    with _native_stderr_silenced():
        result = _model(name).process(image)
    _used.add(name)
    return result


def _model(name: str):
    """Models are created once per process; MediaPipe graphs are not thread-safe."""
    import mediapipe as mp

    if name not in _models:
        if name == "detector_far":
            _models[name] = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=0.5
            )
        elif name == "detector_near":
            _models[name] = mp.solutions.face_detection.FaceDetection(
                model_selection=0, min_detection_confidence=0.5
            )
        else:
            _models[name] = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=1,
                refine_landmarks=True,
                min_detection_confidence=0.3,
            )
    return _models[name]


def detect_faces(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes (x0, y0, x1, y1), largest first."""
    h, w = image.shape[:2]
    boxes: list[tuple[float, float, float, float, float]] = []
    with _lock:
        for name in ("detector_far", "detector_near"):
            result = _process(name, image)
            for det in result.detections or []:
                bb = det.location_data.relative_bounding_box
                x0, y0 = bb.xmin * w, bb.ymin * h
                boxes.append((x0, y0, x0 + bb.width * w, y0 + bb.height * h, det.score[0]))
    kept: list[tuple[float, float, float, float, float]] = []
    for b in sorted(boxes, key=lambda b: -b[4]):
        if all(_iou(b, k) < 0.3 for k in kept):
            kept.append(b)
    kept = [b for b in kept if (b[2] - b[0]) < 0.98 * w or len(kept) == 1]
    kept.sort(key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
    return [tuple(int(round(v)) for v in b[:4]) for b in kept]  # type: ignore[misc]


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _mesh_in_box(image: np.ndarray, box: tuple[int, int, int, int], scale: float):
    """Landmarks (478, 3) in image pixels for the face in ``box``, or None."""
    x0, y0, x1, y1 = box
    side = scale * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    s = MESH_INPUT / side
    # Affine crop: image -> square MESH_INPUT canvas, replicated border outside the photo.
    m = np.array([[s, 0, MESH_INPUT / 2 - s * cx], [0, s, MESH_INPUT / 2 - s * cy]], np.float64)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    crop = cv2.warpAffine(
        image, m, (MESH_INPUT, MESH_INPUT), flags=interp, borderMode=cv2.BORDER_REPLICATE
    )
    with _lock:
        result = _process("mesh", crop)
    if not result.multi_face_landmarks:
        return None
    pts = np.array(
        [(p.x, p.y, p.z) for p in result.multi_face_landmarks[0].landmark], dtype=np.float64
    )
    out = np.empty_like(pts)
    out[:, 0] = (pts[:, 0] * MESH_INPUT - m[0, 2]) / s
    out[:, 1] = (pts[:, 1] * MESH_INPUT - m[1, 2]) / s
    out[:, 2] = -pts[:, 2] * MESH_INPUT / s  # toward the camera is positive
    return out.astype(np.float32)


def estimate_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch, roll in degrees from the 3-D landmarks (rough, for checks and clamping)."""
    p = landmarks.astype(np.float64)
    eye_vec = p[263] - p[33]
    mouth_vec = p[291] - p[61]
    across = eye_vec / np.linalg.norm(eye_vec) + mouth_vec / np.linalg.norm(mouth_vec)
    roll = math.degrees(math.atan2(across[1], across[0]))
    yaw = -math.degrees(math.atan2(across[2], math.hypot(across[0], across[1])))
    down = p[152] - p[10]
    pitch = -math.degrees(math.atan2(down[2], math.hypot(down[0], down[1])))
    return yaw, pitch, roll


def analyze_portrait(
    image: str | Path | np.ndarray, *, face_index: int = 0, check_pose: bool = True
) -> FaceRig:
    """Load a portrait and rig one face of it (the largest unless ``face_index`` says otherwise)."""
    notices: list[str] = []
    rgb = load_image(image, notices=notices)
    boxes = detect_faces(rgb)
    if not boxes:
        # The detectors miss some large, tightly cropped faces the mesh model still finds.
        h, w = rgb.shape[:2]
        lm = _mesh_in_box(rgb, (0, 0, w, h), 1.0)
        if lm is None:
            raise FaceNotFoundError(
                "No face was found in the photo; use a photo with one clearly visible face."
            )
        boxes = [_landmark_box(lm)]
    if face_index < 0 or face_index >= len(boxes):
        raise FaceIndexError(
            f"The photo has {len(boxes)} face{'s' if len(boxes) != 1 else ''}; "
            f"face index {face_index} does not exist (use 0 to {len(boxes) - 1})."
        )
    if len(boxes) > 1:
        notices.append(
            f"The photo has {len(boxes)} faces; animating face {face_index} "
            "(0 is the largest; choose another with --face-index)."
        )
    box = boxes[face_index]
    lm = None
    for scale in (1.9, 2.6, 1.4):
        lm = _mesh_in_box(rgb, box, scale)
        if lm is not None:
            break
    if lm is None:
        if _touches_edge(box, rgb.shape):
            raise FaceCutError(f"The face is cut by the photo's edge; {CUT_ADVICE}.")
        raise FaceNotFoundError(
            "A face was detected but its features could not be located; "
            "use a sharper, front-facing photo."
        )
    cut = float(outside_picture(lm, rgb.shape).mean())
    if cut > MAX_CUT:
        raise FaceCutError(
            f"The face is cut by the photo's edge ({cut:.0%} of it is outside); {CUT_ADVICE}."
        )
    if cut > CUT_NOTICE:
        notices.append(
            f"The face is cut by the photo's edge ({cut:.0%} of it is outside); the missing "
            "part is filled in from the photo and the head turns less toward that side."
        )
    width = float(lm[:468, 0].max() - lm[:468, 0].min())
    if width < MIN_FACE_WIDTH:
        raise FaceTooSmallError(
            f"The face is only {width:.0f} pixels wide; it must be at least {MIN_FACE_WIDTH} "
            "pixels wide (use a larger or closer photo)."
        )
    yaw, pitch, roll = estimate_pose(lm)
    if check_pose and (abs(yaw) > MAX_YAW or abs(pitch) > MAX_PITCH):
        raise ExtremePoseError(
            f"The head is turned too far from the camera (yaw {yaw:.0f}°, pitch {pitch:.0f}°); "
            f"use a photo within {MAX_YAW:.0f}° of frontal"
            + (
                f", or choose another of its {len(boxes)} faces with --face-index."
                if len(boxes) > 1
                else "."
            )
        )
    return FaceRig(
        image=rgb,
        landmarks=lm,
        face_index=face_index,
        face_boxes=list(boxes),
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        notices=notices,
    )


def _touches_edge(box: tuple[int, int, int, int], shape) -> bool:
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    return x0 <= 1 or y0 <= 1 or x1 >= w - 2 or y1 >= h - 2


def _landmark_box(lm: np.ndarray) -> tuple[int, int, int, int]:
    return (
        int(lm[:, 0].min()),
        int(lm[:, 1].min()),
        int(math.ceil(lm[:, 0].max())),
        int(math.ceil(lm[:, 1].max())),
    )
