"""The motion plot under the video: mouth against the voice's loudness, blinks, head pose.

It is saved as a PNG file: gradio's example cache keeps a file by path, while
an inline plot went into its CSV as a base64 field too large for Python's csv
reader (the cached example then showed "Error").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def envelope_of(speech, fps: float, n_frames: int) -> np.ndarray:
    """Per-frame log-RMS of the voice-over (the lip-sync reference), scaled to 0..1."""
    from avatar.audio import interval_log_rms

    env = interval_log_rms(np.asarray(speech.samples), int(speech.sample_rate), fps, n_frames)
    lo, hi = np.percentile(env, 5), np.percentile(env, 98)
    return np.clip((env - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def count_blinks(blink: np.ndarray, threshold: float = 0.5) -> int:
    closed = np.asarray(blink) > threshold
    return int(
        np.count_nonzero(closed[1:] & ~closed[:-1]) + (1 if closed.size and closed[0] else 0)
    )


def motion_figure(motion, envelope: np.ndarray | None = None):
    """A three-panel matplotlib Figure (Agg, no pyplot): mouth vs. loudness, blinks, head pose."""
    from matplotlib.figure import Figure

    fps = float(motion.fps)
    n = len(motion)
    t = np.arange(n) / fps
    fig = Figure(figsize=(8.0, 5.4), dpi=100, layout="constrained")
    axes = fig.subplots(3, 1, sharex=True, height_ratios=(1.3, 0.8, 1.1))

    ax = axes[0]
    mouth = np.asarray(motion["jaw_open"], dtype=np.float64)
    if envelope is not None and len(envelope) == n:
        ax.fill_between(t, 0, envelope, color="#9aa5b1", alpha=0.45, lw=0, label="voice loudness")
        r = _pearson(mouth, envelope)
        title = "Mouth opening vs. voice loudness" + (f"  (r = {r:.2f})" if r is not None else "")
    else:
        title = "Mouth opening"
    ax.plot(t, mouth, color="#d35400", lw=1.4, label="mouth opening")
    ax.set_ylim(0, 1.05)
    ax.set_title(title, fontsize=10, loc="left")
    _legend_above(ax, ncol=2)

    ax = axes[1]
    blink = (np.asarray(motion["blink_left"]) + np.asarray(motion["blink_right"])) / 2.0
    k = count_blinks(blink)
    per_min = k / max(n / fps, 1e-6) * 60.0
    ax.fill_between(t, 0, blink, color="#2e86de", alpha=0.8, lw=0)
    ax.set_ylim(0, 1.05)
    ax.set_yticks([0, 1], ["open", "shut"])
    ax.set_title(f"Blinks: {k} ({per_min:.0f} per minute)", fontsize=10, loc="left")

    ax = axes[2]
    for name, colour in (("yaw", "#8e44ad"), ("pitch", "#27ae60"), ("roll", "#7f8c8d")):
        ax.plot(t, motion[name], color=colour, lw=1.2, label=name)
    ax.axhline(0, color="#bbbbbb", lw=0.6)
    ax.set_title("Head pose (degrees)", fontsize=10, loc="left")
    _legend_above(ax, ncol=3)
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, max(t[-1] if n else 1.0, 1.0 / fps))
    for a in axes:
        a.tick_params(labelsize=8)
        for side in ("top", "right"):
            a.spines[side].set_visible(False)
    return fig


def _legend_above(ax, ncol: int) -> None:
    """A small frameless legend above the panel's right end, clear of the curves."""
    ax.legend(
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        borderaxespad=0.1,
        fontsize=8,
        frameon=False,
        ncol=ncol,
    )


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.size < 3 or a.std() < 1e-9 or b.std() < 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def save_motion_plot(figure, path: str | Path) -> Path:
    """``figure`` written as a PNG at ``path`` (what the page and the example cache show)."""
    path = Path(path)
    figure.savefig(path, format="png", dpi=100)
    return path
