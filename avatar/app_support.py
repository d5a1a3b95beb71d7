"""Helpers for the Gradio web app (``app.py``), kept out of the UI file so they can be tested.

``app.py`` only lays out widgets and wires events; everything it does with
them lives here: turning widget values into ``GenerationSettings``, the face
preview, the motion plot, per-request work folders, the rig cache, progress
and cancellation, feature detection (Wav2Lip, TTS) and turning any exception
into one sentence a user understands.

Nothing here imports gradio at module level, so the helpers work (and are
tested) without it; ``to_gr_error`` imports it when called.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import importlib
import importlib.util
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avatar.errors import AudioError, AvatarError, ImageError
from avatar.settings import PRESETS, GenerationSettings

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

# --------------------------------------------------------------------------- limits and choices


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


#: Longest voice-over the web app accepts (seconds); the CLI allows 10 minutes.
MAX_AUDIO_SECONDS = _env_float("AVATAR_APP_MAX_AUDIO_SECONDS", 300.0)
#: Largest upload gradio accepts, in its own size syntax.
MAX_FILE_SIZE = os.environ.get("AVATAR_APP_MAX_FILE_SIZE", "100mb")
#: Requests waiting in the queue before new ones are turned away.
QUEUE_SIZE = int(_env_float("AVATAR_APP_QUEUE_SIZE", 16))

PRESET_CHOICES = [
    ("Fast", "fast"),
    ("Balanced", "balanced"),
    ("Quality", "quality"),
]
FRAMINGS: dict[str, int | None] = {
    "Face crop 512 × 512": 512,
    "Face crop 768 × 768": 768,
    "Full photo": None,
}
DEFAULT_FRAMING = "Face crop 512 × 512"
FPS_CHOICES = [24, 25, 30]
MAX_SEED = 2**31 - 1

#: Rough share of the wall time each pipeline stage takes (measured on 2 CPU cores),
#: so one bar moves evenly across the stages.
STAGE_WEIGHTS = {
    "face": 0.05,
    "audio": 0.07,
    "speech": 0.25,
    "motion": 0.03,
    "refine": 0.05,
    "render": 0.60,
}

SMALL_FACE_PX = 110  # below this a 512 crop enlarges the face more than 2x and looks soft
TURNED_YAW = 25.0
TURNED_PITCH = 20.0

GENERIC_ERROR = (
    "Something went wrong while making the video; please try again, "
    "or try another photo or voice-over."
)


def default_concurrency() -> int:
    """Videos rendered at once: one per two CPU cores (renders are CPU-bound)."""
    env = os.environ.get("AVATAR_APP_CONCURRENCY")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    return max(1, (os.cpu_count() or 2) // 2)


# --------------------------------------------------------------------------- messages


class Cancelled(Exception):
    """The user cancelled the request (or left the page) while it ran."""


_WEB_WORDING = (
    (re.compile(r"\s*\((?:change it with )?--max-audio-minutes\)"), " (use a shorter clip)"),
    (
        re.compile(r"\(0 is the largest; choose another with --face-index\)"),
        "(choose another in the Face menu)",
    ),
    (re.compile(r"with --face-index"), "in the Face menu"),
    (re.compile(r"--face-index"), "the Face menu"),
    (re.compile(r", or pass --[a-z0-9-]+ PATH to a copy you already have"), ""),
)


def for_web(message: str) -> str:
    """Reword CLI hints (``--face-index``, ``--max-audio-minutes``) for the web page."""
    for pattern, replacement in _WEB_WORDING:
        message = pattern.sub(replacement, message)
    return message


def user_message(exc: BaseException) -> str:
    """One sentence for the user; never a traceback or an internal detail."""
    if isinstance(exc, AvatarError):
        return for_web(str(exc)) or GENERIC_ERROR
    if isinstance(exc, Cancelled):
        return "The video was cancelled."
    if isinstance(exc, MemoryError):
        return "The photo or voice-over is too large to process here; use a smaller photo or a shorter clip."
    return GENERIC_ERROR


def to_gr_error(exc: BaseException, title: str = "Could not make the video"):
    """The ``gr.Error`` to raise for ``exc``; unexpected errors are logged with their traceback."""
    import gradio as gr

    if isinstance(exc, gr.Error):
        return exc
    expected = isinstance(exc, (AvatarError, Cancelled))
    if not expected:
        log.error("unexpected error in the web app", exc_info=exc)
    return gr.Error(user_message(exc), title=title, print_exception=False)


def guard_preprocess(component, message: str):
    """Make ``component`` answer an input it cannot even open (a text file sent as the
    portrait, say) with ``message`` as a ``gr.Error`` rather than gradio's generic error."""
    import gradio as gr

    original = component.preprocess

    def preprocess(payload):
        try:
            return original(payload)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - every unreadable upload gets the one sentence
            log.info("unreadable upload for %s: %s", type(component).__name__, exc)
            raise gr.Error(message, title="Unreadable file", print_exception=False) from None

    component.preprocess = preprocess
    return component


