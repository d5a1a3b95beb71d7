"""The ``neural`` renderer: LivePortrait-compatible networks driven by our Motion.

Same interface as ``WarpRenderer`` (``render(frame) -> RGB uint8``,
``output_size``, ``last_landmarks``) plus ``render_batch(frames)``, which the
pipeline uses to run several frames per network call.

Per portrait (once): the reference's face crop from our landmarks, the
appearance volume F(crop) and the motion extractor's keypoints M(crop).
Per frame: Motion row -> driving keypoints (CPU, microseconds), then the
warping network and the SPADE generator, then paste-back into the photo
under a feathered mask, so everything outside the face crop stays put.

On CUDA the networks run under fp16/bf16 autocast, the generator in
channels-last, optionally ``torch.compile``d; ``offload=True`` keeps each
network on the CPU and moves it to the GPU only while it runs (for small
GPUs). On CPU it works, slowly, and says so once in ``notices``.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from avatar.errors import ModelError
from avatar.face.rig import FaceRig
from avatar.optional_deps import require_torch as require_torch_for

# avatar.render.liveportrait imports torch: it is imported inside the functions, so this
# module (and the app's feature check) loads without PyTorch installed.

log = logging.getLogger(__name__)

CPU_NOTICE = (
    "The photoreal renderer is running on the CPU, which takes seconds per frame; "
    "a CUDA GPU renders it in real time."
)


def liveportrait_dir(explicit: str | Path | None = None) -> Path:
    """The folder holding the five LivePortrait files (``avatar.weights``); never downloads.

    Checks for PyTorch first, so every way this cannot work is one sentence.
    """
    require_torch()
    from avatar import weights

    return weights.liveportrait_dir(explicit)


def require_torch() -> None:
    """One sentence instead of an ImportError when PyTorch is missing."""
    require_torch_for("The photoreal renderer")


def neural_unavailable(weights_dir: str | Path | None = None) -> str | None:
    """None when the photoreal renderer can run here on a GPU, else one sentence why not."""
    try:
        liveportrait_dir(weights_dir)  # first: it needs no PyTorch import
    except ModelError as exc:
        return str(exc)
    import torch

    if not torch.cuda.is_available():
        return "The photoreal renderer needs a CUDA GPU, and this server has none."
    return None


def head_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """3x3 rotation in our image axes (x right, y down, z toward the camera), degrees.

    Positive yaw turns the face to the viewer's right, positive pitch tilts the
    chin down, positive roll turns it clockwise (``avatar.motion.types``).
    """
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


class NeuralRenderer:
    """Animates one portrait with the LivePortrait warping network and generator.

    ``size=None`` renders the full photo at its native resolution; an integer
    renders a square face crop of that many pixels (the warp renderer's
    framing). ``grid_max`` is accepted for interface compatibility and unused.
    ``models`` (a ``LivePortraitModels``) skips loading; otherwise the weights
    come from ``weights_dir`` or the weights cache.
    """

    name = "neural"

    def __init__(
        self,
        rig: FaceRig,
        size: int | None = None,
        grid_max: int | None = None,
        *,
        models=None,
        weights_dir: str | Path | None = None,
        device=None,
        dtype=None,
        batch: int = 8,
        compile: bool = False,
        offload: bool = False,
    ) -> None:
        import torch

        from avatar.render.liveportrait.checkpoint import load_liveportrait
        from avatar.render.liveportrait.crop import (
            PasteBack,
            compose,
            crop_image,
            face_crop,
            network_input,
            output_frame,
        )
        from avatar.render.liveportrait.driving import MotionDriver, SourceKeypoints
        from avatar.render.liveportrait.keypoints import (
            decode_motion,
            eye_open_ratios,
            lip_open_ratio,
        )

        self._torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.notices: list[str] = []
        if self.device.type == "cpu":
            self.notices.append(CPU_NOTICE)
            log.info(CPU_NOTICE)
        self.dtype = _compute_dtype(torch, self.device, dtype)
        self.batch = max(1, int(batch))
        self.offload = bool(offload) and self.device.type != "cpu"
        if models is None:
            models = load_liveportrait(liveportrait_dir(weights_dir), device="cpu")
        self.models = models
        home = torch.device("cpu") if self.offload else self.device
        for _, module in models.named_modules():
            module.to(home).eval()
        if self.device.type == "cuda":
            models.generator.to(memory_format=torch.channels_last)
        self._warp, self._generate = models.warping, models.generator
        if compile:
            self._warp = torch.compile(models.warping)
            self._generate = torch.compile(models.generator)

        # Framing: the picture shown, the reference's crop, and the paste-back between them.
        self.canvas, to_out = output_frame(rig.image, rig.crop_box(), size)
        self.crop = face_crop(rig.landmarks)
        self.paste = PasteBack(self.canvas, compose(to_out, self.crop.c2o), self.crop.dsize)
        self._to_out = to_out

        # The source, once: appearance volume and keypoints of the 256 crop.
        x = torch.from_numpy(network_input(crop_image(rig.image, self.crop))).to(self.device)
        with torch.no_grad(), self._autocast():
            with self._running(models.appearance):
                feature = models.appearance(x)
            with self._running(models.motion):
                raw = models.motion(x)
        self.feature = feature.float()
        info = decode_motion({k: v.detach().float().cpu() for k, v in raw.items()})
        x_s = info.keypoints()
        self.source = SourceKeypoints(
            info=info,
            x_s=x_s,
            eye_ratios=torch.from_numpy(eye_open_ratios(rig.landmarks))[None],
            lip_ratio=torch.tensor([[lip_open_ratio(rig.landmarks)]], dtype=torch.float32),
            face_width=rig.face_width / self.crop.pixels_per_unit,
        )
        self.driver = MotionDriver(
            self.source, stitching=models.stitching, eye=models.eye, lip=models.lip
        )
        self._x_s = x_s.to(self.device)

        # Landmarks for the Wav2Lip pass: our rig moved rigidly with the head.
        self._lm = rig.landmarks.astype(np.float64)
        cx, cy = rig.centre
        self._pivot = np.array([cx, cy, 0.0])
        self._face_width = float(rig.face_width)
        #: (478, 3) landmarks of the last rendered frame, in output-frame pixels.
        self.last_landmarks: np.ndarray | None = None
        #: The same for each frame of the last ``render_batch`` call.
        self.landmarks_batch: list[np.ndarray] = []

    @property
    def output_size(self) -> tuple[int, int]:
        h, w = self.canvas.shape[:2]
        return w, h

    def render(self, frame: np.ndarray) -> np.ndarray:
        """One RGB uint8 frame for one Motion row."""
        return self.render_batch(np.asarray(frame)[None])[0]

    def render_batch(self, frames: np.ndarray) -> list[np.ndarray]:
        """RGB uint8 frames for (N, D) Motion rows, ``batch`` at a time through the networks."""
        torch = self._torch
        rows = np.atleast_2d(np.asarray(frames, dtype=np.float32))
        x_d_all = self.driver(rows)
        out: list[np.ndarray] = []
        for i in range(0, len(rows), self.batch):
            x_d = x_d_all[i : i + self.batch].to(self.device)
            n = x_d.shape[0]
            with torch.no_grad(), self._autocast():
                feature = self.feature.expand(n, *self.feature.shape[1:])
                with self._running(self.models.warping):
                    warped = self._warp(
                        feature, kp_driving=x_d, kp_source=self._x_s.expand(n, -1, -1)
                    )
                hidden = warped["out"]
                if self.device.type == "cuda":
                    hidden = hidden.contiguous(memory_format=torch.channels_last)
                with self._running(self.models.generator):
                    image = self._generate(hidden)
            pixels = (image.float().clamp(0, 1) * 255).round().to(torch.uint8)
            for generated in pixels.permute(0, 2, 3, 1).cpu().numpy():
                out.append(self.paste(np.ascontiguousarray(generated)))
        self.landmarks_batch = [self.project_landmarks(r) for r in rows]
        self.last_landmarks = self.landmarks_batch[-1] if self.landmarks_batch else None
        return out

    def project_landmarks(self, row: np.ndarray) -> np.ndarray:
        """Our (478, 3) landmarks moved by the row's head pose, in output-frame pixels.

        A rigid approximation (the mouth and lids keep their source shape): it
        is what the Wav2Lip pass needs to find the face box without detection.
        """
        from avatar.motion.types import CHANNEL_INDEX as C

        rot = head_rotation(row[C["yaw"]], row[C["pitch"]], row[C["roll"]])
        p = (self._lm - self._pivot) @ rot.T * (1 + float(row[C["scale"]]))
        p[:, 0] += self._pivot[0] + row[C["tx"]] * self._face_width
        p[:, 1] += self._pivot[1] + row[C["ty"]] * self._face_width
        a = self._to_out
        xy = p[:, :2] @ a[:, :2].T + a[:, 2]
        return np.column_stack([xy, p[:, 2] * a[0, 0]])

    # ----------------------------------------------------------------- devices

    def _autocast(self):
        torch = self._torch
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    @contextlib.contextmanager
    def _running(self, module) -> Iterator[None]:
        """With ``offload``: the module on the GPU only for the duration of its call."""
        if not self.offload:
            yield
            return
        module.to(self.device)
        try:
            yield
        finally:
            module.to("cpu")


def _compute_dtype(torch, device, dtype):
    """float32 on CPU unless asked; on CUDA bf16 where supported, else fp16."""
    if isinstance(dtype, str):
        names = {"fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
                 "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
                 "fp32": torch.float32, "float32": torch.float32}  # fmt: skip
        if dtype not in names:
            raise ModelError(f"Unknown precision '{dtype}'; use fp16, bf16 or fp32.")
        dtype = names[dtype]
    if dtype is not None:
        return dtype
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32
