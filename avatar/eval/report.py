"""``avatar eval --report DIR``: a Markdown page with plots for one video, or two side by side.

The page has the metric table (with DESIGN.md's targets and verdicts; one value column
per video in compare mode), the notes, and three figures drawn with matplotlib (Agg,
no display needed), one row per video:

- mouth opening over the audio's speech-band envelope (what the lip-sync r measures);
- the eye aspect ratio with the detected blinks shaded (blink timeline);
- head yaw, pitch and roll, with the speech segments shaded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from avatar.errors import AvatarError, OutputError
from avatar.eval.metrics import EvalReport, detect_blinks, speech_mask

FIGURE_WIDTH = 10.0
ROW_HEIGHT = 2.4


def _labels(reports: Sequence[EvalReport], labels: Sequence[str] | None) -> list[str]:
    if labels is not None:
        return list(labels)
    names = [Path(r.video).name for r in reports]
    if len(set(names)) < len(names):
        names = [f"{chr(65 + i)}: {n}" for i, n in enumerate(names)]
    return names


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        raise AvatarError("The report's plots need matplotlib: pip install matplotlib.") from exc

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _time(r: EvalReport) -> np.ndarray:
    return np.arange(r.n_frames) / r.fps


def _shade(ax, t: np.ndarray, mask: np.ndarray | None, color: str, label: str | None) -> None:
    if mask is None or not np.any(mask):
        return
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    dt = t[1] - t[0] if len(t) > 1 else 0.04
    for k, (a, b) in enumerate(zip(edges[::2], edges[1::2])):
        ax.axvspan(
            t[a], t[b - 1] + dt, color=color, alpha=0.18, lw=0, label=label if k == 0 else None
        )


def plot_mouth_audio(reports: Sequence[EvalReport], labels: Sequence[str], path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(len(reports), 1, figsize=(FIGURE_WIDTH, ROW_HEIGHT * len(reports)))
    for ax, r, name in zip(np.atleast_1d(axes), reports, labels):
        t = _time(r)
        if r.log_rms is not None:
            ax.fill_between(
                t,
                np.nan_to_num(r.log_rms, nan=np.nanmin(r.log_rms)),
                np.nanmin(r.log_rms),
                color="0.75",
                step="mid",
                label="audio envelope (dB)",
            )
        ax.set_ylabel("audio dB")
        ax2 = ax.twinx()
        if r.track is not None:
            ax2.plot(t, r.track.mouth_open, color="C3", lw=1.4, label="mouth opening")
        ax2.set_ylabel("mouth / eye width")
        lag = "n/a" if r.lipsync_best_lag is None else f"{r.lipsync_best_lag:+d}"
        ax.set_title(f"{name}: lip sync r = {r.lipsync_r0:.2f} (best lag {lag} frames)", fontsize=9)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="upper right", fontsize=7)
    np.atleast_1d(axes)[-1].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_blinks(reports: Sequence[EvalReport], labels: Sequence[str], path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(len(reports), 1, figsize=(FIGURE_WIDTH, ROW_HEIGHT * len(reports)))
    for ax, r, name in zip(np.atleast_1d(axes), reports, labels):
        t = _time(r)
        if r.track is not None:
            ax.plot(t, r.track.ear_left, lw=1, label="left eye (EAR)")
            ax.plot(t, r.track.ear_right, lw=1, label="right eye (EAR)")
            ear = np.stack([r.track.ear_left, r.track.ear_right], axis=1)
            mask = np.zeros(r.n_frames, bool)
            for a, b in detect_blinks(ear, r.fps):
                mask[a:b] = True
            _shade(ax, t, mask, "C3", "blink")
        ax.set_ylabel("eye aspect ratio")
        ax.set_title(f"{name}: {r.blink_count} blinks ({r.blinks_per_minute:.1f}/min)", fontsize=9)
        ax.legend(loc="lower right", fontsize=7)
    np.atleast_1d(axes)[-1].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_head_pose(reports: Sequence[EvalReport], labels: Sequence[str], path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(len(reports), 1, figsize=(FIGURE_WIDTH, ROW_HEIGHT * len(reports)))
    for ax, r, name in zip(np.atleast_1d(axes), reports, labels):
        t = _time(r)
        if r.track is not None:
            for axis in ("yaw", "pitch", "roll"):
                ax.plot(t, getattr(r.track, axis), lw=1.2, label=axis)
        if r.log_rms is not None:
            _shade(ax, t, speech_mask(r.log_rms, r.fps), "0.5", "speech")
        ax.set_ylabel("degrees")
        ax.set_title(
            f"{name}: yaw std {r.yaw_std:.1f}, pitch std {r.pitch_std:.1f} deg; "
            f"speech:pause motion {r.head_speech_pause_ratio:.2f}",
            fontsize=9,
        )
        ax.legend(loc="upper right", fontsize=7, ncol=4)
    np.atleast_1d(axes)[-1].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown_table(reports: Sequence[EvalReport], labels: Sequence[str]) -> str:
    """One row per metric: the value of each video, the target, and each verdict."""
    order: list[str] = []
    cells: dict[str, dict[int, tuple[str, str]]] = {}
    targets: dict[str, str] = {}
    for i, r in enumerate(reports):
        for name, value, target, verdict in r.rows():
            if name not in cells:
                order.append(name)
                cells[name] = {}
            cells[name][i] = (value, verdict)
            targets[name] = targets.get(name) or target
    head = "| metric | " + " | ".join(labels) + " | target |"
    lines = [head, "|" + "---|" * (len(labels) + 2)]
    for name in order:
        vals = []
        for i in range(len(reports)):
            value, verdict = cells[name].get(i, ("n/a", ""))
            mark = {"ok": " ✓", "FAIL": " **✗**"}.get(verdict, "")
            vals.append(f"{value}{mark}".replace("|", "\\|"))
        lines.append(f"| {name} | " + " | ".join(vals) + f" | {targets[name]} |")
    return "\n".join(lines)


def write_report(
    reports: EvalReport | Sequence[EvalReport],
    out_dir: str | Path,
    labels: Sequence[str] | None = None,
    *,
    title: str | None = None,
) -> Path:
    """Write ``report.md``, ``report.json`` and the PNGs into ``out_dir``; returns the .md path.

    One report gives a single-video page; two or more are put side by side (compare).
    """
    items = [reports] if isinstance(reports, EvalReport) else list(reports)
    if not items:
        raise ValueError("write_report needs at least one EvalReport")
    names = _labels(items, labels)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"The report folder {out} cannot be written.") from exc
    figures = {
        "mouth_audio.png": ("Mouth opening over the audio envelope", plot_mouth_audio),
        "blinks.png": ("Blink timeline", plot_blinks),
        "head_pose.png": ("Head pose", plot_head_pose),
    }
    for filename, (_, plot) in figures.items():
        plot(items, names, out / filename)
    compare = len(items) > 1
    heading = title or (
        "Comparison: " + " vs ".join(names) if compare else f"Evaluation: {names[0]}"
    )
    md = [f"# {heading}", ""]
    for name, r in zip(names, items):
        md.append(
            f"- **{name}**: `{r.video}`, {r.n_frames} frames at {r.fps:g} fps, "
            f"{r.width}x{r.height}, {r.duration_s:.2f} s; face found in "
            f"{100 * r.face_found_fraction:.1f} % of frames"
        )
    md += ["", "## Metrics", "", markdown_table(items, names), ""]
    md += [
        "✓ meets DESIGN.md's target, ✗ misses it. Lip sync r: Pearson r of the inner-lip gap "
        "with the speech-band log-RMS per frame; LSE-D/LSE-C: SyncNet (syncnet_v2.model) "
        "distance and confidence; flicker: RMS frame difference of the static background.",
        "",
    ]
    notes = [(n, note) for n, r in zip(names, items) for note in r.notes]
    if notes:
        md += ["## Notes", ""]
        md += [f"- {n}: {note}" if compare else f"- {note}" for n, note in notes]
        md.append("")
    for filename, (caption, _) in figures.items():
        md += [f"## {caption}", "", f"![{caption}]({filename})", ""]
    path = out / "report.md"
    path.write_text("\n".join(md), encoding="utf-8")
    data = [r.to_dict() for r in items]
    (out / "report.json").write_text(
        json.dumps(data[0] if not compare else data, indent=2, allow_nan=False), encoding="utf-8"
    )
    return path