IMAGE_UNREADABLE = (
    "The portrait is not an image file that can be read; use a photo in jpg, png or webp format."
)
AUDIO_UNREADABLE = (
    "The voice-over is not an audio file that can be read; use wav, mp3, m4a, ogg, opus or flac."
)


# --------------------------------------------------------------------------- settings


def build_settings(
    *,
    preset: str = "balanced",
    framing: str = DEFAULT_FRAMING,
    fps: float | str = 25,
    head_motion: float = 1.0,
    blink_rate: float = 1.0,
    expression: float = 1.0,
    seed: float | int | None = 0,
    face_index: int | str | None = 0,
    refine: bool = False,
    transcript: str | None = None,
    max_audio_seconds: float = MAX_AUDIO_SECONDS,
    motion: str | None = None,
    renderer: str | None = None,
) -> GenerationSettings:
    """``GenerationSettings`` from the widgets' values (which arrive as floats, strings or None)."""
    if preset not in PRESETS:
        raise AvatarError(f"Unknown quality preset '{preset}'; use one of {', '.join(PRESETS)}.")
    if framing not in FRAMINGS:
        raise AvatarError(f"Unknown output framing '{framing}'; use one of {', '.join(FRAMINGS)}.")
    try:
        fps_value = float(fps)
    except (TypeError, ValueError):
        raise AvatarError(f"The frame rate must be a number, not '{fps}'.") from None
    seed_value = 0 if seed is None or (isinstance(seed, float) and math.isnan(seed)) else seed
    try:
        seed_int = int(seed_value)
    except (TypeError, ValueError):
        raise AvatarError(f"The seed must be a whole number, not '{seed}'.") from None
    if seed_int != float(seed_value) or not 0 <= seed_int <= MAX_SEED:
        raise AvatarError(f"The seed must be a whole number from 0 to {MAX_SEED}.")
    try:
        face = 0 if face_index in (None, "") else int(face_index)
    except (TypeError, ValueError):
        raise AvatarError(f"The face choice must be a face number, not '{face_index}'.") from None
    if face < 0:
        raise AvatarError("The face number cannot be negative.")
    settings = GenerationSettings(
        fps=fps_value,
        size=FRAMINGS[framing],
        seed=seed_int,
        head_motion=float(head_motion if head_motion is not None else 1.0),
        blink_rate=float(blink_rate if blink_rate is not None else 1.0),
        expression=float(expression if expression is not None else 1.0),
        face_index=face,
        preset=preset,
        transcript=(transcript or "").strip() or None,
        max_audio_seconds=max_audio_seconds,
        **({"motion": motion} if motion else {}),
    )
    if renderer not in (None, "", "warp"):
        if renderer not in dict(RENDERER_CHOICES).values():
            raise AvatarError(f"Unknown renderer '{renderer}'; use warp or neural.")
        status = neural_status()
        if not status.available:
            raise AvatarError(status.reason)
        settings = settings.updated(renderer=renderer)
    if refine:
        status = wav2lip_status()
        if not status.available:
            raise AvatarError(status.reason)
        settings = settings.updated(**_refine_fields(status.kind or "wav2lip"))
    return settings


# --------------------------------------------------------------------------- optional features


@dataclass(frozen=True)
class FeatureStatus:
    available: bool
    reason: str
    kind: str | None = None  # the refiner to ask for (``settings.refine``) when available


#: Refiners in order of preference (the GAN checkpoint gives the sharper mouth).
WAV2LIP_KINDS = ("wav2lip_gan", "wav2lip")
WAV2LIP_FETCH = "avatar weights download wav2lip_gan"


def _refine_fields(kind: str = "wav2lip") -> dict:
    """The settings field that switches Wav2Lip on, or {} when the settings have none."""
    names = {f.name for f in dataclasses.fields(GenerationSettings)}
    return {"refine": kind} if "refine" in names else {}


