"""Registry of the weights that cannot ship in the repository, and how to get them.

Each entry names a file on the Hugging Face Hub (repository, path, revision),
its sha256 and size, its licence and what uses it. Files are downloaded with
``huggingface_hub`` into the standard Hugging Face cache (``HF_HOME`` /
``HF_HUB_CACHE`` are respected, read when called), checked against their
sha256, and never copied into the repository. ``HF_HUB_OFFLINE=1`` turns
every download into the one-sentence ``MissingWeightsError``.

Nothing downloads implicitly: the licence has to be accepted first, so the
pipeline only *resolves* weights (``resolve``) and, when they are missing,
tells the user the exact command (``avatar weights download NAME``) or the
manual alternative (e.g. ``--wav2lip-checkpoint PATH``).

    avatar weights list
    avatar weights download wav2lip_gan [--accept-license]
    avatar weights download liveportrait     # a group: all five LivePortrait files
    avatar weights verify [NAME]
    avatar weights path NAME
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from avatar.errors import AvatarError, ModelError

log = logging.getLogger(__name__)

__all__ = [
    "GROUPS",
    "REGISTRY",
    "LicenseNotAcceptedError",
    "MissingWeightsError",
    "WeightSpec",
    "cache_dir",
    "cached_path",
    "download",
    "get_spec",
    "is_offline",
    "resolve",
    "sha256_file",
    "status",
    "verify",
]

_TRUE = {"1", "ON", "YES", "TRUE"}


@dataclass(frozen=True)
class WeightSpec:
    """One downloadable file."""

    name: str  # registry key and CLI name
    title: str  # what the user calls it, e.g. "Wav2Lip GAN"
    repo_id: str  # Hugging Face model repository
    filename: str  # path inside the repository
    revision: str  # branch, tag or commit the download is pinned to
    sha256: str  # the file's content hash: a download must match it
    size: int | None  # bytes, when known
    license: str  # short licence statement, shown in ``list``
    license_text: str  # shown (and accepted) before the first download
    source: str  # where the weights come from originally
    used_by: str  # which feature needs them
    manual_option: str | None = None  # CLI option that takes a local file instead

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}/blob/{self.revision}/{self.filename}"

    @property
    def size_text(self) -> str:
        return _size_text(self.size)


_WAV2LIP_LICENSE = (
    "The Wav2Lip weights (K R Prajwal, Rudrabha Mukhopadhyay et al., 'A Lip Sync Expert Is "
    "All You Need', ACM MM 2020) were trained on the LRS2 dataset and are released for "
    "personal, research and non-commercial use only; any form of commercial use is "
    "prohibited (https://github.com/Rudrabha/Wav2Lip#license-and-citation). The file is "
    "fetched from a community mirror on the Hugging Face Hub and checked against the sha256 "
    "of the released file."
)

_NEKOCHU_REVISION = "fb925b05f0d353850ee0c56810e4545e274e2b5a"

_LIVEPORTRAIT_LICENSE = (
    "The LivePortrait weights (Jianzhu Guo et al., 'LivePortrait: Efficient Portrait Animation "
    "with Stitching and Retargeting Control', Kuaishou 2024) are released under the MIT licence, "
    "Copyright (c) 2024 Kuaishou Visual Generation and Interaction Center: the model card of "
    "huggingface.co/KwaiVGI/LivePortrait declares MIT and the authors state that code and "
    "models are MIT except the InsightFace models. Only the five network files are fetched; the "
    "InsightFace detectors (non-commercial) and landmark.onnx in the same repository are not "
    "used. Each file is checked against the sha256 of the released file."
)
# No commit of the Hub repository was recorded offline, so the files follow its main branch;
# the sha256 values below pin their content (a changed file fails verification).
_LIVEPORTRAIT_REVISION = "main"


def _liveportrait(role: str, path: str, sha256: str, size: int | None, what: str) -> WeightSpec:
    return WeightSpec(
        name=f"liveportrait_{role}",
        title=f"LivePortrait {what}",
        repo_id="KwaiVGI/LivePortrait",
        filename=path,
        revision=_LIVEPORTRAIT_REVISION,
        sha256=sha256,
        size=size,
        license="MIT",
        license_text=_LIVEPORTRAIT_LICENSE,
        source="KwaiVGI/LivePortrait human model, released on the Hugging Face Hub",
        used_by="--renderer neural (photoreal LivePortrait renderer, GPU)",
        manual_option="--liveportrait-dir",
    )


REGISTRY: dict[str, WeightSpec] = {
    spec.name: spec
    for spec in (
        WeightSpec(
            name="wav2lip",
            title="Wav2Lip",
            repo_id="Nekochu/Wav2Lip",
            filename="wav2lip.pth",
            # A commit of the mirror that downstream projects pin for these files; the sha256
            # below pins the content in any case (not fetched from here: no Hub access).
            revision=_NEKOCHU_REVISION,
            sha256="b78b681b68ad9fe6c6fb1debc6ff43ad05834a8af8a62ffc4167b7b34ef63c37",
            size=435_807_851,
            license="personal/research/non-commercial use only",
            license_text=_WAV2LIP_LICENSE,
            source="Rudrabha/Wav2Lip release (wav2lip.pth), mirrored by Nekochu/Wav2Lip",
            used_by="--refine wav2lip (mouth refinement, most accurate lip sync)",
            manual_option="--wav2lip-checkpoint",
        ),
        WeightSpec(
            name="wav2lip_gan",
            title="Wav2Lip GAN",
            repo_id="Nekochu/Wav2Lip",
            filename="wav2lip_gan.pth",
            revision=_NEKOCHU_REVISION,
            sha256="ca9ab7b7b812c0e80a6e70a5977c545a1e8a365a6c49d5e533023c034d7ac3d8",
            size=435_801_865,
            license="personal/research/non-commercial use only",
            license_text=_WAV2LIP_LICENSE,
            source="Rudrabha/Wav2Lip release (wav2lip_gan.pth), mirrored by Nekochu/Wav2Lip",
            used_by="--refine wav2lip_gan (mouth refinement, sharper, slightly weaker sync)",
            manual_option="--wav2lip-checkpoint",
        ),
        WeightSpec(
            name="syncnet_v2",
            title="SyncNet",
            # Same file, mirror and pinned revision as avatar.eval.syncnet.SYNCNET_WEIGHTS.
            repo_id="ByteDance/LatentSync",
            filename="auxiliary/syncnet_v2.model",
            revision="405eda8eab9f65c1a6e0c292a5dee5a08089e2ae",
            sha256="961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442",
            size=None,  # about 54.6 MB; not recorded exactly
            license="research use only (code MIT, weights unlicensed)",
            license_text=(
                "The SyncNet weights (Joon Son Chung and Andrew Zisserman, 'Out of time', ACCV "
                "2016 workshops) come from joonson/syncnet_python, whose code is MIT-licensed; "
                "the weights carry no separate licence and are used here for research "
                "evaluation only. The file is fetched from the ByteDance/LatentSync repository "
                "on the Hugging Face Hub and checked against its sha256."
            ),
            source="Oxford VGG syncnet_v2.model, mirrored by ByteDance/LatentSync",
            used_by="avatar eval: LSE-C / LSE-D lip-sync scores",
            manual_option="--syncnet-weights",
        ),
        _liveportrait(
            "appearance",
            "liveportrait/base_models/appearance_feature_extractor.pth",
            "5279bb8654293dbdf327030b397f107237dd9212fb11dd75b83dfb635211ceb5",
            3_387_959,
            "appearance extractor",
        ),
        _liveportrait(
            "motion",
            "liveportrait/base_models/motion_extractor.pth",
            "251e6a94ad667a1d0c69526d292677165110ef7f0cf0f6d199f0e414e8aa0ca5",
            112_545_506,
            "motion extractor",
        ),
        _liveportrait(
            "warping",
            "liveportrait/base_models/warping_module.pth",
            "2f61a6f265fe344f14132364859a78bdbbc2068577170693da57fb96d636e282",
            182_180_086,
            "warping network",
        ),
        _liveportrait(
            "generator",
            "liveportrait/base_models/spade_generator.pth",
            "4780afc7909a9f84e24c01d73b31a555ef651521a1fe3b2429bd04534d992aee",
            221_813_590,
            "SPADE generator",
        ),
        _liveportrait(
            "retargeting",
            "liveportrait/retargeting_models/stitching_retargeting_module.pth",
            "3652d5a3f95099141a56986aaddec92fadf0a73c87a20fac9a2c07c32b28b611",
            None,  # about 2.39 MB; not recorded exactly
            "stitching and retargeting MLPs",
        ),
    )
}

# Names that stand for several registry entries (`avatar weights download liveportrait`).
GROUPS: dict[str, tuple[str, ...]] = {
    "liveportrait": tuple(name for name in REGISTRY if name.startswith("liveportrait_")),
}


class MissingWeightsError(ModelError):
    """Weights are not on this machine (and cannot or may not be fetched now)."""

    def __init__(self, spec: WeightSpec, reason: str | None = None, run: str = "run") -> None:
        self.spec = spec
        why = reason or "are not downloaded"
        manual = (
            f", or pass {spec.manual_option} PATH to a copy you already have"
            if spec.manual_option
            else ""
        )
        command = f"`avatar weights download {spec.name}`"
        action = run.format(command=command) if "{command}" in run else f"{run} {command}"
        super().__init__(
            f"The {spec.title} weights ({spec.filename}, {spec.size_text}) {why}; {action}{manual}."
        )


class LicenseNotAcceptedError(AvatarError):
    """A download was asked for without accepting the weights' licence."""


