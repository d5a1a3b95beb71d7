"""Face tracking for evaluation: per-frame mouth, eyes, head pose and stable points.

The evaluation must judge any talking-head video (ours or a real recording) with a
tracker that is not the engine's, so this module runs MediaPipe FaceMesh in video
mode on frames streamed from ffmpeg (never the whole video in memory) and reduces
each frame to a handful of numbers. Everything is NaN where no face was found.

Conventions (degrees; image coordinates, x right, y down):

- yaw   > 0: the face turns towards the viewer's right (nose points to image right);
- pitch > 0: chin down (nose points down);
- roll  > 0: the face rotates clockwise in the image.

Angles are relative to the line of sight, so a face looking into the lens reads
(0, 0, 0) wherever it sits in the frame; the template's zero pitch is set so that the
real GRID speakers (who look into the camera) average zero.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from avatar.errors import AvatarError


class EvalError(AvatarError):
    """A video (or photo) given to ``avatar eval`` cannot be used."""


# Rigid 3-D face template in units of the outer-eye-corner distance (x right, y down,
# z away from the camera), measured with FaceMesh on GRID speakers and symmetrised.
# Only points that do not move with the jaw, lips, lids or brows (none next to the lids).
_TEMPLATE: dict[int, tuple[float, float, float]] = {
    10: (0.0, -0.6643, -0.0240),
    151: (0.0, -0.4828, -0.0776),
    9: (0.0, -0.2872, -0.1233),
    8: (0.0, -0.1876, -0.1152),
    168: (0.0, -0.0994, -0.1148),
    6: (0.0, -0.0108, -0.1693),
    197: (0.0, 0.0715, -0.2302),
    195: (0.0, 0.1489, -0.2966),
    5: (0.0, 0.2325, -0.3646),
    4: (0.0, 0.3356, -0.3978),
    1: (0.0, 0.4163, -0.3792),
    2: (0.0, 0.4978, -0.2100),
    33: (-0.5000, -0.0549, 0.1285),
    263: (0.5000, -0.0549, 0.1285),
    133: (-0.1903, -0.0347, 0.0700),
    362: (0.1903, -0.0347, 0.0700),
    98: (-0.1922, 0.4814, -0.1188),
    327: (0.1922, 0.4814, -0.1188),
    129: (-0.2347, 0.4008, -0.0718),
    358: (0.2347, 0.4008, -0.0718),
    116: (-0.7024, 0.1738, 0.2500),
    345: (0.7024, 0.1738, 0.2500),
    123: (-0.6891, 0.3354, 0.2220),
    352: (0.6891, 0.3354, 0.2220),
    50: (-0.5328, 0.3554, 0.0332),
    280: (0.5328, 0.3554, 0.0332),
    109: (-0.2086, -0.6575, -0.0063),
    338: (0.2086, -0.6575, -0.0063),
    67: (-0.3859, -0.6228, 0.0628),
    297: (0.3859, -0.6228, 0.0628),
    103: (-0.5513, -0.5488, 0.1799),
    332: (0.5513, -0.5488, 0.1799),
    54: (-0.6602, -0.4360, 0.3154),
    284: (0.6602, -0.4360, 0.3154),
    36: (-0.3353, 0.3604, -0.0516),
    266: (0.3353, 0.3604, -0.0516),
    188: (-0.1065, 0.0551, -0.1041),
    412: (0.1065, 0.0551, -0.1041),
    114: (-0.1517, 0.1120, -0.0755),
    343: (0.1517, 0.1120, -0.0755),
}
_POSE_IDS = np.array(list(_TEMPLATE), dtype=np.int64)

#: Landmarks whose frame-to-frame motion should be purely rigid (jitter measure).
STABLE_IDS: tuple[int, ...] = (10, 151, 9, 168, 6, 197, 195, 4, 1, 33, 133, 362, 263, 98, 327, 2)

# The 68-point scheme (iBUG 300-W, FAN's) point by point on the FaceMesh points it
# corresponds to, for the points the measures use; the rigid template is shared, so a
# pose from either tracker is on the same axes.
_FAN_FROM_MESH = {
    27: 168,
    28: 197,
    29: 5,
    30: 4,
    33: 2,  # nose bridge, tip and base (midline)
    36: 33,
    39: 133,
    42: 362,
    45: 263,  # eye corners
}
#: Trackers ``track_video(tracker=...)`` and ``avatar eval --tracker`` accept.
TRACKERS = ("mediapipe", "fan")


@dataclass(frozen=True)
class LandmarkScheme:
    """Which landmark indices each measure reads, for one landmarker's point layout."""

    name: str
    n_face: int  # points of the face itself (the bounding box and the centre)
    lip_pairs: tuple[tuple[int, int], ...]  # inner lips (upper, lower): centre and neighbours
    eye_right: tuple[int, ...]  # EAR points p1..p6 of the subject's right eye (image left)
    eye_left: tuple[int, ...]
    outer_eye_corners: tuple[int, int]
    nose_tip: int
    chin: int
    pose_ids: tuple[int, ...]  # rigid points fitted to the template
    pose_model: np.ndarray  # (len(pose_ids), 3) template coordinates
    stable_ids: tuple[int, ...]  # rigid points for the jitter measure (a subset of pose_ids)

    @property
    def stable_pos(self) -> np.ndarray:
        return np.array([self.pose_ids.index(i) for i in self.stable_ids], np.int64)


