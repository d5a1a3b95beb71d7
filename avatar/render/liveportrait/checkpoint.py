"""Load the released LivePortrait (human) checkpoints into our modules, strictly.

The folder is laid out like the Hugging Face repository KwaiVGI/LivePortrait
(``liveportrait/base_models/*.pth`` and
``liveportrait/retargeting_models/stitching_retargeting_module.pth``). Every
file must match its network key for key and shape for shape: a checkpoint
that half-loads renders plausible-looking garbage, so any mismatch is a
one-sentence ``ModelError`` naming the file instead.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from avatar.errors import ModelError
from avatar.render.liveportrait.appearance import AppearanceFeatureExtractor
from avatar.render.liveportrait.config import LivePortraitDims
from avatar.render.liveportrait.generator import SPADEDecoder, SpectralConv2d
from avatar.render.liveportrait.motion_extractor import MotionExtractor
from avatar.render.liveportrait.retargeting import StitchingRetargetingNetwork
from avatar.render.liveportrait.warping import WarpingNetwork

log = logging.getLogger(__name__)

# role -> path inside the folder (the Hugging Face repository's layout)
FILES: dict[str, str] = {
    "appearance": "liveportrait/base_models/appearance_feature_extractor.pth",
    "motion": "liveportrait/base_models/motion_extractor.pth",
    "warping": "liveportrait/base_models/warping_module.pth",
    "generator": "liveportrait/base_models/spade_generator.pth",
    "retargeting": "liveportrait/retargeting_models/stitching_retargeting_module.pth",
}

# role in LivePortraitModels -> entry of the retargeting file's dict
RETARGETING_ENTRIES: dict[str, str] = {
    "stitching": "retarget_shoulder",
    "lip": "retarget_mouth",
    "eye": "retarget_eye",
}

_FIX = "run `avatar weights download liveportrait` or pass --liveportrait-dir DIR"
# what torch.load raises for truncated, non-zip, non-pickle or unsafe content
_LOAD_ERRORS = (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError)


@dataclass
class LivePortraitModels:
    """The seven networks, in eval mode with gradients off."""

    appearance: AppearanceFeatureExtractor
    motion: MotionExtractor
    warping: WarpingNetwork
    generator: SPADEDecoder
    stitching: StitchingRetargetingNetwork
    eye: StitchingRetargetingNetwork
    lip: StitchingRetargetingNetwork

    def named_modules(self) -> Iterator[tuple[str, nn.Module]]:
        for name in ("appearance", "motion", "warping", "generator", "stitching", "eye", "lip"):
            yield name, getattr(self, name)

    def parameter_count(self) -> int:
        return sum(p.numel() for _, m in self.named_modules() for p in m.parameters())


def build_liveportrait(
    dims: LivePortraitDims | None = None, *, device: str | torch.device | None = None
) -> LivePortraitModels:
    """Randomly initialised networks with the given sizes (eval mode, no gradients).

    ``device="meta"`` allocates nothing: shapes only, for counting or for loading.
    """
    d = dims or LivePortraitDims()
    with torch.device(device) if device is not None else contextlib.nullcontext():
        models = _build(d)
    for _, module in models.named_modules():
        module.eval().requires_grad_(False)
    return models


def _build(d: LivePortraitDims) -> LivePortraitModels:
    return LivePortraitModels(
        appearance=AppearanceFeatureExtractor(d.appearance),
        motion=MotionExtractor(d.motion),
        warping=WarpingNetwork(d.warping),
        generator=SPADEDecoder(d.generator),
        stitching=StitchingRetargetingNetwork(d.stitching),
        eye=StitchingRetargetingNetwork(d.eye),
        lip=StitchingRetargetingNetwork(d.lip),
    )


def load_liveportrait(
    folder: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    dims: LivePortraitDims | None = None,
) -> LivePortraitModels:
    """Build the networks and load the five checkpoint files from ``folder`` strictly.

    ``dims`` defaults to the released sizes; tests pass ``LivePortraitDims.tiny()``
    together with ``write_random_checkpoints``.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ModelError(f"The LivePortrait weights folder '{root}' does not exist; {_FIX}.")
    # Built on the meta device and filled by assignment: no random init of 130 M weights.
    models = build_liveportrait(dims, device="meta")
    for role in ("appearance", "motion", "warping", "generator"):
        state = read_checkpoint(root, FILES[role])
        load_strict(getattr(models, role), state, FILES[role], root)
    bundle = read_checkpoint(root, FILES["retargeting"])
    if not isinstance(bundle, Mapping):
        _mismatch(FILES["retargeting"], root, f"it holds a {type(bundle).__name__}, not a dict")
    for role, entry in RETARGETING_ENTRIES.items():
        if entry not in bundle:
            _mismatch(FILES["retargeting"], root, f"it has no '{entry}' entry")
        load_strict(
            getattr(models, role), strip_ddp_prefix(bundle[entry]), FILES["retargeting"], root
        )
    for _, module in models.named_modules():
        module.to(device=device, dtype=dtype).requires_grad_(False)
    return models