def get_spec(name: str) -> WeightSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise AvatarError(
            f"Unknown weights '{name}'; known weights are {', '.join(REGISTRY)}."
        ) from None


def expand(names: list[str] | tuple[str, ...]) -> list[str]:
    """Registry names with every group name replaced by its members (order kept, no repeats)."""
    out: list[str] = []
    for name in names:
        for member in GROUPS.get(name, (name,)):
            if member not in out:
                out.append(member)
    return out


def group_spec(group: str) -> WeightSpec:
    """One spec that stands for a whole group, for messages (title, total size, command)."""
    members = [get_spec(n) for n in GROUPS[group]]
    first = members[0]
    folder = os.path.commonpath([m.filename for m in members])
    return WeightSpec(
        name=group,
        title=first.title.split()[0],
        repo_id=first.repo_id,
        filename=f"{len(members)} files under {folder}/",
        revision=first.revision,
        sha256=first.sha256,
        size=sum(m.size or 0 for m in members) or None,
        license=first.license,
        license_text=first.license_text,
        source=first.source,
        used_by=first.used_by,
        manual_option=first.manual_option,
    )


def liveportrait_dir(explicit_dir: str | os.PathLike[str] | None = None) -> Path:
    """A folder laid out like huggingface.co/KwaiVGI/LivePortrait holding the five files.

    ``explicit_dir`` (``--liveportrait-dir``) is checked for the five files;
    otherwise the Hugging Face cache snapshot they were downloaded into is
    returned. Never downloads; raises ``ModelError`` for a bad explicit folder
    and the one-sentence ``MissingWeightsError`` when the download is missing.
    """
    specs = [get_spec(n) for n in GROUPS["liveportrait"]]
    if explicit_dir is not None:
        root = Path(explicit_dir).expanduser()
        missing = [s.filename for s in specs if not (root / s.filename).is_file()]
        if not root.is_dir() or missing:
            what = "does not exist" if not root.is_dir() else f"has no {missing[0]}"
            more = f" (nor {len(missing) - 1} more of the five files)" if len(missing) > 1 else ""
            raise ModelError(
                f"The LivePortrait weights folder '{root}' {what}{more}; pass --liveportrait-dir "
                "a folder laid out like huggingface.co/KwaiVGI/LivePortrait, or run "
                "`avatar weights download liveportrait`."
            )
        return root
    roots = set()
    for spec in specs:
        path = cached_path(spec.name)
        if path is None:
            group = group_spec("liveportrait")
            if is_offline():
                raise MissingWeightsError(
                    group,
                    "are not downloaded and HF_HUB_OFFLINE is set",
                    "run {command} where the Hugging Face Hub is reachable",
                )
            raise MissingWeightsError(group)
        roots.add(path.parents[len(Path(spec.filename).parts) - 1])
    if len(roots) > 1:
        raise ModelError(
            "The LivePortrait weights in the cache come from different revisions of "
            "KwaiVGI/LivePortrait; download them again with "
            "`avatar weights download liveportrait --force`."
        )
    return roots.pop()