MEDIAPIPE = LandmarkScheme(
    name="mediapipe",
    n_face=468,
    lip_pairs=((13, 14), (82, 87), (312, 317)),
    eye_right=(33, 160, 158, 133, 153, 144),
    eye_left=(263, 387, 385, 362, 380, 373),
    outer_eye_corners=(33, 263),
    nose_tip=1,
    chin=152,
    pose_ids=tuple(int(i) for i in _POSE_IDS),
    pose_model=np.array([_TEMPLATE[i] for i in _POSE_IDS], dtype=np.float64),
    stable_ids=STABLE_IDS,
)
FAN68 = LandmarkScheme(
    name="fan",
    n_face=68,
    lip_pairs=((62, 66), (61, 67), (63, 65)),
    eye_right=(36, 37, 38, 39, 40, 41),
    eye_left=(45, 44, 43, 42, 47, 46),
    outer_eye_corners=(36, 45),
    nose_tip=30,
    chin=8,
    pose_ids=tuple(_FAN_FROM_MESH),
    pose_model=np.array([_TEMPLATE[m] for m in _FAN_FROM_MESH.values()], dtype=np.float64),
    stable_ids=tuple(_FAN_FROM_MESH),
)
#: Faces FaceMesh looks for when ``track_video(face_near=...)`` must choose among several.
MAX_FACES_NEAR = 6


@dataclass
class FaceTrack:
    """Per-frame face measurements of one video; NaN where ``found`` is False.

    ``mouth_open`` is the inner-lip gap (mean of three vertical pairs) divided by
    the outer-eye-corner distance, so it does not depend on face size;
    ``jaw_open`` is the nose-tip-to-chin distance on the same scale.
    ``ear_left``/``ear_right`` are eye aspect ratios of the subject's eyes.
    ``center``/``face_width`` are the landmark bounding-box centre and width in
    pixels of the original frame; ``stable`` holds :data:`STABLE_IDS` in pixels and
    ``stable_fit`` the same points of the rigid template placed by the pose fit.
    """

    fps: float
    width: int
    height: int
    found: np.ndarray
    mouth_open: np.ndarray
    jaw_open: np.ndarray
    ear_left: np.ndarray
    ear_right: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    center: np.ndarray
    face_width: np.ndarray
    interocular: np.ndarray
    stable: np.ndarray
    stable_fit: np.ndarray
    processing_fps: float = float("nan")
    stable_ids: tuple[int, ...] = field(default=STABLE_IDS)
    face_height: np.ndarray | None = None  # landmark-box height in pixels (SyncNet crop)
    tracker: str = "mediapipe"  # which landmarker measured it (TRACKERS)

    @property
    def n_frames(self) -> int:
        return int(len(self.found))

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps if self.fps > 0 else float("nan")

    @property
    def found_fraction(self) -> float:
        return float(np.mean(self.found)) if self.n_frames else 0.0


@dataclass
class FrameFace:
    """What the per-frame callback of :func:`track_video` gets to see for one frame."""

    center: tuple[float, float]
    face_width: float


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(math.hypot(a[0] - b[0], a[1] - b[1]))


def _ear(p: np.ndarray, ids: tuple[int, ...]) -> float:
    p1, p2, p3, p4, p5, p6 = (p[i] for i in ids)
    width = _dist(p1, p4)
    if width <= 0:
        return float("nan")
    return (_dist(p2, p6) + _dist(p3, p5)) / (2.0 * width)