def read_checkpoint(root: Path, relative: str) -> object:
    """``torch.load`` (tensors and dicts only) with one-sentence errors naming the file."""
    path = root / relative
    if not path.is_file():
        raise ModelError(
            f"The LivePortrait weights file {relative} is missing from '{root}'; {_FIX} "
            "holding all five files."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError as exc:
        raise ModelError(
            f"The LivePortrait weights file '{path}' cannot be read ({exc.strerror}); check its "
            "permissions or pass --liveportrait-dir DIR with readable files."
        ) from exc
    except _LOAD_ERRORS as exc:
        raise ModelError(
            f"The LivePortrait weights file '{path}' is corrupt or not a PyTorch checkpoint "
            f"({type(exc).__name__}); download it again with "
            "`avatar weights download liveportrait --force` or pass --liveportrait-dir DIR "
            "with intact files."
        ) from exc


def strip_ddp_prefix(state: object) -> object:
    """Drop the ``module.`` prefix DataParallel put on the retargeting MLPs' keys."""
    if not isinstance(state, Mapping):
        return state
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}


def load_strict(module: nn.Module, state: object, relative: str, root: Path) -> None:
    """Copy ``state`` into ``module``; any missing/unexpected key or shape is a ModelError."""
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        _mismatch(relative, root, f"it holds a {type(state).__name__}, not a state dict")
    state = unfuse_spectral_norm(module, dict(state))
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(_some(missing, "missing key"))
    if unexpected:
        problems.append(_some(unexpected, "unexpected key"))
    if wrong:
        k = wrong[0]
        problems.append(
            f"{len(wrong)} wrong shape{'s' if len(wrong) > 1 else ''}, e.g. {k} is "
            f"{list(state[k].shape)} in the file but {list(expected[k].shape)} in the network"
        )
    if problems:
        _mismatch(relative, root, "; ".join(problems))
    module.load_state_dict(state, strict=True, assign=True)


def unfuse_spectral_norm(module: nn.Module, state: dict[str, torch.Tensor]) -> dict:
    """Accept a re-export that stored spectral-normed convs as a plain ``weight``.

    The official files hold ``weight_orig``/``weight_u``/``weight_v``. A file with
    ``weight`` instead (spectral norm already divided out) is turned back into
    that form with u, v chosen so that u . (W v) = 1, i.e. the same conv.
    """
    converted = []
    for name, sub in module.named_modules():
        if not isinstance(sub, SpectralConv2d):
            continue
        key = f"{name}.weight"
        if key not in state or f"{name}.weight_orig" in state:
            continue
        w = state.pop(key)
        mat = w.flatten(1).double()
        v = mat[mat.norm(dim=1).argmax()]  # a row: W v has a positive entry, so W v != 0
        v = v / v.norm()
        wv = mat @ v
        state[f"{name}.weight_orig"] = w
        state[f"{name}.weight_u"] = (wv / wv.dot(wv)).to(w.dtype)
        state[f"{name}.weight_v"] = v.to(w.dtype)
        converted.append(name)
    if converted:
        log.info("converted %d fused spectral-norm weights to weight_orig/u/v", len(converted))
    return state


def _some(keys: list[str], what: str) -> str:
    shown = ", ".join(keys[:3]) + (", …" if len(keys) > 3 else "")
    return f"{len(keys)} {what}{'s' if len(keys) > 1 else ''} ({shown})"


def _mismatch(relative: str, root: Path, problem: str) -> None:
    raise ModelError(
        f"The LivePortrait weights file {relative} in '{root}' does not fit its network "
        f"({problem}), so it is not an official LivePortrait human checkpoint; {_FIX} with "
        "the official files."
    )
