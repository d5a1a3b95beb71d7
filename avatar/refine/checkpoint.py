"""Read Wav2Lip generator checkpoints in every form they are found in.

* the reference's training checkpoint: a dict with ``state_dict``,
  ``optimizer`` (Adam state), ``global_step`` and ``global_epoch``;
* a bare state dict;
* keys with or without DataParallel's ``module.`` prefix;
* the legacy (PyTorch < 1.6, non-zip) pickle format the released files use,
  and the current zip format.

Files are read with ``torch.load(weights_only=True)``, which refuses pickled
code. A file that needs the full unpickler is loaded only when its sha256 is
one of the registered, known-good downloads. Anything wrong with the file
(missing, empty, truncated, not a checkpoint, another model's weights) is a
``ModelError`` with one sentence.
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from avatar.errors import ModelError
from avatar.refine.wav2lip_model import Wav2Lip, Wav2LipDims

log = logging.getLogger(__name__)

PREFIX = "module."


def _fix(name: str | None) -> str:
    """What to do about a damaged file: re-download a registered one, else use another."""
    if name:
        return f"download it again with `avatar weights download {name} --force`"
    return "use an intact copy or the download (`avatar weights download wav2lip`)"


def _describe(path: Path) -> str:
    return f"The Wav2Lip checkpoint '{path}'"


def _torch_load(path: Path, weights_only: bool):
    return torch.load(path, map_location="cpu", weights_only=weights_only)


def read_checkpoint(path: str | Path, *, name: str | None = None) -> dict[str, torch.Tensor]:
    """The generator's state dict from ``path``, with any ``module.`` prefixes removed.

    ``name`` is the registered weights the file was downloaded as, if any (for the
    error message's advice).
    """
    fix = _fix(name)
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"{_describe(path)} does not exist.")
    if path.stat().st_size == 0:
        raise ModelError(f"{_describe(path)} is empty; {fix}.")
    try:
        obj = _torch_load(path, weights_only=True)
    except pickle.UnpicklingError as exc:
        # "Unsupported global": a well-formed pickle that names classes beyond tensors and
        # containers. Anything else (bad opcode, invalid load key, ...) is a damaged file.
        if "unsupported global" not in str(exc).lower():
            raise ModelError(f"{_describe(path)} is corrupt or not a PyTorch file; {fix}.") from exc
        obj = _load_trusted(path, exc, fix)
    except (EOFError, RuntimeError, ValueError, OSError, zipfile.BadZipFile, KeyError) as exc:
        raise ModelError(f"{_describe(path)} is truncated or corrupt; {fix}.") from exc
    except Exception as exc:  # any other unpickling failure is still a bad file, not a bug
        raise ModelError(f"{_describe(path)} is truncated or corrupt; {fix}.") from exc
    return _state_dict_of(obj, path)


def _load_trusted(path: Path, cause: Exception, fix: str):
    """Full unpickling, only for files whose sha256 is a registered download."""
    from avatar.weights import REGISTRY, sha256_file

    digest = sha256_file(path)
    if not any(spec.sha256 == digest for spec in REGISTRY.values()):
        raise ModelError(
            f"{_describe(path)} contains Python objects besides weights, so it was not "
            "loaded for safety; re-save it as a plain state dict or use the official file."
        ) from cause
    log.info("%s is a registered download (sha256 %s); loading it fully", path, digest[:12])
    try:
        return _torch_load(path, weights_only=False)
    except Exception as exc:
        raise ModelError(f"{_describe(path)} is truncated or corrupt; {fix}.") from exc


def _state_dict_of(obj, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping) and "state_dict" in obj:
        obj = obj["state_dict"]
    elif isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not obj:
        raise ModelError(f"{_describe(path)} does not contain model weights.")
    state: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ModelError(f"{_describe(path)} does not contain model weights.")
        while key.startswith(PREFIX):
            key = key[len(PREFIX) :]
        state[key] = value
    return state


def _kind_of(keys: set[str]) -> str | None:
    """What a foreign checkpoint most likely is, for the error message."""
    if any(k.startswith("binary_pred.") for k in keys):
        return "the visual quality discriminator (used only for training)"
    if any(k.startswith("face_encoder.") for k in keys) and not any(
        k.startswith("face_decoder_blocks.") for k in keys
    ):
        return "the lip-sync expert discriminator (used only for training)"
    if any(k.startswith("netcnnaud.") for k in keys):
        return "the SyncNet evaluation model"
    return None


def load_state_into(model: Wav2Lip, state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Strict load with a one-sentence diagnosis of any mismatch."""
    expected = model.state_dict()
    given = set(state)
    state = dict(state)
    # Some conversions drop the batch-norm counters; they do not affect inference.
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        kind = _kind_of(given)
        if kind is not None:
            raise ModelError(f"{_describe(path)} is {kind}, not the Wav2Lip generator.")
        raise ModelError(
            f"{_describe(path)} is not a 96×96 Wav2Lip generator ({len(missing)} weights "
            f"missing, {len(unexpected)} unexpected; higher-resolution variants are not "
            "compatible)."
        )
    bad = [k for k, v in expected.items() if tuple(state[k].shape) != tuple(v.shape)]
    if bad:
        raise ModelError(
            f"{_describe(path)} has weights of the wrong shape (first: {bad[0]} is "
            f"{tuple(state[bad[0]].shape)}, expected {tuple(expected[bad[0]].shape)})."
        )
    non_finite = [
        k for k, v in state.items() if v.is_floating_point() and not bool(v.isfinite().all())
    ]
    if non_finite:
        raise ModelError(f"{_describe(path)} contains NaN or infinite weights ({non_finite[0]}).")
    model.load_state_dict(state, strict=True)


def load_wav2lip(
    path: str | Path, *, dims: Wav2LipDims | None = None, name: str | None = None
) -> Wav2Lip:
    """A ``Wav2Lip`` in eval mode on the CPU with the weights in ``path``."""
    path = Path(path).expanduser()
    state = read_checkpoint(path, name=name)
    if dims is None:
        dims = _infer_dims(state)
    model = Wav2Lip(dims)
    load_state_into(model, state, path)
    return model.eval()


def _infer_dims(state: Mapping[str, torch.Tensor]) -> Wav2LipDims:
    """The released widths, or those of a narrower model with the same structure (tests)."""
    w = state.get("face_encoder_blocks.0.0.conv_block.0.weight")
    if w is None or w.shape[0] == 16:
        return Wav2LipDims()
    if tuple(w.shape) == (2, 6, 7, 7):
        return Wav2LipDims.tiny()
    return Wav2LipDims()


def save_wav2lip_checkpoint(
    model: Wav2Lip,
    path: str | Path,
    *,
    legacy: bool = True,
    prefix: str = PREFIX,
    with_optimizer: bool = True,
    global_step: int = 0,
) -> Path:
    """Write ``model`` the way the reference training script does (for tests and tools).

    A dict with ``state_dict`` (keys prefixed by ``prefix``), an Adam
    ``optimizer`` state, ``global_step`` and ``global_epoch``; ``legacy``
    uses the pre-zip serialization of the released files.
    """
    path = Path(path)
    optimizer = None
    if with_optimizer:
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        for p in model.parameters():  # materialise exp_avg / exp_avg_sq like a trained file
            opt.state[p] = {
                "step": torch.tensor(float(global_step)),
                "exp_avg": torch.zeros_like(p),
                "exp_avg_sq": torch.zeros_like(p),
            }
        optimizer = opt.state_dict()
    payload = {
        "state_dict": {prefix + k: v for k, v in model.state_dict().items()},
        "optimizer": optimizer,
        "global_step": int(global_step),
        "global_epoch": int(global_step // 1000),
    }
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    return path
