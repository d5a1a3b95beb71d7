"""`avatar` command line: generate | eval | bench."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from avatar.errors import AvatarError

EPILOG = "Every command prints one clear sentence and exits non-zero on bad input."


def _generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", required=True, help="portrait photo (jpg, png, webp, ...)")
    p.add_argument(
        "--audio", required=True, help="voice-over (wav, mp3, m4a, ogg, flac, or a video)"
    )
    p.add_argument("--output", "-o", required=True, help="output .mp4 path")
    p.add_argument("--seed", type=int, default=0, help="random seed for head motion and blinks")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument(
        "--size", type=int, default=None, help="square face crop of N pixels (default: full photo)"
    )
    p.add_argument("--face-index", type=int, default=0, help="which face, 0 = largest")
    p.add_argument("--head-motion", type=float, default=1.0, help="0 still ... 1 natural ... 3")
    p.add_argument("--blink-rate", type=float, default=1.0, help="0 none ... 1 natural ... 3")
    p.add_argument("--expression", type=float, default=1.0, help="brows and smile, 0 ... 3")
    p.add_argument(
        "--transcript", default=None, help="the words spoken (English): aligns lips exactly"
    )
    p.add_argument("--language", default="en", help="language of the speech, e.g. en, ja, zh, es")
    p.add_argument("--preset", default="balanced", choices=["fast", "balanced", "quality"])
    p.add_argument("--max-audio-minutes", type=float, default=10.0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _settings_from(args: argparse.Namespace):
    from avatar.settings import GenerationSettings

    return GenerationSettings(
        fps=args.fps,
        size=args.size,
        seed=args.seed,
        head_motion=args.head_motion,
        blink_rate=args.blink_rate,
        expression=args.expression,
        face_index=args.face_index,
        language=args.language,
        transcript=args.transcript,
        preset=args.preset,
        max_audio_seconds=args.max_audio_minutes * 60.0,
        overwrite=args.overwrite,
    )


def cmd_generate(args: argparse.Namespace) -> int:
    from pipelines import STAGE_LABELS, STAGES, TalkingPortraitPipeline

    settings = _settings_from(args)
    if Path(args.output).exists() and not args.overwrite:
        raise AvatarError(f"{args.output} already exists; pass --overwrite to replace it.")
    bar = _StageBar(STAGES, STAGE_LABELS, disable=args.quiet)
    try:
        result = TalkingPortraitPipeline()(
            args.image, args.audio, settings, output=args.output, progress=bar.update
        )
    finally:
        bar.close()
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    t = result.timings
    print(
        f"wrote {result.video_path} ({result.size[0]}×{result.size[1]}, {result.n_frames} frames, "
        f"{result.audio_duration:.2f} s) in {t['total']:.1f} s"
    )
    return 0


class _StageBar:
    """One tqdm bar per run; its description names the stage in progress."""

    def __init__(self, stages, labels, disable: bool):
        from tqdm import tqdm

        self.stages = list(stages)
        self.labels = labels
        self.bar = tqdm(
            total=100 * len(self.stages),
            disable=disable,
            unit="%",
            file=sys.stderr,
            bar_format="{desc:<28} {percentage:3.0f}%|{bar}| {elapsed}",
        )
        self.current = None

    def update(self, stage: str, fraction: float) -> None:
        if stage != self.current:
            self.current = stage
            self.bar.set_description_str(self.labels.get(stage, stage))
        done = 100 * self.stages.index(stage) + int(100 * fraction)
        self.bar.update(max(0, done - self.bar.n))

    def close(self) -> None:
        self.bar.close()


def cmd_eval(args: argparse.Namespace) -> int:
    from avatar.eval import evaluate_video

    report = evaluate_video(args.video, audio_path=args.audio, source_image=args.source)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=float))
    else:
        print(report.format_table())
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from avatar.bench import run_benchmark

    run_benchmark(
        image=args.image,
        audio=args.audio,
        seconds=args.seconds,
        sizes=args.sizes,
        out_dir=args.out,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avatar", description="Talking-portrait generator.", epilog=EPILOG
    )
    parser.add_argument("--verbose", "-v", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="photo + voice-over -> talking-head mp4")
    _generate_args(gen)
    gen.set_defaults(func=cmd_generate)

    ev = sub.add_parser("eval", help="measure lip sync, blinks, head motion and container facts")
    ev.add_argument("video")
    ev.add_argument(
        "--audio", default=None, help="audio to compare with (default: the video's own)"
    )
    ev.add_argument("--source", default=None, help="the source portrait (for background stability)")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_eval)

    be = sub.add_parser("bench", help="per-stage speed and memory")
    be.add_argument("--image", default=None)
    be.add_argument("--audio", default=None)
    be.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0])
    be.add_argument("--sizes", nargs="+", default=["512", "native"])
    be.add_argument("--out", default=None, help="folder for the benchmark videos (default: temp)")
    be.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GLOG_minloglevel", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    try:
        return args.func(args)
    except AvatarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; no output was written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