def rotation_to_angles(rot: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch, roll in degrees of a template-to-camera rotation matrix.

    Decomposed as R = R_yaw @ R_pitch @ R_roll so that yaw and pitch are read from
    the direction the face points at, and roll is the in-plane rest; signs follow
    the module docstring.
    """
    fwd = -rot[:, 2]  # the face's forward direction (towards the camera at rest)
    yaw = math.atan2(fwd[0], -fwd[2])
    pitch = math.atan2(fwd[1], math.hypot(fwd[0], fwd[2]))
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    # Undo yaw then pitch, leaving the pure in-plane roll.
    r_yaw = np.array([[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]])
    r_pitch = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    rest = (r_yaw @ r_pitch).T @ rot
    roll = math.atan2(rest[1, 0], rest[0, 0])
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def _line_of_sight(t: np.ndarray) -> np.ndarray:
    """Smallest rotation taking the optical axis (0, 0, 1) onto the ray towards ``t``."""
    d = t / np.linalg.norm(t)
    v = np.array([-d[1], d[0], 0.0])  # (0, 0, 1) x d
    s, c = float(np.linalg.norm(v)), float(d[2])
    if s < 1e-12:
        return np.eye(3)
    k = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + k + k @ k * ((1.0 - c) / (s * s))


class _PoseFitter:
    """solvePnP of the rigid template, warm-started from the previous frame."""

    def __init__(self, width: int, height: int, model: np.ndarray) -> None:
        self.model = model
        f = float(max(width, height))
        self.camera = np.array([[f, 0, width / 2.0], [0, f, height / 2.0], [0, 0, 1]], np.float64)
        self.dist = np.zeros(4)
        self.rvec: np.ndarray | None = None
        self.tvec: np.ndarray | None = None

    def reset(self) -> None:
        self.rvec = self.tvec = None

    def fit(self, pts2d: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray]:
        img = np.ascontiguousarray(pts2d, dtype=np.float64)
        if self.rvec is None:
            ok, rvec, tvec = cv2.solvePnP(
                self.model, img, self.camera, self.dist, flags=cv2.SOLVEPNP_SQPNP
            )
        else:
            ok, rvec, tvec = cv2.solvePnP(
                self.model,
                img,
                self.camera,
                self.dist,
                rvec=self.rvec.copy(),
                tvec=self.tvec.copy(),
                useExtrinsicGuess=True,
                flags=cv2.SOLVEPNP_ITERATIVE,
            )
        if not ok or not np.all(np.isfinite(rvec)) or float(tvec[2, 0]) <= 0:
            self.reset()
            nan = float("nan")
            return (nan, nan, nan), np.full((len(self.model), 2), np.nan)
        self.rvec, self.tvec = rvec, tvec
        rot, _ = cv2.Rodrigues(rvec)
        # Measure relative to the line of sight, so that a face looking into the lens
        # reads (0, 0, 0) wherever it sits in the frame (and in any crop of it).
        rot = _line_of_sight(tvec.ravel()).T @ rot
        proj, _ = cv2.projectPoints(self.model, rvec, tvec, self.camera, self.dist)
        return rotation_to_angles(rot), proj.reshape(-1, 2)


def _open_frames(path: Path) -> tuple[dict, Iterator[bytes]]:
    import imageio_ffmpeg

    if not path.is_file():
        raise EvalError(f"The video {path} does not exist.")
    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(gen)
    except (OSError, RuntimeError, StopIteration) as exc:
        gen.close()
        raise EvalError(f"The file {path} is not a readable video.") from exc
    return meta, gen


def _new_face_mesh(max_faces: int = 1):  # -> mediapipe FaceMesh (no public type to name)
    os.environ.setdefault("GLOG_minloglevel", "2")
    import mediapipe as mp

    return mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False,
        max_num_faces=max_faces,
        refine_landmarks=True,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )


class _MeshLandmarks:
    """MediaPipe FaceMesh in video mode: (478, 2) original-frame pixels per frame."""

    scheme = MEDIAPIPE

    def __init__(self, choose_near: bool) -> None:
        self.mesh = _new_face_mesh(MAX_FACES_NEAR if choose_near else 1)

    def __call__(
        self, small: np.ndarray, wh: np.ndarray, near: np.ndarray | None
    ) -> np.ndarray | None:
        faces = self.mesh.process(small).multi_face_landmarks
        if not faces:
            return None
        cands = [np.array([(q.x, q.y) for q in f.landmark], np.float64) * wh for f in faces]
        if near is None:
            return cands[0]
        n = self.scheme.n_face
        return min(cands, key=lambda c: float(np.sum((c[:n].mean(axis=0) - near) ** 2)))

    def close(self) -> None:
        self.mesh.close()


class _FanLandmarks:
    """face-alignment's FAN (68 points), tracked from box to box; original-frame pixels."""

    scheme = FAN68

    def __init__(self, device: str | None = None) -> None:
        from avatar.face.fan import FanLandmarks

        self.fan = FanLandmarks.load(device)

    def __call__(
        self, small: np.ndarray, wh: np.ndarray, near: np.ndarray | None
    ) -> np.ndarray | None:
        import torch

        to_small = small.shape[1] / wh[0]
        with torch.inference_mode():
            lm = self.fan(small, None if near is None else near * to_small)
        return None if lm is None else lm / to_small

    def close(self) -> None:
        self.fan.reset()


def _landmarker(tracker: str, choose_near: bool):
    if tracker == "mediapipe":
        return _MeshLandmarks(choose_near)
    if tracker == "fan":
        return _FanLandmarks()
    raise EvalError(f"Unknown tracker '{tracker}'; use one of {', '.join(TRACKERS)}.")


def _face_box(p: np.ndarray, n_face: int = 468) -> tuple[tuple[float, float], float]:
    """Centre and width of the landmark bounding box (the tracker's face size)."""
    lo, hi = p[:n_face].min(axis=0), p[:n_face].max(axis=0)
    return (float(lo[0] + hi[0]) / 2.0, float(lo[1] + hi[1]) / 2.0), float(hi[0] - lo[0])


def _downscaled(rgb: np.ndarray, max_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / float(max(w, h))) if max_side else 1.0
    if scale >= 1.0:
        return rgb
    small = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, small, interpolation=cv2.INTER_AREA)


