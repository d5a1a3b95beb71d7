"""What the page shows as soon as a portrait or a voice-over is given, before Generate.

The detected faces boxed and numbered with the chosen one outlined, warnings
about a small face or a turned head, and the voice-over's length against the
app's limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avatar.errors import AvatarError, ImageError
from avatar.webapp.limits import MAX_AUDIO_SECONDS
from avatar.webapp.messages import AUDIO_UNREADABLE, GENERIC_ERROR, for_web, user_message
from avatar.webapp.rigs import RigCache

log = logging.getLogger(__name__)


PREVIEW_SIDE = 640


_CHOSEN = (46, 204, 113)


_OTHER = (255, 159, 26)


_BAD = (231, 76, 60)


SMALL_FACE_PX = 110  # below this a 512 crop enlarges the face more than 2x and looks soft


TURNED_YAW = 25.0


TURNED_PITCH = 20.0


@dataclass
class PortraitPreview:
    """What the page shows about an uploaded portrait."""

    image: np.ndarray | None
    message: str
    face_choices: list[tuple[str, int]] = field(default_factory=list)
    face_index: int = 0
    ok: bool = True

    @property
    def several_faces(self) -> bool:
        return len(self.face_choices) > 1


def face_choices(n_faces: int) -> list[tuple[str, int]]:
    """Dropdown entries: ``("Face 1 (largest)", 0)``, ``("Face 2", 1)``, ..."""
    return [(f"Face {i + 1}" + (" (largest)" if i == 0 else ""), i) for i in range(n_faces)]


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def draw_face_preview(
    image: np.ndarray,
    boxes: list[tuple[int, int, int, int]],
    chosen: int = 0,
    landmarks: np.ndarray | None = None,
    *,
    chosen_ok: bool = True,
    max_side: int = PREVIEW_SIDE,
) -> np.ndarray:
    """A downscaled copy of ``image`` with every face boxed and numbered, the chosen one
    outlined (eyes, brows, lips, face oval) in green, or red when it cannot be used."""
    from PIL import Image, ImageDraw

    from avatar.face import regions as R

    h, w = image.shape[:2]
    s = min(1.0, max_side / max(h, w))
    pil = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    if s < 1.0:
        pil = pil.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)
    draw = ImageDraw.Draw(pil)
    lw = max(2, round(max(pil.size) / 200))
    font = _font(max(14, round(max(pil.size) / 16)))
    order = [i for i in range(len(boxes)) if i != chosen] + (
        [chosen] if chosen < len(boxes) else []
    )
    for i in order:
        x0, y0, x1, y1 = (v * s for v in boxes[i])
        colour = (_CHOSEN if chosen_ok else _BAD) if i == chosen else _OTHER
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=lw if i != chosen else lw + 1)
        if len(boxes) < 2:
            continue
        label = str(i + 1)
        tx0, ty0, tx1, ty1 = draw.textbbox((0, 0), label, font=font)
        tw, th = tx1 - tx0, ty1 - ty0
        pad = max(2, lw)
        ly = y0 - th - 2 * pad if y0 - th - 2 * pad >= 0 else y0
        draw.rectangle((x0, ly, x0 + tw + 2 * pad, ly + th + 2 * pad), fill=colour)
        draw.text((x0 + pad - tx0, ly + pad - ty0), label, fill=(255, 255, 255), font=font)
    if landmarks is not None and chosen_ok:
        pts = np.asarray(landmarks)[:, :2] * s
        contours = [
            list(R.FACE_OVAL) + [R.FACE_OVAL[0]],
            list(R.RIGHT_EYE_CONTOUR) + [int(R.RIGHT_EYE_CONTOUR[0])],
            list(R.LEFT_EYE_CONTOUR) + [int(R.LEFT_EYE_CONTOUR[0])],
            list(R.MOUTH_OUTER_CONTOUR) + [int(R.MOUTH_OUTER_CONTOUR[0])],
            list(R.RIGHT_BROW),
            list(R.LEFT_BROW),
        ]
        thin = max(1, lw // 2)
        for idx in contours:
            draw.line([tuple(map(float, pts[int(j)])) for j in idx], fill=_CHOSEN, width=thin)
    return np.asarray(pil)


def describe_rig(rig, chosen: int = 0) -> str:
    """Markdown: what was found, and warnings about a small face, a turned head or several faces."""
    lines: list[str] = []
    width = rig.face_width
    n = rig.n_faces
    turned = abs(rig.yaw) > TURNED_YAW or abs(rig.pitch) > TURNED_PITCH
    if not turned and width >= SMALL_FACE_PX:
        lines.append(f"**Face found:** {width:.0f} px wide, facing the camera.")
    else:
        lines.append(f"**Face found:** {width:.0f} px wide.")
    if width < SMALL_FACE_PX:
        lines.append(
            f"**Small face:** only {width:.0f} px wide, so the video will look soft. "
            "A closer or larger photo gives a sharper result."
        )
    if turned:
        lines.append(
            f"**Turned head:** {abs(rig.yaw):.0f}° sideways, {abs(rig.pitch):.0f}° up or down; "
            "the animation looks best on a photo that faces the camera."
        )
    if n > 1:
        lines.append(
            f"**Several faces:** {n} found; animating face {chosen + 1}. Choose another in the Face menu."
        )
    for notice in rig.notices:
        if "faces; animating face" not in notice:
            lines.append(f"**Note:** {for_web(notice)}")
    return "\n\n".join(lines)


def preview_portrait(
    path: str | Path | None, face_index: int | None, cache: RigCache
) -> PortraitPreview:
    """Analyse (or fetch from ``cache``) the portrait at ``path`` and describe it for the page."""
    if not path:
        return PortraitPreview(None, "", [], 0, ok=False)
    chosen = int(face_index or 0)
    try:
        rig = cache.get(path, chosen)
    except AvatarError as exc:
        return _preview_failure(path, chosen, exc)
    except Exception as exc:  # noqa: BLE001 - the preview never raises a traceback at the user
        log.error("face preview failed", exc_info=exc)
        return PortraitPreview(
            None, f"**Cannot use this photo:** {GENERIC_ERROR}", [], chosen, ok=False
        )
    image = draw_face_preview(rig.image, rig.face_boxes, rig.face_index, rig.landmarks)
    return PortraitPreview(
        image, describe_rig(rig, rig.face_index), face_choices(rig.n_faces), rig.face_index, ok=True
    )


def _preview_failure(path, chosen: int, exc: AvatarError) -> PortraitPreview:
    """Still show the faces that were found (e.g. the largest face is turned away: pick another)."""
    message = f"**Cannot use this photo:** {user_message(exc)}"
    if not isinstance(exc, ImageError) or type(exc) is ImageError:  # unreadable: nothing to draw
        return PortraitPreview(None, message, [], chosen, ok=False)
    try:
        from avatar.face import detect_faces, load_image

        image = load_image(path)
        boxes = detect_faces(image)
    except Exception:  # noqa: BLE001
        return PortraitPreview(None, message, [], chosen, ok=False)
    if not boxes:
        return PortraitPreview(image_preview(image), message, [], chosen, ok=False)
    if len(boxes) > 1 and "Face menu" not in message:
        message += f"\n\n**Several faces:** {len(boxes)} found; choose another in the Face menu."
    preview = draw_face_preview(image, boxes, min(chosen, len(boxes) - 1), chosen_ok=False)
    return PortraitPreview(preview, message, face_choices(len(boxes)), chosen, ok=False)


def image_preview(image: np.ndarray, max_side: int = PREVIEW_SIDE) -> np.ndarray:
    return draw_face_preview(image, [], 0, max_side=max_side)


def audio_duration(path: str | Path) -> float | None:
    """Duration from the container header (instant), or None when the header has none."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            streams = [s for s in container.streams if s.type == "audio"]
            if not streams:
                return None
            st = streams[0]
            if st.duration is not None and st.time_base is not None:
                return float(st.duration * st.time_base)
            if container.duration is not None:
                return container.duration / 1_000_000.0
    except Exception:  # noqa: BLE001 - the full decoder says what is wrong
        return None
    return None


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s"


def describe_audio(path: str | Path | None, max_seconds: float = MAX_AUDIO_SECONDS) -> str:
    """Markdown line: the voice-over's duration, or why it cannot be used."""
    if not path:
        return ""
    seconds = audio_duration(path)
    if seconds is None:
        from avatar.audio import load_audio

        try:
            seconds = load_audio(path, max_seconds=max_seconds).duration
        except AvatarError as exc:
            return f"**Cannot use this voice-over:** {user_message(exc)}"
        except Exception as exc:  # noqa: BLE001
            log.error("reading the voice-over failed", exc_info=exc)
            return f"**Cannot use this voice-over:** {AUDIO_UNREADABLE}"
    if seconds > max_seconds + 1.0:
        return (
            f"**Too long:** the voice-over is {format_duration(seconds)}; this app takes up to "
            f"{format_duration(max_seconds)} (use a shorter clip)."
        )
    if seconds < 0.2:
        return "**Too short:** the voice-over is under 0.2 s; record or upload a longer one."
    return f"**Voice-over:** {format_duration(seconds)}"
