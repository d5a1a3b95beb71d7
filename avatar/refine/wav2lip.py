"""The Wav2Lip refinement pass: a streaming stage from (frame, landmarks) to frame.

Frames arrive one at a time (from the renderer, or decoded from a video);
each is queued with its 478 landmarks, and the queue is run through the
model in batches, so memory stays flat however long the audio is. Refined
frames come back in order from ``push`` and ``flush``.

Per frame:

* **box** from our own landmarks, no extra detector: the face oval's width,
  from mid-forehead to the chin, like the S3FD boxes Wav2Lip was trained on,
  padded at the bottom as the reference does (its default 10 px, here a
  fraction of the box so it scales with resolution), and smoothed over ±2
  frames (centred, so it does not lag a moving head; a jump such as a scene
  cut is not averaged across). With ``boxes=SfdBoxes`` (``--wav2lip-boxes
  sfd``) the box is S3FD's own, found around our landmarks, padded and
  smoothed the same way;
* **model input** exactly as the reference prepares it: the crop resized to
  96×96 (bilinear), BGR, /255, the lower half zeroed in the first three
  channels, the unmasked crop as the reference in the last three; the mel
  window of ``avatar.refine.mel``;
* **paste-back**, where the reference hard-pastes a bilinear upscale: the
  96×96 result is upscaled (bicubic), its colour matched to the frame by a
  smooth low-frequency correction measured on the skin around the mouth, the
  frame's own fine texture restored outside the mouth (the model cannot
  produce detail finer than 96 px), and blended in through a feathered
  lower-face mask that is zero at the crop border, so neither the box nor a
  seam shows.

Frames without landmarks (no face) pass through untouched.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from avatar.face import regions as R
from avatar.refine.mel import MelChunks
from avatar.refine.wav2lip_model import Wav2Lip

log = logging.getLogger(__name__)

IMG = 96
BOTTOM_PAD = 0.05  # of the box height: the reference's 10 px on a typical 200 px face box
SMOOTH_RADIUS = 2  # frames each side (the reference averages 5 boxes)
MIN_BOX = 24  # pixels; smaller faces pass through
LOWER_OVAL = np.array(R.FACE_OVAL)
BROWS = np.array(R.RIGHT_BROW + R.LEFT_BROW)
MOUTH = R.MOUTH_OUTER_CONTOUR
NOSE_BOTTOM = 2  # mediapipe: the point under the nose tip
#: bf16 is used on the CPU only if, on the first batch, it stays this close to fp32 (0..1 scale)
BF16_MAX_DIFF = 6 / 255
BF16_P999_DIFF = 2 / 255


def face_box(landmarks: np.ndarray, frame_shape: tuple[int, ...]) -> np.ndarray | None:
    """(x0, y0, x1, y1) float crop box for one face, or None when it is too small or off-frame."""
    xy = np.asarray(landmarks, dtype=np.float64)[:, :2]
    if xy.shape[0] < R.N_MESH or not np.all(np.isfinite(xy)):
        return None
    oval = xy[LOWER_OVAL]
    brow = float(xy[BROWS, 1].min())
    forehead = float(xy[R.FOREHEAD, 1])
    chin = float(xy[R.CHIN, 1])
    x0, x1 = float(oval[:, 0].min()), float(oval[:, 0].max())
    y0 = brow - 0.5 * max(0.0, brow - forehead)  # mid-forehead, where S3FD boxes start
    y1 = chin
    y1 += BOTTOM_PAD * (y1 - y0)
    h, w = frame_shape[:2]
    box = np.array([max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)])
    if box[2] - box[0] < MIN_BOX or box[3] - box[1] < MIN_BOX:
        return None
    return box


def smooth_boxes(boxes: list[np.ndarray | None], centre: int) -> np.ndarray | None:
    """Mean of the boxes around ``centre`` that belong to the same face (no jump between them)."""
    own = boxes[centre]
    if own is None:
        return None
    size = max(own[2] - own[0], own[3] - own[1])
    c_own = (own[:2] + own[2:]) / 2
    picked = [
        b
        for b in boxes
        if b is not None and np.linalg.norm((b[:2] + b[2:]) / 2 - c_own) <= 0.25 * size
    ]
    return np.mean(picked, axis=0)


@dataclass
class RefineStats:
    frames: int = 0
    refined: int = 0
    passed_through: int = 0
    model_seconds: float = 0.0
    total_seconds: float = 0.0
    precision: str = ""
    device: str = ""
    bf16_max_diff: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.total_seconds if self.total_seconds > 0 else 0.0


class Wav2LipEngine:
    """Batched inference on the CPU or a GPU: fused batch-norms, channels-last, inference mode.

    ``precision``: ``"fp32"``; ``"bf16"`` (CPU with native bf16, e.g. AMX or
    AVX512-BF16: about 3× faster); ``"fp16"`` (CUDA); ``"auto"``: on a CPU
    with native bf16, bf16 if on the first batch it stays within
    ``BF16_MAX_DIFF`` of fp32 (else fp32); fp32 elsewhere.
    """

    def __init__(
        self,
        model: Wav2Lip,
        *,
        device: str | torch.device | None = None,
        precision: str = "auto",
    ) -> None:
        if precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be auto, fp32, bf16 or fp16, not {precision!r}")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        fused = model.fused().to(self.device).to(memory_format=torch.channels_last)
        self.model32 = fused
        self.model_lp: Wav2Lip | None = None
        self.bf16_max_diff: float | None = None
        cpu = self.device.type == "cpu"
        if precision == "auto":
            precision = "bf16?" if cpu and _native_bf16() else "fp32"
        if precision == "fp16" and cpu:
            raise ValueError("fp16 needs a GPU; use bf16 or fp32 on the CPU")
        if precision in ("bf16", "bf16?"):
            self.model_lp = _copy_to(fused, torch.bfloat16)
        elif precision == "fp16":
            self.model_lp = _copy_to(fused, torch.float16)
        self.precision = precision
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    @torch.inference_mode()
    def __call__(self, mels: np.ndarray, faces_bgr: np.ndarray) -> np.ndarray:
        """(N, 1, 80, 16) float32 mels + (N, 96, 96, 3) uint8 BGR crops -> (N, 96, 96, 3) float32 BGR 0..255."""
        audio = torch.from_numpy(np.ascontiguousarray(mels, dtype=np.float32)).to(self.device)
        pix = torch.from_numpy(np.ascontiguousarray(faces_bgr)).to(self.device)
        ref = pix.permute(0, 3, 1, 2).float().div_(255.0)  # (N, 3, 96, 96)
        masked = ref.clone()
        masked[:, :, IMG // 2 :] = 0.0
        face = torch.cat([masked, ref], dim=1).contiguous(memory_format=torch.channels_last)
        if self.precision == "bf16?":
            out = self._calibrate(audio, face)
        elif self.model_lp is not None:
            dtype = next(self.model_lp.parameters()).dtype
            out = self.model_lp(audio.to(dtype), face.to(dtype)).float()
        else:
            out = self.model32(audio, face)
        return out.mul_(255.0).permute(0, 2, 3, 1).contiguous().cpu().numpy()

    def _calibrate(self, audio: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        """First batch: keep bf16 only if it reproduces fp32 closely on these very inputs."""
        exact = self.model32(audio, face)
        assert self.model_lp is not None
        low = self.model_lp(audio.bfloat16(), face.bfloat16()).float()
        diff = (low - exact).abs().flatten()
        worst = float(diff.max())
        p999 = float(diff.kthvalue(max(1, int(0.999 * diff.numel()))).values)
        self.bf16_max_diff = worst
        if worst <= BF16_MAX_DIFF and p999 <= BF16_P999_DIFF:
            self.precision = "bf16"
        else:
            log.info("bf16 differs from fp32 by up to %.4f; staying in fp32", worst)
            self.precision = "fp32"
            self.model_lp = None
        return exact


def _native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and bool(
            torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
        )
    except (AttributeError, RuntimeError):
        return False


def _copy_to(model: Wav2Lip, dtype: torch.dtype) -> Wav2Lip:
    import copy

    return copy.deepcopy(model).to(dtype)


@dataclass
class _Item:
    index: int
    frame: np.ndarray
    landmarks: np.ndarray | None
    box: np.ndarray | None


class Wav2LipRefiner:
    """Streaming refinement of one clip: ``push`` frames in order, ``flush`` at the end.

    >>> refiner = Wav2LipRefiner(engine, MelChunks.from_samples(speech.samples, fps))
    >>> for frame, landmarks in frames:
    ...     for out in refiner.push(frame, landmarks):
    ...         writer.write(out)
    >>> for out in refiner.flush():
    ...     writer.write(out)

    ``push`` copies the frame (renderers reuse their buffer), so callers may
    overwrite it afterwards. At most ``batch_size + 2`` frames are held.
    """

    def __init__(
        self,
        engine: Wav2LipEngine,
        mels: MelChunks,
        *,
        batch_size: int = 16,
        smooth: bool = True,
        boxes: Callable[[np.ndarray, np.ndarray | None], np.ndarray | None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.engine = engine
        self.mels = mels
        self.batch_size = batch_size
        self.radius = SMOOTH_RADIUS if smooth else 0
        self.boxes = boxes  # (frame, landmarks) -> detector box; None: from the landmarks
        self._pending: deque[_Item] = deque()
        self._recent: deque[_Item] = deque(maxlen=SMOOTH_RADIUS)
        self._next = 0
        self.stats = RefineStats(device=str(engine.device))
        self._t0: float | None = None

    def push(self, frame: np.ndarray, landmarks: np.ndarray | None) -> list[np.ndarray]:
        """Queue one RGB uint8 frame with its (478, 2|3) landmarks in frame pixels (or None)."""
        if self._t0 is None:
            self._t0 = time.perf_counter()
        frame = np.array(frame, dtype=np.uint8, copy=True)
        lm = None if landmarks is None else np.asarray(landmarks, dtype=np.float64)
        box = None
        if lm is not None:
            box = face_box(lm, frame.shape) if self.boxes is None else self._detected(frame, lm)
        self._pending.append(_Item(self._next, frame, lm, box))
        self._next += 1
        if len(self._pending) >= self.batch_size + self.radius:
            return self._run(self.batch_size)
        return []

    def flush(self) -> list[np.ndarray]:
        """Refine and return everything still queued."""
        out: list[np.ndarray] = []
        while self._pending:
            out += self._run(min(self.batch_size, len(self._pending)))
        if self._t0 is not None:
            self.stats.total_seconds += time.perf_counter() - self._t0
            self._t0 = None
        self.stats.precision = self.engine.precision
        self.stats.bf16_max_diff = self.engine.bf16_max_diff
        return out

    def refine(
        self, frames: Iterable[tuple[np.ndarray, np.ndarray | None]]
    ) -> Iterator[np.ndarray]:
        """Generator form: (frame, landmarks) pairs in, refined frames out, in order."""
        for frame, landmarks in frames:
            yield from self.push(frame, landmarks)
        yield from self.flush()

    # -- internals ---------------------------------------------------------------------

    def _detected(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
        """The detector's box with the same bottom pad as landmark boxes (the reference's)."""
        box = self.boxes(frame, landmarks)
        if box is None or box[2] - box[0] < MIN_BOX or box[3] - box[1] < MIN_BOX:
            return None
        box = np.asarray(box[:4], np.float64).copy()
        box[3] = min(float(frame.shape[0]), box[3] + BOTTOM_PAD * (box[3] - box[1]))
        return box

    def _run(self, n: int) -> list[np.ndarray]:
        items = [self._pending.popleft() for _ in range(n)]
        context = list(self._recent) + items + list(self._pending)[: self.radius]
        offset = len(self._recent)
        raw = [it.box for it in context]
        work: list[tuple[_Item, tuple[int, int, int, int]]] = []
        for k, item in enumerate(items):
            pos = offset + k
            lo, hi = max(0, pos - self.radius), min(len(raw), pos + self.radius + 1)
            box = smooth_boxes(raw[lo:hi], pos - lo)
            if box is not None:
                x0, y0, x1, y1 = (int(round(v)) for v in box)
                if x1 - x0 >= MIN_BOX and y1 - y0 >= MIN_BOX:
                    work.append((item, (x0, y0, x1, y1)))
        for item in items:
            self._recent.append(item)
        if work:
            crops = np.stack(
                [
                    cv2.resize(
                        np.ascontiguousarray(it.frame[y0:y1, x0:x1, ::-1]),
                        (IMG, IMG),
                        interpolation=cv2.INTER_LINEAR,
                    )
                    for it, (x0, y0, x1, y1) in work
                ]
            )
            mels = self.mels.batch([it.index for it, _ in work])
            t = time.perf_counter()
            preds = self.engine(mels, crops)
            self.stats.model_seconds += time.perf_counter() - t
            for (item, box), pred, crop in zip(work, preds, crops):
                paste_back(item.frame, box, pred, crop, item.landmarks)
        self.stats.frames += len(items)
        self.stats.refined += len(work)
        self.stats.passed_through += len(items) - len(work)
        return [it.frame for it in items]


def _disc(radius: float) -> np.ndarray:
    r = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _hull_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1.0, lineType=cv2.LINE_AA)
    return mask


def blend_mask(landmarks_crop: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Feathered lower-face mask (h, w) in [0, 1] for a crop; exactly 0 along the crop border."""
    w, h = size
    xy = landmarks_crop[:, :2]
    oval = xy[LOWER_OVAL].copy()
    cut = float(xy[NOSE_BOTTOM, 1])  # the model regenerates from about the nose down
    oval[:, 1] = np.maximum(oval[:, 1], cut)
    centre = oval.mean(0)
    oval = centre + (oval - centre) * np.array([0.92, 1.0])
    chin = oval[:, 1] > centre[1]
    oval[chin, 1] += 0.04 * h  # cover the jaw's travel below the still chin
    feather = max(3.0, 0.1 * w)
    mask = _hull_mask(oval, (h, w))
    mask = cv2.GaussianBlur(mask, (0, 0), feather / 2.5)
    # Taper to zero at the crop border: the box itself never shows.
    ramp_x = np.clip(np.minimum(np.arange(w), w - 1 - np.arange(w)) / feather, 0, 1)
    ramp_y = np.clip(np.minimum(np.arange(h), h - 1 - np.arange(h)) / feather, 0, 1)
    return mask * np.outer(ramp_y, ramp_x).astype(np.float32)


