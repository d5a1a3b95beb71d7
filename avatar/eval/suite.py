"""``avatar eval-suite``: one fixed matrix of generated videos, measured, beside real people.

The matrix is 3 portraits x 3 speech clips (English clean, Mandarin, English noisy) at
the default settings and a 512-pixel crop, generated with ``TalkingPortraitPipeline``
and measured with :func:`avatar.eval.evaluate_video` (the source photo enables the
identity metric). The same metrics on the six real GRID clips of ``shared/data/videos``
are printed beside them (each clip's first frame stands in for the "source photo"), so
"as natural as a real person" is a number. One Markdown table + JSON go to ``--out``;
the summary is what README.md quotes, rerun it whenever quality changes.

Hold-out: GRID speakers s1 and s2 (``grid_swwp2s`` is s2) also appear in
``shared/data/videos_train``, so for any model trained there those rows are in-sample.

Runs in about 2-4 minutes on 2 CPU cores (without SyncNet weights; LSE adds ~0.2 s per
frame); ``--quick`` makes one video and measures one GRID clip (CI size).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avatar.errors import AvatarError
from avatar.eval.metrics import EvalReport, evaluate_video

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DATA_ENV = "AVATAR_SHARED_DATA"

#: (label, file)
PORTRAITS = (
    ("luciano", "portraits/cc0_codait_luciano.png"),
    ("hopper", "portraits/pd_grace_hopper_us_navy.jpg"),
    ("woman-3/4", "portraits/pd_pxhere_woman_3quarter.jpg"),
)
#: (label, file, language)
SPEECH = (
    ("en", "speech/en_male_clean_voicebank_p287_003.wav", "en"),
    ("zh", "speech/zh_female_aishell1_BAC009S0764W0121.wav", "zh"),
    ("en-noisy", "speech/en_male_noisy_voicebank_demand_p287_003.wav", "en"),
)
SIZE = 512
QUICK_PORTRAITS = PORTRAITS[:1]
QUICK_SPEECH = SPEECH[1:2]  # the shortest clip (4.2 s)
GRID_GLOB = "videos/grid_*.mpg"
QUICK_GRID = 1
HOLDOUT_NOTE = (
    "GRID speakers s1 and s2 (grid_swwp2s is s2) also appear in shared/data/videos_train: "
    "in-sample for any model trained there."
)

#: (column, EvalReport attribute or callable, format)
COLUMNS: tuple[tuple[str, str | Callable[[EvalReport], float], str], ...] = (
    ("lip r", "lipsync_r0", ".2f"),
    ("lag", "lipsync_best_lag", "+d"),
    ("LSE-D", "lse_d", ".2f"),
    ("LSE-C", "lse_c", ".2f"),
    ("blinks/min", "blinks_per_minute", ".1f"),
    ("yaw sd", "yaw_std", ".2f"),
    ("pitch sd", "pitch_std", ".2f"),
    ("speech:pause", "head_speech_pause_ratio", ".2f"),
    ("jitter", lambda r: 1000 * r.landmark_jitter, ".2f"),
    ("flicker", "flicker", ".2f"),
    ("identity", "identity_distance", ".3f"),
    ("A-V fr", "av_duration_diff_frames", "+.2f"),
)


@dataclass
class SuiteRow:
    group: str  # "ours" or "real"
    name: str
    report: EvalReport
    generate_s: float = float("nan")
    eval_s: float = float("nan")


@dataclass
class SuiteResult:
    rows: list[SuiteRow]
    markdown: str
    markdown_path: Path
    json_path: Path
    notes: list[str] = field(default_factory=list)


def find_data_dir(explicit: str | Path | None = None) -> Path:
    path = Path(explicit or os.environ.get(DATA_ENV) or DEFAULT_DATA)
    if not (path / "portraits").is_dir() or not (path / "speech").is_dir():
        raise AvatarError(
            f"The shared data folder {path} (portraits/, speech/, videos/) was not found; "
            f"pass --data DIR."
        )
    return path


def _value(report: EvalReport, key) -> float | int | None:
    value = key(report) if callable(key) else getattr(report, key)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value


def _cell(report: EvalReport, key, fmt: str) -> str:
    value = _value(report, key)
    return "–" if value is None else format(value, fmt)


def _median_row(rows: list[SuiteRow], label: str) -> str:
    cells = []
    for _, key, fmt in COLUMNS:
        vals = [v for r in rows if (v := _value(r.report, key)) is not None]
        med = float(np.median(vals)) if vals else None
        if med is not None and fmt.endswith("d"):
            fmt = "+.1f"
        cells.append("–" if med is None else format(med, fmt))
    return f"| **{label}** | " + " | ".join(cells) + " |"


def _table(rows: list[SuiteRow]) -> list[str]:
    head = "| video | " + " | ".join(c for c, _, _ in COLUMNS) + " |"
    lines = [head, "|---|" + "---:|" * len(COLUMNS)]
    for row in rows:
        cells = " | ".join(_cell(row.report, key, fmt) for _, key, fmt in COLUMNS)
        lines.append(f"| {row.name} | {cells} |")
    return lines


def format_markdown(rows: list[SuiteRow], notes: list[str], quick: bool) -> str:
    ours = [r for r in rows if r.group == "ours"]
    real = [r for r in rows if r.group == "real"]
    md = [f"## Evaluation suite{' (quick)' if quick else ''}", ""]
    md += ["| | " + " | ".join(c for c, _, _ in COLUMNS) + " |"]
    md += ["|---|" + "---:|" * len(COLUMNS)]
    if ours:
        md.append(_median_row(ours, f"ours, median of {len(ours)}"))
    if real:
        md.append(_median_row(real, f"real GRID, median of {len(real)}"))
    md += [
        "| target (DESIGN.md) | >= 0.55 | +-1 | lower | higher | 10-30 | 1-6 | 1-6 | > 1 "
        "| <= real | low | <= 0.35 | +-1 |",
        "",
        "Columns: lip r = Pearson r of mouth opening vs speech-band log-RMS at lag 0; lag = "
        "best lag in frames (+: mouth late); LSE-D/LSE-C = SyncNet distance/confidence "
        "(syncnet_v2.model; – when its weights are not here); yaw/pitch sd in degrees; "
        "speech:pause = head speed while speaking / in pauses; jitter = non-rigid landmark "
        "jitter per 1000 face widths; flicker = RMS frame difference of the static background "
        "(0-255); identity = dlib descriptor distance to the source photo (real clips: to their "
        "first frame); A-V = video minus audio duration in frames.",
        "",
    ]
    if ours:
        md += ["### Generated (ours)", "", *_table(ours), ""]
    if real:
        md += ["### Real people (GRID, shared/data/videos)", "", *_table(real), ""]
    if notes:
        md += ["Notes:", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(md)


def _first_frame(path: Path) -> np.ndarray:
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(gen)
        w, h = (int(v) for v in meta["size"])
        return np.frombuffer(next(gen), np.uint8).reshape(h, w, 3).copy()
    finally:
        gen.close()


def run_suite(
    out_dir: str | Path = "out/eval-suite",
    *,
    quick: bool = False,
    data_dir: str | Path | None = None,
    syncnet_weights: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    portraits: tuple[tuple[str, str], ...] | None = None,
    speech: tuple[tuple[str, str, str], ...] | None = None,
    grid: int | None = None,
    size: int = SIZE,
) -> SuiteResult:
    """Generate the matrix into ``out_dir/videos``, measure it and the GRID clips, write tables."""
    from avatar.settings import GenerationSettings
    from pipelines import TalkingPortraitPipeline

    say = progress or (lambda msg: None)
    data = find_data_dir(data_dir)
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    portraits = portraits or (QUICK_PORTRAITS if quick else PORTRAITS)
    speech = speech or (QUICK_SPEECH if quick else SPEECH)
    n_grid = grid if grid is not None else (QUICK_GRID if quick else None)
    notes: list[str] = []
    rows: list[SuiteRow] = []
    pipe = TalkingPortraitPipeline()
    t_all = time.perf_counter()
    for who, portrait in portraits:
        image = data / portrait
        rig = None
        for label, clip, language in speech:
            name = f"{who} / {label}"
            video = out / "videos" / f"{Path(portrait).stem}__{label}.mp4"
            say(f"generating {name}")
            settings = GenerationSettings(size=size, language=language, overwrite=True)
            if rig is None:
                rig = pipe.analyze_portrait(image, settings)
            t = time.perf_counter()
            pipe(image, data / clip, settings, output=video, rig=rig)
            gen_s = time.perf_counter() - t
            say(f"measuring {name}")
            t = time.perf_counter()
            report = evaluate_video(
                video, source_image=image, syncnet_weights=syncnet_weights, keep_track=False
            )
            rows.append(SuiteRow("ours", name, report, gen_s, time.perf_counter() - t))
    clips = sorted(data.glob(GRID_GLOB))
    if n_grid is not None:
        clips = clips[:n_grid]
    if not clips:
        notes.append("no real clips found under videos/: the real-person rows are missing")
    for clip in clips:
        say(f"measuring real clip {clip.name}")
        t = time.perf_counter()
        report = evaluate_video(
            clip,
            source_image=_first_frame(clip),
            syncnet_weights=syncnet_weights,
            keep_track=False,
        )
        rows.append(SuiteRow("real", clip.stem, report, eval_s=time.perf_counter() - t))
    if clips:
        notes.append(HOLDOUT_NOTE)
    lse_missing = all(math.isnan(r.report.lse_d) for r in rows)
    if lse_missing:
        notes.append(
            "LSE-D/LSE-C not measured: no SyncNet weights on this machine "
            "(avatar eval --lse downloads them; or --syncnet-weights PATH)"
        )
    notes.append(
        f"{len([r for r in rows if r.group == 'ours'])} videos at {size}x{size}, default "
        f"settings; suite wall time {time.perf_counter() - t_all:.0f} s"
    )
    md = format_markdown(rows, notes, quick)
    md_path = out / "suite.md"
    md_path.write_text(md + "\n", encoding="utf-8")
    json_path = out / "suite.json"
    payload = {
        "quick": quick,
        "size": size,
        "notes": notes,
        "rows": [
            {
                "group": r.group,
                "name": r.name,
                "generate_s": None if math.isnan(r.generate_s) else round(r.generate_s, 2),
                "eval_s": None if math.isnan(r.eval_s) else round(r.eval_s, 2),
                "report": r.report.to_dict(),
            }
            for r in rows
        ],
    }
    json_path.write_text(json.dumps(payload, indent=2, allow_nan=False), encoding="utf-8")
    return SuiteResult(rows, md, md_path, json_path, notes)