def _find_spec(name: str):
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def wav2lip_status() -> FeatureStatus:
    """Whether the Wav2Lip mouth pass can run here, and if not, one line saying why.

    Never downloads: weights are only looked up in the local cache
    (``avatar.refine.checkpoint_path``), whose error is the sentence with the
    exact command that fetches them.
    """
    if _find_spec("avatar.refine.wav2lip") is None or not _refine_fields():
        return FeatureStatus(False, "Wav2Lip refinement is not part of this version yet.")
    try:
        refine = importlib.import_module("avatar.refine")
        kinds = [k for k in WAV2LIP_KINDS if k in getattr(refine, "REFINERS", WAV2LIP_KINDS)]
        checkpoint_path = refine.checkpoint_path
    except Exception:  # noqa: BLE001 - a broken optional module must not break the app
        log.warning("avatar.refine failed to import", exc_info=True)
        return FeatureStatus(False, "Wav2Lip refinement could not be loaded on this server.")
    first_error: AvatarError | None = None
    for kind in kinds:
        try:
            checkpoint_path(kind)
        except AvatarError as exc:
            first_error = first_error or exc
            continue
        except Exception:  # noqa: BLE001
            continue
        try:
            require_torch = getattr(refine, "require_torch", None)
            if callable(require_torch):
                require_torch()
        except AvatarError as exc:
            return FeatureStatus(False, for_web(str(exc)))
        return FeatureStatus(True, "Sharpens the mouth with Wav2Lip (slower).", kind)
    if first_error is not None:
        return FeatureStatus(False, for_web(str(first_error)))
    return FeatureStatus(
        False, f"Wav2Lip weights are not downloaded; fetch them with `{WAV2LIP_FETCH}`."
    )


RENDERER_CHOICES = [("Standard (CPU)", "warp"), ("Photoreal (GPU)", "neural")]


def neural_status() -> FeatureStatus:
    """Whether the photoreal (LivePortrait) renderer can run here: CUDA and the weights.

    Never downloads and needs no GPU to answer; the reason is one line for the page.
    """
    try:
        from avatar.render.neural_renderer import neural_unavailable

        reason = neural_unavailable()
    except Exception:  # noqa: BLE001 - a broken optional module must not break the app
        log.warning("the neural renderer check failed", exc_info=True)
        return FeatureStatus(False, "The photoreal renderer could not be loaded on this server.")
    if reason is not None:
        return FeatureStatus(False, for_web(reason))
    return FeatureStatus(True, "Photoreal face with LivePortrait's networks on the GPU.", "neural")


def find_tts() -> Callable | None:
    """The text-to-speech function (``avatar.speech.tts.synthesize``) when it exists, else None."""
    if _find_spec("avatar.speech.tts") is None:
        return None
    try:
        module = importlib.import_module("avatar.speech.tts")
    except Exception:  # noqa: BLE001
        log.warning(
            "avatar.speech.tts failed to import; the script tab stays hidden", exc_info=True
        )
        return None
    synthesize = getattr(module, "synthesize", None)
    if not callable(synthesize):
        return None
    available = getattr(module, "is_available", None)
    if callable(available):
        try:
            if not available():
                return None
        except Exception:  # noqa: BLE001
            return None
    return synthesize


# --------------------------------------------------------------------------- work folders


