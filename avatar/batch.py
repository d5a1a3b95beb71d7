"""`avatar batch jobs.csv --out DIR`: one video per row of a CSV or YAML jobs file.

Columns: ``image``, ``text`` or ``audio``, ``voice``, ``lang``, ``rate``,
``pitch``, ``output`` (a file name inside DIR) and any generation setting under
its CLI name (``head-motion``, ``size``, ``label``...). Each portrait is analysed
once and reused; a failing row is reported and the rest go on; a row whose
output exists with the same content hash (inputs + settings) is skipped.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath

from avatar.errors import AvatarError
from avatar.settings import GenerationSettings

_JOB_KEYS = {"image", "text", "audio", "voice", "lang", "language", "rate", "pitch", "output"}
_NOT_SETTINGS = {"transcript", "overwrite", "max_audio_seconds", "wav2lip_checkpoint"}


@dataclass
class RowResult:
    row: int
    output: str
    status: str  # "done", "skipped" or "failed"
    seconds: float = 0.0
    message: str = ""


@dataclass
class BatchReport:
    rows: list[RowResult] = field(default_factory=list)

    @property
    def failed(self) -> list[RowResult]:
        return [r for r in self.rows if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def table(self) -> str:
        lines = [f"{'row':>4}  {'status':<8} {'time':>7}  {'output':<28} message"]
        for r in self.rows:
            lines.append(
                f"{r.row:>4}  {r.status:<8} {r.seconds:>6.1f}s  {r.output:<28} {r.message}"
            )
        counts = {s: sum(r.status == s for r in self.rows) for s in ("done", "skipped", "failed")}
        lines.append(
            f"{len(self.rows)} jobs: {counts['done']} made, {counts['skipped']} already up to date, "
            f"{counts['failed']} failed"
        )
        return "\n".join(lines)


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


def _parse_value(name: str, text: str, annotation: str):
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
        changes[key] = _parse_value(key, text, types[key])
    lang = row.get("lang") or row.get("language")
    if lang:
        changes["language"] = lang
    return base.updated(**changes)


def _input(value: str, base_dir: Path, what: str) -> Path:
    p = Path(value).expanduser()
    if not p.is_absolute() and (base_dir / p).exists():
        p = base_dir / p
    if not p.is_file():
        raise AvatarError(f"The {what} {value} does not exist.")
    return p


def _output(value: str, out_dir: Path, index: int) -> Path:
    name = value or f"video_{index:03d}.mp4"
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or Path(name).is_absolute() or ".." in pure.parts or not pure.name:
        raise AvatarError(
            f"The output '{value}' must be a file name inside the output folder "
            "(no absolute path, no '..')."
        )
    if pure.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        pure = pure.with_suffix(".mp4")
    return out_dir.joinpath(*pure.parts)


def _hash(
    image: Path, audio: Path | None, spoken: dict | None, settings: GenerationSettings
) -> str:
    h = hashlib.sha256()
    h.update(image.read_bytes())
    if audio is not None:
        h.update(b"audio\0" + audio.read_bytes())
    else:
        h.update(b"text\0" + json.dumps(spoken, sort_keys=True).encode())
    d = settings.to_dict()
    d.pop("overwrite", None)
    d.pop("motion_defaulted", None)  # the same engine, chosen or by default, is the same video
    h.update(json.dumps(d, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _sidecar(output: Path) -> Path:
    return output.with_name(f".{output.name}.hash")


def run_batch(
    jobs: str | Path,
    out_dir: str | Path,
    *,
    quiet: bool = False,
    pipeline=None,
    base: GenerationSettings | None = None,
) -> BatchReport:
    """Make every row's video; never raises for one row's failure (see the report)."""
    from tqdm import tqdm

    from avatar.audio import load_audio

    if pipeline is None:
        from pipelines import TalkingPortraitPipeline

        pipeline = TalkingPortraitPipeline()
    jobs = Path(jobs)
    rows = read_jobs(jobs)
    if not rows:
        raise AvatarError(f"The jobs file {jobs} has no rows.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = (base or GenerationSettings()).updated(overwrite=True)
    rigs: dict[tuple[str, int], object] = {}
    report = BatchReport()
    for index, row in enumerate(
        tqdm(rows, desc="Videos", unit="video", disable=quiet, file=sys.stderr), start=1
    ):
        t = time.perf_counter()
        name = row.get("output") or f"video_{index:03d}.mp4"
        try:
            output = _output(row.get("output", ""), out_dir, index)
            name = output.relative_to(out_dir).as_posix()
            if not row.get("image"):
                raise AvatarError("The row names no image.")
            text, audio_value = row.get("text", ""), row.get("audio", "")
            if bool(text) == bool(audio_value):
                raise AvatarError("Give exactly one of text or audio.")
            image = _input(row["image"], jobs.parent, "image")
            settings = _settings_for(row, base)
            audio = _input(audio_value, jobs.parent, "audio file") if audio_value else None
            lang = row.get("lang") or row.get("language") or None
            spoken = None
            if audio is None:
                spoken = {
                    "text": text,
                    "voice": row.get("voice") or None,
                    "language": lang,
                    "rate": _parse_value("rate", row.get("rate") or "175", "int"),
                    "pitch": _parse_value("pitch", row.get("pitch") or "50", "int"),
                }
            digest = _hash(image, audio, spoken, settings)
            sidecar = _sidecar(output)
            if output.is_file() and sidecar.is_file() and sidecar.read_text().strip() == digest:
                report.rows.append(RowResult(index, name, "skipped", 0.0, "up to date"))
                continue
            phones = None
            if spoken is not None:
                from avatar.speech.tts import synthesize

                result = synthesize(**spoken)
                speech, phones = result.speech, result.phones
                if not lang:
                    settings = settings.updated(language=phones.language)
            else:
                speech = load_audio(audio, max_seconds=settings.max_audio_seconds)
            key = (str(image.resolve()), settings.face_index)
            if key not in rigs:
                rigs[key] = pipeline.analyze_portrait(image, settings)
            output.parent.mkdir(parents=True, exist_ok=True)
            sidecar.unlink(missing_ok=True)
            out = pipeline(image, speech, settings, output=output, rig=rigs[key], phones=phones)
            sidecar.write_text(digest + "\n")
            report.rows.append(
                RowResult(
                    index,
                    name,
                    "done",
                    time.perf_counter() - t,
                    f"{out.audio_duration:.1f} s of speech",
                )
            )
        except AvatarError as exc:
            report.rows.append(RowResult(index, name, "failed", time.perf_counter() - t, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one bad row must not stop the batch
            report.rows.append(
                RowResult(
                    index,
                    name,
                    "failed",
                    time.perf_counter() - t,
                    f"{type(exc).__name__}: {exc}",
                )
            )
    return report
