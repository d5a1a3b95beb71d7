"""Jobs files: read the rows, check each before anything renders, and turn them into Jobs.

A row's columns: ``image``, ``text`` or ``audio``, ``voice``, ``lang``, ``rate``,
``pitch``, ``output`` (a name inside the output folder or bucket) and any generation
setting under its CLI name (``head-motion``, ``size``, ``label``...). Images and audio
are local paths (relative to the jobs file) or fsspec URLs (``s3://``, ``gs://``,
``https://``...): a Job carries the path or URL, never the bytes, so a cluster's
workers fetch their own inputs.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath

from avatar.batch.report import RowResult
from avatar.errors import AvatarError
from avatar.settings import GenerationSettings

_JOB_KEYS = {"image", "text", "audio", "voice", "lang", "language", "rate", "pitch", "output"}
_NOT_SETTINGS = {"transcript", "overwrite", "max_audio_seconds", "wav2lip_checkpoint"}
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")


@dataclass(frozen=True)
class Job:
    """One row, checked: everything a worker needs, by path or URL (small to send)."""

    row: int  # 1-based, as the user counts the rows
    name: str  # output name inside the store, posix
    image: str  # absolute local path or URL
    audio: str | None  # absolute local path or URL; None when the row is typed text
    spoken: dict | None  # synthesize() arguments for a typed row
    settings: GenerationSettings
    store: str  # the output folder or URL


def is_url(value: str) -> bool:
    return "://" in value and not value.startswith("file://")


def read_jobs(path: str | Path) -> list[dict[str, str]]:
    """The rows of a .csv, .yaml or .yml jobs file, as dicts of strings (keys normalised)."""
    path = Path(path)
    if not path.is_file():
        raise AvatarError(f"The jobs file {path} does not exist.")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
            if isinstance(data, dict):
                data = data.get("jobs", [])
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise AvatarError(f"{path} must hold a list of jobs (or `jobs:` with a list).")
            rows = data
        else:
            with path.open(newline="", encoding="utf-8-sig") as f:
                rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AvatarError(f"Cannot read the jobs file {path}: {exc}.") from exc
    except Exception as exc:  # yaml.YAMLError
        if isinstance(exc, AvatarError):
            raise
        raise AvatarError(f"Cannot read the jobs file {path}: {exc}.") from exc
    return [
        {
            str(k).strip().lower().replace("-", "_"): ("" if v is None else str(v).strip())
            for k, v in row.items()
            if k is not None
        }
        for row in rows
    ]


def parse_value(name: str, text: str, annotation: str):
    """A column's text as the setting's type, or one sentence naming the column."""
    try:
        if "bool" in annotation:
            if text.lower() in ("1", "true", "yes", "y", "on"):
                return True
            if text.lower() in ("0", "false", "no", "n", "off"):
                return False
            raise ValueError
        if "int" in annotation:
            return int(float(text)) if float(text).is_integer() else int(text)
        if "float" in annotation:
            return float(text)
    except ValueError:
        raise AvatarError(f"'{text}' is not a valid value for {name.replace('_', '-')}.") from None
    return text


def _settings_for(row: dict[str, str], base: GenerationSettings) -> GenerationSettings:
    types = {f.name: str(f.type) for f in fields(GenerationSettings)}
    changes = {}
    for key, text in row.items():
        if key in _JOB_KEYS or text == "":
            continue
        if key not in types or key in _NOT_SETTINGS:
            raise AvatarError(f"Unknown column '{key.replace('_', '-')}'.")
        changes[key] = parse_value(key, text, types[key])
    lang = row.get("lang") or row.get("language")
    if lang:
        changes["language"] = lang
    return base.updated(**changes)


_SEEN_URLS: dict[str, bool] = {}


def _input(value: str, base_dir: Path, what: str) -> str:
    """An existing local file (absolute) or a URL that exists, checked now."""
    if is_url(value):
        from avatar.batch.store import url_exists

        if value not in _SEEN_URLS:  # one lookup per URL, however many rows name it
            _SEEN_URLS[value] = url_exists(value)
        if not _SEEN_URLS[value]:
            raise AvatarError(f"The {what} {value} does not exist.")
        return value
    if value.startswith("file://"):
        value = value[len("file://") :]
    p = Path(value).expanduser()
    if not p.is_absolute() and (base_dir / p).exists():
        p = base_dir / p
    if not p.is_file():
        raise AvatarError(f"The {what} {value} does not exist.")
    return str(p.resolve())


def output_name(value: str, index: int) -> str:
    """The row's output as a posix name inside the store (``video_007.mp4`` if unnamed)."""
    name = value or f"video_{index:03d}.mp4"
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or Path(name).is_absolute() or ".." in pure.parts or not pure.name:
        raise AvatarError(
            f"The output '{value}' must be a file name inside the output folder "
            "(no absolute path, no '..')."
        )
    if pure.suffix.lower() not in VIDEO_SUFFIXES:
        pure = pure.with_suffix(".mp4")
    return pure.as_posix()


def plan_jobs(
    rows: list[dict[str, str]], base_dir: Path, store: str, base: GenerationSettings
) -> tuple[list[Job], list[RowResult]]:
    """Every row checked before any rendering: Jobs for the good ones, one failure line
    (row and cause) for each bad one."""
    jobs: list[Job] = []
    failed: list[RowResult] = []
    taken: dict[str, int] = {}
    _SEEN_URLS.clear()
    for index, row in enumerate(rows, start=1):
        name = row.get("output") or f"video_{index:03d}.mp4"
        try:
            name = output_name(row.get("output", ""), index)
            if name in taken:
                raise AvatarError(f"Row {taken[name]} already writes {name}.")
            if not row.get("image"):
                raise AvatarError("The row names no image.")
            text, audio_value = row.get("text", ""), row.get("audio", "")
            if bool(text) == bool(audio_value):
                raise AvatarError("Give exactly one of text or audio.")
            settings = _settings_for(row, base)
            image = _input(row["image"], base_dir, "image")
            audio = _input(audio_value, base_dir, "audio file") if audio_value else None
            spoken = None
            if audio is None:
                spoken = {
                    "text": text,
                    "voice": row.get("voice") or None,
                    "language": row.get("lang") or row.get("language") or None,
                    "rate": parse_value("rate", row.get("rate") or "175", "int"),
                    "pitch": parse_value("pitch", row.get("pitch") or "50", "int"),
                }
        except AvatarError as exc:
            failed.append(RowResult(index, name, "failed", 0.0, str(exc)))
            continue
        taken[name] = index
        jobs.append(Job(index, name, image, audio, spoken, settings, store))
    return jobs, failed
