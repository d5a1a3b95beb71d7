"""Diffusion vs procedural motion on real speech: lip sync, blinks, head motion, seams, speed.

    python benchmarks/bench_motion.py [--model weights/motion-diffusion] [--render]
        [--seconds 20] [--out out/bench-motion]

Clips: every file in shared/data/speech (en, es, ja, zh; noisy and long ones cut to
``--seconds``) and the audio of the six held-out GRID clips in shared/data/videos.
Phones are recognised without a transcript (the default product path).

Motion-level numbers (always): r between ``jaw_open`` and the log-RMS envelope at lag
0 on speech frames, blinks/min, yaw/pitch std (degrees), head speed in speech vs pauses,
the largest frame-to-frame head change at window joins relative to the 99th percentile
elsewhere (≤ 1: no seam), and the mean yaw difference between seeds 0..3.
``--render`` also renders each clip on a portrait (256 px crop) and measures the video
with the independent tracker (``avatar.eval.evaluate_video``), as the README quotes.
The timing row is the sampling time of 10 s of motion (median of 5, 2 torch threads).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from avatar.audio import load_audio  # noqa: E402
from avatar.audio.features import compute_features  # noqa: E402
from avatar.audio.speech import Speech  # noqa: E402
from avatar.motion import MotionControls, generate_motion  # noqa: E402
from avatar.motion.mouth import mouth_curves  # noqa: E402
from avatar.speech import recognize_phones  # noqa: E402

DATA = REPO.parent / "shared" / "data"
FPS = 25.0
PORTRAIT = "portraits/cc0_codait_luciano.png"
LANGS = {"en": "en", "es": "es", "ja": "ja", "zh": "zh"}


def clips(seconds: float) -> list[tuple[str, str, Path]]:
    out = []
    for p in sorted((DATA / "speech").iterdir()):
        out.append((p.stem, LANGS.get(p.stem.split("_")[0], "en"), p))
    for p in sorted((DATA / "videos").glob("grid_*.mpg")):
        out.append((p.stem, "en", p))
    return out


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 8 or np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def blink_count(track: np.ndarray) -> int:
    closed = np.concatenate([[False], np.asarray(track) > 0.5, [False]])
    return int(np.count_nonzero(np.diff(closed.astype(np.int8)) == 1))


def seam_ratio(motion, window: int, crossfade: int) -> float:
    """Largest head change at window joins / 99th percentile of all frame-to-frame changes."""
    head = np.stack([motion["yaw"], motion["pitch"]], 1).astype(np.float64)
    step = np.linalg.norm(np.diff(head, axis=0), axis=1)
    joins, start = [], 0
    while start + window < len(head):
        start += window - crossfade
        joins += list(range(start - 1, min(len(step), start + crossfade)))
    if not joins:
        return float("nan")
    return float(step[joins].max() / max(np.percentile(step, 99), 1e-9))


def motion_metrics(motion, features) -> dict:
    speaking = np.asarray(features.speaking) > 0.5
    log_rms = np.asarray(features.log_rms, np.float64)
    jaw = np.asarray(motion["jaw_open"], np.float64)
    speed = np.hypot(np.gradient(motion["yaw"]), np.gradient(motion["pitch"])) * FPS
    minutes = len(motion) / FPS / 60
    return {
        "jaw_r": _pearson(jaw[speaking], log_rms[speaking]),
        "blinks_min": blink_count(motion["blink_left"]) / minutes,
        "yaw_sd": float(np.std(motion["yaw"])),
        "pitch_sd": float(np.std(motion["pitch"])),
        "speech_pause": float(np.mean(speed[speaking]) / max(np.mean(speed[~speaking]), 1e-6))
        if (~speaking).sum() > 5
        else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(REPO / "weights" / "motion-diffusion"))
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--render", action="store_true")
    ap.add_argument("--out", default=str(REPO / "out" / "bench-motion"))
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch

    from avatar.motion.diffusion.sampler import CROSSFADE, DiffusionMotionGenerator

    torch.set_num_threads(2)
    diffusion = DiffusionMotionGenerator.from_pretrained(args.model)
    engines = {"procedural": generate_motion, "diffusion": diffusion}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, lang, path in clips(args.seconds)[: args.limit]:
        speech = load_audio(path)
        cut = int(args.seconds * speech.sample_rate)
        speech = Speech(speech.samples[:cut], speech.sample_rate)
        n = speech.n_frames(FPS)
        feats = compute_features(speech, FPS, n)
        track = recognize_phones(speech, language=lang)
        mouth = mouth_curves(track, feats, FPS, n, language=lang)
        for engine, gen in engines.items():
            motion = gen(feats, mouth, MotionControls(seed=0))
            row = {"clip": name, "lang": lang, "engine": engine, **motion_metrics(motion, feats)}
            row["seam"] = seam_ratio(motion, diffusion.model.config.window, CROSSFADE)
            others = [gen(feats, mouth, MotionControls(seed=s)) for s in range(1, 4)]
            row["seed_yaw_diff"] = float(
                np.mean([np.abs(o["yaw"] - motion["yaw"]).mean() for o in others])
            )
            minutes = len(motion) / FPS / 60  # blink rate over seeds 0-3: one seed is noise
            row["blinks_min_4seeds"] = float(
                np.mean([blink_count(m["blink_left"]) for m in [motion, *others]]) / minutes
            )
            if args.render:
                video = out / f"{name}__{engine}.mp4"
                row.update(render_and_measure(speech, lang, track, gen, video))
            rows.append(row)
            print(
                json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
            )
    timing = time_sampling(diffusion)
    (out / "bench-motion.json").write_text(json.dumps({"rows": rows, "timing": timing}, indent=2))
    md = table(rows, timing)
    (out / "bench-motion.md").write_text(md + "\n")
    print(md)
    return 0


def render_and_measure(speech, lang, track, gen, video: Path) -> dict:
    from avatar.eval.metrics import evaluate_video
    from avatar.settings import GenerationSettings
    from pipelines import TalkingPortraitPipeline

    settings = GenerationSettings(size=256, language=lang, overwrite=True)
    pipe = TalkingPortraitPipeline(motion_generator=gen)
    pipe(DATA / PORTRAIT, speech, settings, output=video, phones=track)
    r = evaluate_video(video, keep_track=False, lse=False, identity=False)
    return {
        "video_lip_r": r.lipsync_r0,
        "video_blinks_min": r.blinks_per_minute,
        "video_yaw_sd": r.yaw_std,
        "video_pitch_sd": r.pitch_std,
        "video_speech_pause": r.head_speech_pause_ratio,
    }


def time_sampling(diffusion) -> dict:
    speech = load_audio(DATA / "speech" / "en_female_ljspeech_LJ028-0030_to_0039_long72s.flac")
    speech = Speech(speech.samples[: 10 * speech.sample_rate], speech.sample_rate)
    n = speech.n_frames(FPS)
    feats = compute_features(speech, FPS, n)
    mouth = mouth_curves(recognize_phones(speech, language="en"), feats, FPS, n)
    times = []
    for s in range(6):
        t = time.perf_counter()
        diffusion(feats, mouth, MotionControls(seed=s))
        times.append(time.perf_counter() - t)
    return {"seconds_for_10s": round(statistics.median(times[1:]), 3), "runs": times}


def table(rows: list[dict], timing: dict) -> str:
    cols = [
        ("jaw_r", "motion lip r", ".2f"),
        ("video_lip_r", "video lip r", ".2f"),
        ("blinks_min_4seeds", "blinks/min (4 seeds)", ".1f"),
        ("video_blinks_min", "video blinks/min", ".1f"),
        ("video_yaw_sd", "yaw sd°", ".2f"),
        ("video_pitch_sd", "pitch sd°", ".2f"),
        ("video_speech_pause", "speech:pause", ".2f"),
        ("seam", "seam", ".2f"),
        ("seed_yaw_diff", "seed Δyaw°", ".2f"),
    ]
    cols = [c for c in cols if any(c[0] in r for r in rows)]
    head = "| group | engine | " + " | ".join(c[1] for c in cols) + " |"
    lines = [head, "|" + "---|" * (len(cols) + 2)]
    groups = {
        "English speech": lambda r: r["lang"] == "en" and not r["clip"].startswith("grid"),
        "ja / zh / es speech": lambda r: r["lang"] != "en",
        "GRID held-out audio": lambda r: r["clip"].startswith("grid"),
    }
    for gname, sel in groups.items():
        for engine in ("procedural", "diffusion"):
            sub = [r for r in rows if sel(r) and r["engine"] == engine]
            if not sub:
                continue
            cells = []
            for key, _, fmt in cols:
                vals = [r[key] for r in sub if key in r and np.isfinite(r[key])]
                cells.append(format(float(np.median(vals)), fmt) if vals else "–")
            lines.append(f"| {gname} (n={len(sub)}) | {engine} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Medians per group. Sampling 10 s of diffusion motion: {timing['seconds_for_10s']} s "
        "(median of 5, torch on 2 threads, sampler single-threaded)."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