class WorkDirs:
    """One folder per request under a private root; old ones are swept, all removed at exit."""

    def __init__(self, root: str | Path | None = None, max_age_s: float = 3600.0) -> None:
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="talking-avatar-app-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        atexit.register(self.cleanup_all)

    def new(self, prefix: str = "job-") -> Path:
        self.sweep()
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.root))

    def sweep(self, now: float | None = None) -> int:
        """Remove job folders older than ``max_age_s``; returns how many went."""
        now = time.time() if now is None else now
        removed = 0
        with self._lock:
            for child in self.root.iterdir() if self.root.exists() else ():
                try:
                    if child.is_dir() and now - child.stat().st_mtime > self.max_age_s:
                        shutil.rmtree(child, ignore_errors=True)
                        removed += 1
                except OSError:
                    continue
        return removed

    def discard(self, path: Path) -> None:
        if path.parent == self.root:
            shutil.rmtree(path, ignore_errors=True)

    def cleanup_all(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------- rig cache


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class RigCache:
    """FaceRigs by (content hash, face index), least recently used out first.

    A photo is analysed once, when it is uploaded (for the preview); the
    generation that follows reuses the rig.
    """

    def __init__(self, analyze: Callable | None = None, max_items: int = 8) -> None:
        if analyze is None:
            from avatar.face import analyze_portrait

            analyze = analyze_portrait
        self._analyze = analyze
        self.max_items = max_items
        self._items: OrderedDict[tuple[str, int], object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, path: str | Path, face_index: int = 0):
        try:
            key = (file_digest(path), int(face_index))
        except OSError as exc:
            raise ImageError(
                "The portrait file could not be read; please upload it again."
            ) from exc
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        rig = self._analyze(path, face_index=int(face_index))
        with self._lock:
            self.misses += 1
            self._items[key] = rig
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return rig

    def __len__(self) -> int:
        return len(self._items)


# --------------------------------------------------------------------------- face preview

PREVIEW_SIDE = 640
_CHOSEN = (46, 204, 113)
_OTHER = (255, 159, 26)
_BAD = (231, 76, 60)


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


# --------------------------------------------------------------------------- voice-over


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


# --------------------------------------------------------------------------- progress and cancellation


class CancelFlags:
    """Per-session cancel requests from the Cancel button (thread-safe)."""

    def __init__(self) -> None:
        self._set: set[str] = set()
        self._lock = threading.Lock()

    def request(self, session: str | None) -> None:
        if session:
            with self._lock:
                self._set.add(session)

    def clear(self, session: str | None) -> None:
        if session:
            with self._lock:
                self._set.discard(session)

    def is_set(self, session: str | None) -> bool:
        with self._lock:
            return bool(session) and session in self._set


def gradio_event_cancelled() -> bool:
    """True when the gradio event this thread serves was cancelled or its client left.

    Gradio cancels the asyncio task but cannot stop the worker thread; the
    pipeline's progress callback calls this so the render stops too. Best
    effort: False whenever it cannot tell.
    """
    try:
        from gradio.context import LocalContext

        blocks = LocalContext.blocks.get(None)
        event_id = LocalContext.event_id.get(None)
        if blocks is None or not event_id:
            return False
        queue = getattr(blocks, "_queue", None)
        events = getattr(queue, "event_ids_to_events", None)
        if events is None:
            return False
        return event_id not in events
    except Exception:  # noqa: BLE001
        return False


class ProgressReporter:
    """The pipeline's ``progress(stage, fraction)`` mapped onto one bar that names the stage.

    ``sink(fraction, desc)`` is ``gr.Progress`` (or anything with that call
    signature). The overall fraction never goes backwards. ``cancelled()`` is
    polled on every report; when it says so, ``Cancelled`` is raised, which
    stops the pipeline (the video writer removes its partial file).
    """

    def __init__(
        self,
        sink: Callable | None = None,
        cancelled: Callable[[], bool] | None = None,
        stages: tuple[str, ...] | None = None,
        labels: dict[str, str] | None = None,
        weights: dict[str, float] | None = None,
    ) -> None:
        if stages is None or labels is None:
            from pipelines import talking_portrait as tp

            stages = stages or tp.STAGES
            labels = labels or tp.STAGE_LABELS
        self.stages = tuple(stages)
        self.labels = dict(labels)
        w = weights or STAGE_WEIGHTS
        total = sum(w.get(s, 0.1) for s in self.stages)
        self.weights = {s: w.get(s, 0.1) / total for s in self.stages}
        self.sink = sink
        self.cancelled = cancelled
        self.fraction = 0.0
        self.history: list[tuple[str, float]] = []

    def __call__(self, stage: str, fraction: float) -> None:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled("cancelled")
        if stage not in self.weights:
            return
        i = self.stages.index(stage)
        before = sum(self.weights[s] for s in self.stages[:i])
        overall = before + self.weights[stage] * min(1.0, max(0.0, float(fraction)))
        self.fraction = max(self.fraction, min(1.0, overall))
        desc = f"{self.labels.get(stage, stage)} (step {i + 1} of {len(self.stages)})"
        self.history.append((stage, self.fraction))
        if self.sink is not None:
            self.sink(self.fraction, desc=desc)


# --------------------------------------------------------------------------- motion plot


def envelope_of(speech, fps: float, n_frames: int) -> np.ndarray:
    """Per-frame log-RMS of the voice-over (the lip-sync reference), scaled to 0..1."""
    from avatar.audio.features import interval_log_rms

    env = interval_log_rms(np.asarray(speech.samples), int(speech.sample_rate), fps, n_frames)
    lo, hi = np.percentile(env, 5), np.percentile(env, 98)
    return np.clip((env - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def count_blinks(blink: np.ndarray, threshold: float = 0.5) -> int:
    closed = np.asarray(blink) > threshold
    return int(
        np.count_nonzero(closed[1:] & ~closed[:-1]) + (1 if closed.size and closed[0] else 0)
    )


def motion_figure(motion, envelope: np.ndarray | None = None):
    """A three-panel matplotlib Figure (Agg, no pyplot): mouth vs. loudness, blinks, head pose."""
    from matplotlib.figure import Figure

    fps = float(motion.fps)
    n = len(motion)
    t = np.arange(n) / fps
    fig = Figure(figsize=(8.0, 5.4), dpi=100, layout="constrained")
    axes = fig.subplots(3, 1, sharex=True, height_ratios=(1.3, 0.8, 1.1))

    ax = axes[0]
    mouth = np.asarray(motion["jaw_open"], dtype=np.float64)
    if envelope is not None and len(envelope) == n:
        ax.fill_between(t, 0, envelope, color="#9aa5b1", alpha=0.45, lw=0, label="voice loudness")
        r = _pearson(mouth, envelope)
        title = "Mouth opening vs. voice loudness" + (f"  (r = {r:.2f})" if r is not None else "")
    else:
        title = "Mouth opening"
    ax.plot(t, mouth, color="#d35400", lw=1.4, label="mouth opening")
    ax.set_ylim(0, 1.05)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        borderaxespad=0.1,
        fontsize=8,
        frameon=False,
        ncol=2,
    )

    ax = axes[1]
    blink = (np.asarray(motion["blink_left"]) + np.asarray(motion["blink_right"])) / 2.0
    k = count_blinks(blink)
    per_min = k / max(n / fps, 1e-6) * 60.0
    ax.fill_between(t, 0, blink, color="#2e86de", alpha=0.8, lw=0)
    ax.set_ylim(0, 1.05)
    ax.set_yticks([0, 1], ["open", "shut"])
    ax.set_title(f"Blinks: {k} ({per_min:.0f} per minute)", fontsize=10, loc="left")

    ax = axes[2]
    for name, colour in (("yaw", "#8e44ad"), ("pitch", "#27ae60"), ("roll", "#7f8c8d")):
        ax.plot(t, motion[name], color=colour, lw=1.2, label=name)
    ax.axhline(0, color="#bbbbbb", lw=0.6)
    ax.set_title("Head pose (degrees)", fontsize=10, loc="left")
    ax.legend(
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        borderaxespad=0.1,
        fontsize=8,
        frameon=False,
        ncol=3,
    )
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, max(t[-1] if n else 1.0, 1.0 / fps))
    for a in axes:
        a.tick_params(labelsize=8)
        for side in ("top", "right"):
            a.spines[side].set_visible(False)
    return fig


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.size < 3 or a.std() < 1e-9 or b.std() < 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


# --------------------------------------------------------------------------- generation


@dataclass
class GenerationResult:
    video_path: Path
    figure: object
    summary: str
    notices: list[str]
    duration: float
    size: tuple[int, int]


def output_name(image_path: str | Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(str(image_path)).stem).strip("_")[:40]
    return f"talking_{stem or 'portrait'}.mp4"


def generate_video(
    pipeline,
    image: str | Path | None,
    audio: str | Path | None,
    settings: GenerationSettings,
    *,
    rigs: RigCache,
    workdirs: WorkDirs,
    script: str | None = None,
    tts: Callable | None = None,
    progress: Callable | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> GenerationResult:
    """Run ``pipeline`` for one request in its own folder and make the page's outputs.

    The rig comes from ``rigs`` (usually already analysed for the preview) and
    the voice-over is decoded once here, so the motion plot can show its
    envelope; both are handed to the pipeline, which does the rest.
    """
    from avatar.audio import Speech, load_audio

    if not image:
        raise ImageError(
            "Add a portrait photo first: upload one, take one with the webcam, or pick an example."
        )
    script = (script or "").strip()
    if not audio and not (script and tts is not None):
        raise AudioError("Add a voice-over first: upload a file or record one with the microphone.")
    report = ProgressReporter(progress, cancelled, stages=_stages_for(settings))
    job = workdirs.new()
    try:
        report("face", 0.0)
        rig = rigs.get(image, settings.face_index)
        report("face", 1.0)
        report("audio", 0.0)
        extra = {}
        if audio:
            speech = load_audio(audio, max_seconds=settings.max_audio_seconds)
        else:
            speech = _synthesize(tts, script, settings)
            settings = settings.updated(transcript=settings.transcript or script)
            phones = getattr(speech, "phones", None)  # a TTSResult carries exact timings
            if phones is not None:
                extra["phones"] = phones
            if isinstance(speech, tuple):
                speech = speech[0]
        if not isinstance(speech, Speech):
            speech = load_audio(speech, max_seconds=settings.max_audio_seconds)
        out = pipeline(
            image,
            speech,
            settings,
            output=job / output_name(image),
            progress=report,
            rig=rig,
            **extra,
        )
        envelope = envelope_of(speech, out.fps, out.n_frames)
        figure = motion_figure(out.motion, envelope)
        notices = [for_web(n) for n in out.notices if "faces; animating face" not in n]
        w, h = out.size
        summary = (
            f"**Done:** {w}×{h}, {out.n_frames} frames at {out.fps:g} fps, "
            f"{format_duration(out.audio_duration)}, made in {out.timings.get('total', 0.0):.1f} s."
        )
        if notices:
            summary += "\n\n" + "\n".join(f"- {n}" for n in notices)
        return GenerationResult(
            video_path=Path(out.video_path),
            figure=figure,
            summary=summary,
            notices=notices,
            duration=out.audio_duration,
            size=out.size,
        )
    except BaseException:
        workdirs.discard(job)
        raise


def _stages_for(settings: GenerationSettings) -> tuple[str, ...]:
    """The stages the pipeline will report for ``settings`` (with "refine" when it is on)."""
    from pipelines import talking_portrait as tp

    stages_for = getattr(tp, "stages_for", None)
    return tuple(stages_for(settings)) if callable(stages_for) else tuple(tp.STAGES)


def _synthesize(tts: Callable, script: str, settings: GenerationSettings):
    """Call the TTS hook; it may return ``Speech``, ``(Speech, ...)`` or a file path.

    A ``TTSResult`` (it has ``phones``) is returned whole, for its exact timings.
    """
    try:
        result = tts(script, language=settings.language)
    except AvatarError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise AudioError("The script could not be turned into speech.") from exc
    if isinstance(result, tuple) and not hasattr(result, "phones"):
        result = result[0]
    return result


# --------------------------------------------------------------------------- start-up


def warm_up(rigs: RigCache, example_image: str | Path | None = None) -> float:
    """Load the face and speech models (and cache the example's rig); returns seconds taken."""
    t = time.perf_counter()
    from avatar.audio import Speech
    from avatar.speech import recognize_phones

    image = example_image or (EXAMPLES / "portrait.png")
    try:
        if Path(image).is_file():
            rigs.get(image, 0)
        else:
            from avatar.face import detect_faces

            detect_faces(np.zeros((128, 128, 3), np.uint8))
    except AvatarError:
        pass
    noise = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.05
    recognize_phones(Speech(noise))
    return time.perf_counter() - t


class WarmUp:
    """``warm_up`` in a background thread, started at once; ``wait()`` returns its seconds."""

    def __init__(self, rigs: RigCache, example_image: str | Path | None = None) -> None:
        self.seconds = 0.0
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(rigs, example_image), name="warm-up", daemon=True
        )
        self._thread.start()

    def _run(self, rigs: RigCache, example_image) -> None:
        try:
            self.seconds = warm_up(rigs, example_image)
        except Exception as exc:  # noqa: BLE001 - a failed warm-up only makes the first request slower
            self.error = exc
            log.warning("model warm-up failed: %s", exc)

    def wait(self, timeout: float | None = None) -> float:
        self._thread.join(timeout)
        return self.seconds


def example_files() -> list[list[str]]:
    """The shipped examples as (portrait, voice-over) rows, those that exist."""
    portrait = EXAMPLES / "portrait.png"
    voice = EXAMPLES / "voiceover.flac"
    if portrait.is_file() and voice.is_file():
        return [[str(portrait), str(voice)]]
    return []
