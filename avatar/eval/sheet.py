"""Contact sheet: one PNG grid that shows a talking-head video's telling moments.

Realism is judged by eye, and scrubbing a video for the frame where the mouth is
widest or the head is turned furthest is slow. The frames are picked by *measured*
state, from the independent tracker (:mod:`avatar.eval.tracker`), so the sheet works on
any video (ours, another tool's, a real recording): mouth closed / mid / wide by
mouth-opening percentiles, a blink at the lowest eye openness, and the head at its
most left, most right and most up. With the generator's own :class:`Motion` the same
states can be picked from the commanded channels instead (``pick_from_motion``).

Every tile is a crop around the tracked face at one fixed scale (the median face
width of the video), so tiles compare like for like; the source photo's face can be
put first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avatar.eval.tracker import EvalError, FaceTrack, _open_frames

#: Crop side in face widths (face, hair line, chin and a little neck).
CROP_FACE_WIDTHS = 1.8
TILE_PX = 256
LABEL_PX = 22
COLUMNS = 4
#: Mouth-opening percentiles of the "closed", "mid" and "wide" tiles.
MOUTH_PERCENTILES = {"mouth closed": 5.0, "mouth mid": 50.0, "mouth wide": 97.0}


@dataclass
class SheetPick:
    """One tile: which frame shows which state, and the measured value behind the pick."""

    label: str
    frame: int
    value: float
    unit: str = ""


@dataclass
class SheetResult:
    """What :func:`write_sheet` wrote: the file, its pixel size and the tiles in order."""

    path: Path
    size: tuple[int, int]  # (width, height)
    picks: list[SheetPick]
    notes: list[str]


def _nearest(values: np.ndarray, target: float) -> int:
    d = np.abs(values - target)
    d[~np.isfinite(d)] = np.inf
    return int(np.argmin(d))


def pick_frames(track: FaceTrack) -> list[SheetPick]:
    """The frames of the seven states, from the tracker's measurements (found frames only)."""
    if not track.found.any():
        raise EvalError("The contact sheet needs a face, and the tracker found none in the video.")
    picks: list[SheetPick] = []
    mouth = track.mouth_open
    if np.isfinite(mouth).any():
        for label, q in MOUTH_PERCENTILES.items():
            i = _nearest(mouth, float(np.nanpercentile(mouth, q)))
            picks.append(SheetPick(label, i, float(mouth[i]), "mouth/iod"))
    eye = np.nanmean(np.stack([track.ear_left, track.ear_right]), axis=0)
    if np.isfinite(eye).any():
        i = int(np.nanargmin(eye))
        picks.append(SheetPick("blink", i, float(eye[i]), "EAR"))
    for label, values, sign in (
        ("head left", track.yaw, -1.0),
        ("head right", track.yaw, 1.0),
        ("head up", track.pitch, -1.0),
    ):
        if np.isfinite(values).any():
            i = int(np.nanargmax(sign * values))
            picks.append(SheetPick(label, i, float(values[i]), "deg"))
    return picks


def pick_from_motion(motion, track: FaceTrack | None = None) -> list[SheetPick]:
    """The same states picked from the generator's commanded channels (a ``Motion``).

    The values shown are the commanded ones; frames where the tracker lost the face
    (when ``track`` is given) are avoided so every tile has a face to crop around.
    """
    n = len(motion) if track is None else min(len(motion), track.n_frames)
    ok = np.ones(n, bool) if track is None else track.found[:n].copy()
    if not ok.any():
        raise EvalError("The contact sheet needs a face, and the tracker found none in the video.")

    def masked(x: np.ndarray) -> np.ndarray:
        return np.where(ok, np.asarray(x[:n], np.float64), np.nan)

    jaw = masked(motion["jaw_open"])
    picks = []
    for label, q in MOUTH_PERCENTILES.items():
        i = _nearest(jaw, float(np.nanpercentile(jaw, q)))
        picks.append(SheetPick(label, i, float(jaw[i]), "jaw_open"))
    blink = masked((motion["blink_left"] + motion["blink_right"]) / 2)
    i = int(np.nanargmax(blink))
    picks.append(SheetPick("blink", i, float(blink[i]), "blink"))
    yaw, pitch = masked(motion["yaw"]), masked(motion["pitch"])
    for label, values, sign in (
        ("head left", yaw, -1.0),
        ("head right", yaw, 1.0),
        ("head up", pitch, -1.0),
    ):
        i = int(np.nanargmax(sign * values))
        picks.append(SheetPick(label, i, float(values[i]), "deg cmd"))
    return picks