def is_offline() -> bool:
    """``HF_HUB_OFFLINE`` as set now (huggingface_hub itself reads it only at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in _TRUE


def cache_dir() -> Path:
    """The Hugging Face hub cache: ``HF_HUB_CACHE``, else ``HF_HOME/hub``, else the default."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def _endpoint() -> str | None:
    return os.environ.get("HF_ENDPOINT") or None


def cached_path(name: str) -> Path | None:
    """Where the file is in the cache, or None; no network access."""
    spec = get_spec(name)
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:  # nothing can have been downloaded without it
        return None
    try:
        found = hf_hub_download(
            spec.repo_id,
            spec.filename,
            revision=spec.revision,
            cache_dir=cache_dir(),
            local_files_only=True,
        )
    except Exception as exc:  # LocalEntryNotFoundError and friends: not in the cache
        log.debug("%s not in the cache: %s", name, exc)
        return None
    path = Path(found)
    return path if path.is_file() else None


def resolve(name: str, explicit_path: str | os.PathLike[str] | None = None) -> Path:
    """The local file for ``name``: ``explicit_path`` if given, else the cached download.

    Never downloads. Raises ``ModelError`` for an explicit path that does not
    exist and ``MissingWeightsError`` (one sentence with the exact command)
    when the weights are not in the cache. A cached file of the wrong size is
    reported as incomplete.
    """
    spec = get_spec(name)
    if explicit_path is not None:
        path = Path(explicit_path).expanduser()
        if not path.is_file():
            raise ModelError(f"The {spec.title} weights file '{path}' does not exist.")
        return path
    path = cached_path(name)
    if path is None:
        if is_offline():
            raise MissingWeightsError(
                spec,
                "are not downloaded and HF_HUB_OFFLINE is set",
                "run {command} where the Hugging Face Hub is reachable",
            )
        raise MissingWeightsError(spec)
    if spec.size is not None and path.stat().st_size != spec.size:
        raise MissingWeightsError(
            spec, f"in the cache are incomplete ({_size_text(path.stat().st_size)})"
        )
    return path