def colour_correction(
    generated: np.ndarray, original: np.ndarray, landmarks96: np.ndarray
) -> np.ndarray:
    """(96, 96, 3) smooth offset that brings the generated face's colour to the original's.

    Measured on the skin of the lower face, away from the mouth (which is
    meant to differ), and spread smoothly; where there is no skin nearby the
    mean offset is used.
    """
    xy = landmarks96[:, :2]
    skin = _hull_mask(xy[LOWER_OVAL], (IMG, IMG))
    mouth = _hull_mask(xy[MOUTH], (IMG, IMG))
    mouth = cv2.dilate(mouth, np.ones((9, 9), np.uint8))
    weight = skin * (1.0 - mouth)
    diff = original.astype(np.float32) - generated
    total = float(weight.sum())
    if total < 20:
        return np.zeros_like(generated)
    mean = (diff * weight[..., None]).sum((0, 1)) / total
    sigma = 12.0
    num = cv2.GaussianBlur(diff * weight[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    k = 0.05
    return ((num + k * mean) / (den + k)).astype(np.float32)


def paste_back(
    frame: np.ndarray,
    box: tuple[int, int, int, int],
    pred_bgr: np.ndarray,
    crop96_bgr: np.ndarray,
    landmarks: np.ndarray | None,
) -> None:
    """Blend one 96×96 prediction (float BGR 0..255) into ``frame`` (RGB uint8) in place."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if landmarks is None:
        return
    lm_crop = landmarks[:, :2] - (x0, y0)
    lm96 = lm_crop * (IMG / w, IMG / h)
    gen = pred_bgr + colour_correction(pred_bgr, crop96_bgr, lm96)
    gen = cv2.resize(gen, (w, h), interpolation=cv2.INTER_CUBIC)[..., ::-1]
    region = frame[y0:y1, x0:x1]
    orig = region.astype(np.float32)
    # The 96×96 result lacks the frame's fine texture (skin, stubble): put the frame's own
    # detail above the model's resolution back everywhere but on the mouth, which is new.
    detail = orig - cv2.GaussianBlur(orig, (0, 0), max(0.8, 0.9 * w / IMG))
    mouth = _hull_mask(lm_crop[MOUTH], (h, w))
    mouth = cv2.GaussianBlur(cv2.dilate(mouth, _disc(0.06 * w)), (0, 0), 0.03 * w + 0.5)
    gen = gen + detail * (1.0 - mouth)[..., None]
    mask = blend_mask(lm_crop, (w, h))[..., None]
    out = orig + mask * (gen - orig)
    region[:] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