def face_in_image(
    rgb: np.ndarray,
    *,
    near: tuple[float, float] | None = None,
    max_side: int = 512,
    tracker: str = "mediapipe",
) -> FrameFace | None:
    """The face a video frame showing ``rgb`` would be tracked as (centre and width as in
    :func:`track_video`), or None: so a photo can be measured the way frames are."""
    h, w = rgb.shape[:2]
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    source = _landmarker(tracker, near is not None)
    target = None if near is None else np.asarray(near, np.float64)
    try:
        p = source(_downscaled(img, max_side), np.array([w, h], np.float64), target)
    finally:
        source.close()
    if p is None:
        return None
    centre, width = _face_box(p, source.scheme.n_face)
    return FrameFace(center=centre, face_width=width)


def track_video(
    path: str | Path,
    *,
    max_side: int = 512,
    max_frames: int | None = None,
    on_frame: Callable[[int, np.ndarray, FrameFace | None], None] | None = None,
    face_near: tuple[float, float] | None = None,
    tracker: str = "mediapipe",
) -> FaceTrack:
    """Track the (single, largest) face through a video, streaming frames from ffmpeg.

    ``tracker`` is ``"mediapipe"`` (FaceMesh, 478 points, the default) or ``"fan"``
    (face-alignment's FAN, 68 points: the field's usual lip-sync landmarks; it needs
    ``pip install -e ".[fan]"`` and downloads its weights on first use). Both give the
    same measures, read off corresponding points.

    ``face_near`` (x, y in frame pixels) picks, in a video with several faces, the one
    nearest that point and then follows it (FaceMesh alone keeps whichever face it
    found first, which need not be the animated one).

    Frames whose longer side exceeds ``max_side`` are downscaled for FaceMesh only
    (it works on a 192-px crop anyway); all outputs are in original-frame pixels.
    ``on_frame(index, rgb_frame, face_or_None)`` lets callers measure something on
    full-resolution frames during the same single pass, so nothing is held.
    """
    path = Path(path)
    meta, gen = _open_frames(path)
    width, height = (int(v) for v in meta["size"])
    fps = float(meta.get("fps") or 0.0)
    if width <= 0 or height <= 0:
        gen.close()
        raise EvalError(f"The file {path} has no video stream.")
    frame_bytes = width * height * 3
    try:
        source = _landmarker(tracker, face_near is not None)
    except BaseException:
        gen.close()
        raise
    sc = source.scheme
    pose = _PoseFitter(width, height, sc.pose_model)
    pose_ids = np.array(sc.pose_ids, np.int64)
    stable_pos = sc.stable_pos
    n_pose = len(pose_ids)

    rows: dict[str, list] = {
        k: [] for k in ("found", "mouth", "jaw", "earl", "earr", "ypr", "center", "fw", "fh", "io")
    }
    stable: list[np.ndarray] = []
    stable_fit: list[np.ndarray] = []
    nan2 = np.full((len(sc.stable_ids), 2), np.nan, np.float32)
    wh = np.array([width, height], np.float64)

    near = None if face_near is None else np.asarray(face_near, np.float64)
    t1 = time.perf_counter()  # reset after the first frame, which loads the models
    try:
        for index, raw in enumerate(gen):
            if max_frames is not None and index >= max_frames:
                break
            if len(raw) != frame_bytes:
                break
            if index == 1:
                t1 = time.perf_counter()
            frame = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
            p = source(_downscaled(frame, max_side), wh, near)
            if p is None:
                pose.reset()
                rows["found"].append(False)
                for k in ("mouth", "jaw", "earl", "earr", "fw", "fh", "io"):
                    rows[k].append(np.nan)
                rows["ypr"].append((np.nan, np.nan, np.nan))
                rows["center"].append((np.nan, np.nan))
                stable.append(nan2)
                stable_fit.append(nan2)
                if on_frame is not None:
                    on_frame(index, frame, None)
                continue
            if near is not None:
                near = p[: sc.n_face].mean(axis=0)
            io = _dist(p[sc.outer_eye_corners[0]], p[sc.outer_eye_corners[1]])
            gap = np.mean([_dist(p[a], p[b]) for a, b in sc.lip_pairs])
            lo, hi = p[: sc.n_face].min(axis=0), p[: sc.n_face].max(axis=0)
            center, fw = _face_box(p, sc.n_face)
            angles, proj = pose.fit(p[pose_ids])
            rows["found"].append(True)
            rows["mouth"].append(gap / io if io > 0 else np.nan)
            rows["jaw"].append(_dist(p[sc.nose_tip], p[sc.chin]) / io if io > 0 else np.nan)
            rows["earl"].append(_ear(p, sc.eye_left))
            rows["earr"].append(_ear(p, sc.eye_right))
            rows["ypr"].append(angles)
            rows["center"].append(center)
            rows["fw"].append(fw)
            rows["fh"].append(float(hi[1] - lo[1]))
            rows["io"].append(io)
            stable.append(p[pose_ids[stable_pos]].astype(np.float32))
            stable_fit.append(proj[stable_pos].astype(np.float32) if len(proj) == n_pose else nan2)
            if on_frame is not None:
                on_frame(index, frame, FrameFace(center=center, face_width=fw))
    finally:
        gen.close()
        source.close()
    elapsed = time.perf_counter() - t1
    n = len(rows["found"])
    ypr = np.asarray(rows["ypr"], np.float64).reshape(n, 3)
    k = len(sc.stable_ids)
    return FaceTrack(
        fps=fps,
        width=width,
        height=height,
        found=np.asarray(rows["found"], bool),
        mouth_open=np.asarray(rows["mouth"], np.float64),
        jaw_open=np.asarray(rows["jaw"], np.float64),
        ear_left=np.asarray(rows["earl"], np.float64),
        ear_right=np.asarray(rows["earr"], np.float64),
        yaw=ypr[:, 0],
        pitch=ypr[:, 1],
        roll=ypr[:, 2],
        center=np.asarray(rows["center"], np.float64).reshape(n, 2),
        face_width=np.asarray(rows["fw"], np.float64),
        interocular=np.asarray(rows["io"], np.float64),
        stable=np.asarray(stable, np.float32).reshape(n, k, 2),
        stable_fit=np.asarray(stable_fit, np.float32).reshape(n, k, 2),
        processing_fps=(n - 1) / elapsed if n > 1 and elapsed > 0 else float("nan"),
        face_height=np.asarray(rows["fh"], np.float64),
        stable_ids=sc.stable_ids,
        tracker=sc.name,
    )


def audio_offset_s(path: str | Path) -> float:
    """Where frame 0 lies on the decoded audio's clock, in seconds (frame t: + t/fps).

    ffmpeg decodes the frames on the file's timeline (a video stream that starts late
    is padded with repeats of its first frame), while decoded audio begins with the
    audio stream's first sample, so the offset is the file's start minus the audio
    stream's start. Read from the container header (PyAV, nothing decoded); 0 when
    unknown.
    """
    try:
        import av

        with av.open(str(path), metadata_errors="ignore") as container:
            audio = container.streams.audio[0] if container.streams.audio else None
            if audio is None or audio.start_time is None or container.start_time is None:
                return 0.0
            return float(container.start_time) / 1e6 - float(audio.start_time * audio.time_base)
    except Exception:  # alignment is best effort: no shift when the header is unreadable
        return 0.0