def load_motion(path: str | Path):
    """A ``Motion`` saved by ``np.savez(path, values=..., fps=...)`` (the benchmark writes these)."""
    from avatar.motion.types import Motion

    path = Path(path)
    if not path.is_file():
        raise EvalError(f"The motion file {path} does not exist.")
    try:
        with np.load(path) as data:
            return Motion(data["values"], float(data["fps"]))
    except (KeyError, ValueError, OSError) as exc:
        raise EvalError(f"The motion file {path} is not a saved Motion (values, fps).") from exc


def save_motion(motion, path: str | Path) -> Path:
    """Write ``motion`` so that :func:`load_motion` (and ``--motion``) can read it."""
    path = Path(path)
    np.savez_compressed(path, values=motion.values, fps=np.float32(motion.fps))
    return path


def _grab_frames(video: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """Decode the video once more and keep only the wanted frames (RGB)."""
    meta, gen = _open_frames(video)
    w, h = (int(v) for v in meta["size"])
    out: dict[int, np.ndarray] = {}
    last = max(wanted)
    try:
        for i, raw in enumerate(gen):
            if i in wanted and len(raw) == w * h * 3:
                out[i] = np.frombuffer(raw, np.uint8).reshape(h, w, 3).copy()
            if i >= last:
                break
    finally:
        gen.close()
    return out


def crop_face(
    image: np.ndarray, center: tuple[float, float], face_width: float, tile: int = TILE_PX
) -> np.ndarray:
    """A square ``tile``-px crop of ``CROP_FACE_WIDTHS`` face widths around ``center``.

    Parts outside the image are grey, so a face at the border stays centred and
    the scale stays the same in every tile.
    """
    side = max(8.0, CROP_FACE_WIDTHS * face_width)
    s = tile / side
    m = np.array([[s, 0, tile / 2 - s * center[0]], [0, s, tile / 2 - s * center[1]]], np.float32)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.warpAffine(
        image, m, (tile, tile), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=(96,) * 3
    )


def _label(tile: np.ndarray, lines: tuple[str, str]) -> np.ndarray:
    strip = np.full((2 * LABEL_PX, tile.shape[1], 3), 255, np.uint8)
    for row, text in enumerate(lines):
        cv2.putText(
            strip,
            text,
            (6, LABEL_PX * row + 16),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 if row == 0 else 0.42,
            (0, 0, 0) if row == 0 else (70, 70, 70),
            1,
            cv2.LINE_AA,
        )
    return np.vstack([tile, strip])


def _source_face(
    source: np.ndarray, track: FaceTrack, ref: int, notes: list[str]
) -> tuple[tuple[float, float], float]:
    """Where the face is in the source photo: mapped from the video when it shows the whole
    photo (same aspect), else found with FaceMesh on the photo itself."""
    sh, sw = source.shape[:2]
    if abs(sw / sh - track.width / track.height) <= 0.01 * (sw / sh):
        k = sw / track.width
        cx, cy = track.center[ref]
        return (float(cx * k), float(cy * k)), float(np.nanmedian(track.face_width) * k)
    import mediapipe as mp

    scale = min(1.0, 1024 / max(sh, sw))
    small = cv2.resize(source, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesh:
        faces = mesh.process(small).multi_face_landmarks
    if not faces:
        notes.append("source tile left out: FaceMesh finds no face in the source photo")
        raise LookupError
    p = np.array([(q.x * sw, q.y * sh) for q in faces[0].landmark])
    lo, hi = p.min(axis=0), p.max(axis=0)
    return (float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2), float(hi[0] - lo[0])


#: Detail tiles: mouth and eye crops, in face widths, and the FaceMesh points they centre on.
MOUTH_FACE_WIDTHS = 0.6
EYES_FACE_WIDTHS = 0.9
_MOUTH_IDS = (13, 14, 61, 291)
_EYES_IDS = (33, 133, 362, 263)


def _landmarks_near(image: np.ndarray, centre, face_width: float) -> np.ndarray | None:
    """FaceMesh landmarks (pixels of ``image``) of the face around ``centre``, or None."""
    import mediapipe as mp

    crop = crop_face(image, centre, face_width * 1.2, tile=384)  # 2.16 fw, face ~180 px
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesh:
        faces = mesh.process(crop).multi_face_landmarks
    if not faces:
        return None
    p = np.array([(q.x, q.y) for q in faces[0].landmark]) * 384
    side = CROP_FACE_WIDTHS * face_width * 1.2
    return (p - 192) * (side / 384) + np.asarray(centre, np.float64)


def write_details(
    video: str | Path,
    track: FaceTrack,
    picks: list[SheetPick],
    out: str | Path,
    *,
    source: str | Path | np.ndarray | None = None,
    tile: int = TILE_PX,
) -> Path | None:
    """Close-ups where realism fails first: the mouth (source, closed, mid, wide) and the
    eyes (source, blink). Each crop is centred on FaceMesh points of that very frame.
    None when no crop could be made (no face found on the picked frames)."""
    from avatar.eval.metrics import _load_source

    video, out = Path(video), Path(out)
    by_label = {p.label: p for p in picks}
    frames = _grab_frames(video, {p.frame for p in picks})
    fw = float(np.nanmedian(track.face_width))
    tiles: list[np.ndarray] = []

    def add(image, centre, fw_img: float, label: str, ids, widths: float) -> None:
        lm = _landmarks_near(image, centre, fw_img)
        if lm is None:
            return
        c = lm[list(ids)].mean(axis=0)
        crop = crop_face(
            image, (float(c[0]), float(c[1])), widths * fw_img / CROP_FACE_WIDTHS, tile
        )
        tiles.append(_label(crop, (label, "")))

    src_img = None
    if source is not None:
        src_img = _load_source(source)
        try:
            src_centre, src_fw = _source_face(
                src_img, track, int(np.flatnonzero(track.found)[0]), []
            )
        except LookupError:
            src_img = None
    rows = (
        (("mouth closed", "mouth mid", "mouth wide"), _MOUTH_IDS, MOUTH_FACE_WIDTHS, "mouth"),
        (("blink",), _EYES_IDS, EYES_FACE_WIDTHS, "eyes"),
    )
    for labels, ids, widths, part in rows:
        if src_img is not None:
            add(src_img, src_centre, src_fw, f"source {part}", ids, widths)
        for label in labels:
            p = by_label.get(label)
            if p is None or p.frame not in frames or not track.found[p.frame]:
                continue
            centre = tuple(track.center[p.frame])
            add(frames[p.frame], centre, fw, f"{label} f{p.frame}", ids, widths)
    if not tiles:
        return None
    _grid(tiles, out, None)
    return out


def _grid(tiles: list[np.ndarray], out: Path, title: str | None) -> tuple[int, int]:
    cols = min(COLUMNS, len(tiles))
    rows = -(-len(tiles) // cols)
    th, tw = tiles[0].shape[:2]
    head = 26 if title else 0
    sheet = np.full((head + rows * (th + 4) + 4, cols * (tw + 4) + 4, 3), 40, np.uint8)
    if title:
        cv2.putText(
            sheet, title, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (235,) * 3, 1, cv2.LINE_AA
        )
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        y, x = head + 4 + r * (th + 4), 4 + c * (tw + 4)
        sheet[y : y + th, x : x + tw] = t
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise EvalError(f"The contact sheet {out} cannot be written (folder or file type).")
    return sheet.shape[1], sheet.shape[0]


def write_sheet(
    video: str | Path,
    track: FaceTrack,
    out: str | Path,
    *,
    source: str | Path | np.ndarray | None = None,
    motion=None,
    title: str | None = None,
    tile: int = TILE_PX,
) -> SheetResult:
    """Write the contact sheet of ``video`` (already tracked as ``track``) to ``out`` (PNG/JPEG).

    ``source`` adds the source photo's face as the first tile; ``motion`` picks the
    frames from the generator's channels instead of the tracker's measurements.
    """
    from avatar.eval.metrics import _load_source

    video, out = Path(video), Path(out)
    notes: list[str] = []
    picks = pick_from_motion(motion, track) if motion is not None else pick_frames(track)
    frames = _grab_frames(video, {p.frame for p in picks})
    scale_fw = float(np.nanmedian(track.face_width))
    fps = track.fps if track.fps > 0 else 25.0
    tiles: list[np.ndarray] = []
    if source is not None:
        img = _load_source(source)
        ref = int(np.flatnonzero(track.found)[0])
        try:
            centre, fw = _source_face(img, track, ref, notes)
        except LookupError:
            pass
        else:
            # Same on-screen scale as the video tiles: the photo's face width in video pixels.
            tiles.append(_label(crop_face(img, centre, fw, tile), ("source photo", "")))
    for p in picks:
        frame = frames.get(p.frame)
        if frame is None:
            notes.append(f"{p.label}: frame {p.frame} could not be decoded again")
            continue
        centre = track.center[p.frame]
        if not np.all(np.isfinite(centre)):
            centre = np.nanmedian(track.center, axis=0)
        crop = crop_face(frame, (float(centre[0]), float(centre[1])), scale_fw, tile)
        value = f"{p.value:+.1f}" if p.unit.startswith("deg") else f"{p.value:.3f}"
        text = (p.label, f"f{p.frame} {p.frame / fps:.2f}s  {value} {p.unit}")
        tiles.append(_label(crop, text))
    if not tiles:
        raise EvalError(f"No frame of {video} could be put on the contact sheet.")
    size = _grid(tiles, out, title)
    return SheetResult(out, size, picks, notes)