def sha256_file(path: str | os.PathLike[str], *, progress: bool = False) -> str:
    """Hex sha256 of a file, read in 8 MiB blocks (optionally with a progress bar)."""
    path = Path(path)
    digest = hashlib.sha256()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"checking {path.name}",
            leave=False,
        )
    with open(path, "rb") as f:
        while block := f.read(8 << 20):
            digest.update(block)
            if bar is not None:
                bar.update(len(block))
    if bar is not None:
        bar.close()
    return digest.hexdigest()


def verify(name: str, explicit_path: str | os.PathLike[str] | None = None, *, progress=False):
    """Check the file's sha256; returns its path, raises ``ModelError`` on a mismatch."""
    spec = get_spec(name)
    path = resolve(name, explicit_path)
    digest = sha256_file(path, progress=progress)
    if digest != spec.sha256:
        raise ModelError(
            f"The {spec.title} weights at '{path}' do not match their expected sha256 "
            f"(got {digest[:12]}…, expected {spec.sha256[:12]}…); download them again with "
            f"`avatar weights download {name} --force`."
        )
    return path


def download(
    name: str,
    *,
    accept_license: bool | Callable[[WeightSpec], bool] = False,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Fetch ``name`` into the Hugging Face cache, verify its sha256 and return its path.

    ``accept_license`` is True (accepted up front) or a callable that is shown
    the spec and returns whether the user accepts (the CLI prints the licence
    and asks). An already cached, verified file is not downloaded again
    unless ``force``.
    """
    spec = get_spec(name)
    accepted = accept_license(spec) if callable(accept_license) else bool(accept_license)
    if not accepted:
        raise LicenseNotAcceptedError(
            f"The {spec.title} weights come with a licence ({spec.license}); accept it by "
            f"running `avatar weights download {name} --accept-license`."
        )
    if not force:
        existing = cached_path(name)
        if existing is not None and sha256_file(existing, progress=progress) == spec.sha256:
            return existing
    if is_offline():
        raise MissingWeightsError(
            spec, "cannot be downloaded while HF_HUB_OFFLINE is set", "unset it and run"
        )
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
    except ImportError as exc:
        raise ModelError(
            "Downloading weights needs the huggingface_hub package; install it with "
            '`pip install -e ".[refine]"`.'
        ) from exc

    if not progress:
        disable_progress_bars()
    try:
        found = hf_hub_download(
            spec.repo_id,
            spec.filename,
            revision=spec.revision,
            cache_dir=cache_dir(),
            force_download=force,
            endpoint=_endpoint(),
        )
    except Exception as exc:
        raise _download_error(spec, exc) from exc
    finally:
        if not progress:
            enable_progress_bars()
    path = Path(found)
    digest = sha256_file(path, progress=progress)
    if digest != spec.sha256:
        _remove_cached(path)
        raise ModelError(
            f"The downloaded {spec.title} weights do not match their expected sha256 (got "
            f"{digest[:12]}…), so they were deleted; try `avatar weights download {name}` again."
        )
    log.info("%s: %s verified (sha256 %s)", name, path, digest[:12])
    return path


def _download_error(spec: WeightSpec, exc: Exception) -> AvatarError:
    from huggingface_hub import errors as hf_errors

    if isinstance(exc, hf_errors.LocalEntryNotFoundError | hf_errors.OfflineModeIsEnabled):
        return MissingWeightsError(
            spec,
            "could not be downloaded (no connection to the Hugging Face Hub)",
            "run {command} again when online",
        )
    if isinstance(exc, hf_errors.RepositoryNotFoundError | hf_errors.GatedRepoError):
        what = f"the repository huggingface.co/{spec.repo_id} is not available"
    elif isinstance(exc, hf_errors.RevisionNotFoundError):
        what = f"revision {spec.revision} of huggingface.co/{spec.repo_id} does not exist"
    elif isinstance(exc, hf_errors.EntryNotFoundError):
        what = f"huggingface.co/{spec.repo_id} has no file {spec.filename}"
    elif isinstance(exc, OSError) and not isinstance(exc, hf_errors.HfHubHTTPError):
        what = f"the file could not be written to {cache_dir()} ({exc.strerror or exc})"
    else:
        what = f"the Hugging Face Hub answered with an error ({type(exc).__name__})"
    manual = (
        f"; pass {spec.manual_option} PATH to use a copy you have" if spec.manual_option else ""
    )
    return ModelError(f"The {spec.title} weights could not be downloaded: {what}{manual}.")


def _remove_cached(path: Path) -> None:
    """Delete a bad download: the blob and the snapshot link that points to it."""
    try:
        blob = path.resolve()
        if path.is_symlink():
            path.unlink()
        if blob.exists():
            blob.unlink()
    except OSError as exc:  # pragma: no cover - best effort
        log.warning("could not remove %s: %s", path, exc)


def status() -> list[dict]:
    """One row per registered file: name, whether it is cached, size, licence, user."""
    rows = []
    for spec in REGISTRY.values():
        path = cached_path(spec.name)
        rows.append(
            {
                "name": spec.name,
                "downloaded": path is not None,
                "path": str(path) if path else None,
                "size": spec.size_text,
                "license": spec.license,
                "used_by": spec.used_by,
                "repo": f"{spec.repo_id}/{spec.filename}@{spec.revision}",
            }
        )
    return rows


def _size_text(size: int | None) -> str:
    if size is None:
        return "size unknown"
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    if size >= 1e6:
        return f"{size / 1e6:.0f} MB"
    return f"{size / 1e3:.0f} kB"
