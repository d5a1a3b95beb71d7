"""Refine stage: frames + speech -> frames with a Wav2Lip-synced mouth (optional).

Importing this package is cheap and does not need PyTorch; ``create_refiner``
imports it (``pip install -e ".[refine]"``) and loads the model.

    refiner = create_refiner("wav2lip_gan", speech.samples, fps)        # downloaded weights
    refiner = create_refiner("wav2lip", speech.samples, fps, checkpoint="wav2lip.pth")
    for frame, landmarks in frames:
        for out in refiner.push(frame, landmarks):
            writer.write(out)
    for out in refiner.flush():
        writer.write(out)
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from avatar.errors import ModelError
from avatar.optional_deps import require_torch as require_torch_for

if TYPE_CHECKING:
    import numpy as np

    from avatar.refine.wav2lip import Wav2LipEngine, Wav2LipRefiner

#: ``--refine`` values and the registered weights each uses by default.
REFINERS = {"wav2lip": "wav2lip", "wav2lip_gan": "wav2lip_gan"}
#: ``--wav2lip-boxes`` values: our landmarks' boxes, or face-alignment's S3FD detections.
FACE_BOXES = ("landmarks", "sfd")


def require_torch() -> None:
    """One sentence instead of an ImportError when PyTorch is missing."""
    require_torch_for("Wav2Lip refinement")


def checkpoint_path(kind: str, checkpoint: str | os.PathLike[str] | None = None) -> Path:
    """The weights file for ``--refine kind``: ``checkpoint`` if given, else the download."""
    from avatar.weights import resolve

    if kind not in REFINERS:
        raise ModelError(f"Unknown refiner '{kind}'; use one of {', '.join(REFINERS)}.")
    return resolve(REFINERS[kind], checkpoint)


@functools.lru_cache(maxsize=2)
def _engine(
    path: str, mtime: float, size: int, device: str | None, precision: str, name: str | None
):
    from avatar.refine.checkpoint import load_wav2lip
    from avatar.refine.wav2lip import Wav2LipEngine

    return Wav2LipEngine(load_wav2lip(path, name=name), device=device, precision=precision)


def load_engine(
    kind: str,
    checkpoint: str | os.PathLike[str] | None = None,
    *,
    device: str | None = None,
    precision: str = "auto",
) -> Wav2LipEngine:
    """The batched inference engine for ``kind`` (cached: a second video reuses it)."""
    require_torch()
    path = checkpoint_path(kind, checkpoint).resolve()
    st = path.stat()
    name = REFINERS[kind] if checkpoint is None else None
    return _engine(str(path), st.st_mtime, st.st_size, device, precision, name)


def create_refiner(
    kind: str,
    samples: np.ndarray,
    fps: float,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    device: str | None = None,
    precision: str = "auto",
    batch_size: int = 16,
    face_boxes: str = "landmarks",
) -> Wav2LipRefiner:
    """A streaming refiner for one clip of 16 kHz ``samples`` at ``fps``.

    ``face_boxes`` is where each frame's crop comes from: ``"landmarks"`` (our own,
    no extra model) or ``"sfd"`` (face-alignment's S3FD detector, the boxes Wav2Lip
    was trained on; ``pip install -e ".[fan]"``, weights downloaded on first use).
    """
    if face_boxes not in FACE_BOXES:
        raise ModelError(
            f"Unknown Wav2Lip face boxes '{face_boxes}'; use one of {', '.join(FACE_BOXES)}."
        )
    boxes = None
    if face_boxes == "sfd":
        from avatar.face.fan import SfdBoxes

        boxes = SfdBoxes.load(device)
    engine = load_engine(kind, checkpoint, device=device, precision=precision)
    from avatar.refine.mel import MelChunks
    from avatar.refine.wav2lip import Wav2LipRefiner

    return Wav2LipRefiner(
        engine, MelChunks.from_samples(samples, fps), batch_size=batch_size, boxes=boxes
    )


__all__ = [
    "FACE_BOXES",
    "REFINERS",
    "checkpoint_path",
    "create_refiner",
    "load_engine",
    "require_torch",
]
