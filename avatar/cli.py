"""`avatar` command line: generate | eval | eval-suite | weights | bench."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from avatar.errors import AvatarError

EPILOG = "Every command prints one clear sentence and exits non-zero on bad input."


def _generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", default=None, help="portrait photo (jpg, png, webp, ...)")
    p.add_argument(
        "--video",
        default=None,
        help="dub this video instead of animating a photo (re-syncs its mouth with Wav2Lip)",
    )
    said = p.add_mutually_exclusive_group(required=True)
    said.add_argument("--audio", help="voice-over (wav, mp3, m4a, ogg, flac, or a video)")
    said.add_argument("--text", help="a script to speak with espeak-ng (exact lip timings)")
    said.add_argument("--script", metavar="FILE", help="a text file to speak, like --text")
    p.add_argument(
        "--voice", default=None, help="espeak-ng voice, e.g. en-us, es, ja (`avatar voices`)"
    )
    p.add_argument("--rate", type=int, default=175, help="speaking rate, words per minute")
    p.add_argument("--pitch", type=int, default=50, help="voice pitch, 0 ... 50 normal ... 100")
    p.add_argument("--label", action="store_true", help='draw a visible "AI-generated" label')
    p.add_argument(
        "--label-position",
        default="bottom-right",
        choices=["top-left", "top-right", "bottom-left", "bottom-right"],
    )
    p.add_argument(
        "--label-size", type=float, default=0.05, help="label text height, fraction of the frame"
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
        "--motion",
        choices=["procedural", "diffusion"],
        default=None,
        help="motion engine (default: diffusion when its weights are installed)",
    )
    p.add_argument(
        "--transcript", default=None, help="the words spoken (English): aligns lips exactly"
    )
    p.add_argument(
        "--language",
        "--lang",
        default=None,
        help="language of the speech, e.g. en, ja, zh, es (default en, or the --voice's)",
    )
    p.add_argument("--preset", default="balanced", choices=["fast", "balanced", "quality"])
    p.add_argument("--max-audio-minutes", type=float, default=10.0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument(
        "--refine",
        choices=["wav2lip", "wav2lip_gan"],
        default=None,
        help="Wav2Lip mouth refinement (downloaded weights, non-commercial licence)",
    )
    p.add_argument(
        "--wav2lip-checkpoint",
        default=None,
        metavar="PATH",
        help="a local Wav2Lip .pth file instead of the download (implies --refine wav2lip)",
    )
    p.add_argument(
        "--wav2lip-boxes",
        choices=["landmarks", "sfd"],
        default=None,
        help="the Wav2Lip crop: our landmarks (default) or face-alignment's S3FD detector, "
        'whose boxes Wav2Lip was trained on (pip install -e ".[fan]"; downloads on first use)',
    )
    p.add_argument(
        "--renderer",
        choices=["warp", "neural"],
        default="warp",
        help="warp: fast CPU mesh warp; neural: photoreal LivePortrait networks (GPU, weights)",
    )
    p.add_argument(
        "--liveportrait-dir",
        default=None,
        metavar="DIR",
        help="LivePortrait weights laid out like the Hugging Face repo (implies --renderer neural)",
    )


def _settings_from(args: argparse.Namespace):
    from avatar.settings import GenerationSettings

    return GenerationSettings(
        fps=args.fps,
        size=args.size,
        seed=args.seed,
        head_motion=args.head_motion,
        blink_rate=args.blink_rate,
        expression=args.expression,
        **({"motion": args.motion} if getattr(args, "motion", None) else {}),
        face_index=args.face_index,
        language=args.language or "en",
        transcript=args.transcript,
        preset=args.preset,
        max_audio_seconds=args.max_audio_minutes * 60.0,
        overwrite=args.overwrite,
        refine=getattr(args, "refine", None),
        wav2lip_checkpoint=getattr(args, "wav2lip_checkpoint", None),
        wav2lip_boxes=getattr(args, "wav2lip_boxes", None) or "landmarks",
        renderer=getattr(args, "renderer", None) or "warp",
        liveportrait_dir=getattr(args, "liveportrait_dir", None),
        label=getattr(args, "label", False),
        label_position=getattr(args, "label_position", "bottom-right"),
        label_size=getattr(args, "label_size", 0.05),
    )


def _script_text(args: argparse.Namespace) -> str | None:
    """The words of --text or --script FILE, or None when a voice-over is given."""
    if getattr(args, "script", None):
        try:
            return Path(args.script).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AvatarError(f"Cannot read the script file {args.script}: {exc}.") from exc
    return getattr(args, "text", None)


def cmd_generate(args: argparse.Namespace) -> int:
    from pipelines import STAGE_LABELS, TalkingPortraitPipeline, stages_for

    if (args.image is None) == (getattr(args, "video", None) is None):
        raise AvatarError("Give either a portrait with --image or a video to dub with --video.")
    settings = _settings_from(args)
    if Path(args.output).exists() and not args.overwrite:
        raise AvatarError(f"{args.output} already exists; pass --overwrite to replace it.")
    text = _script_text(args)
    if args.video is not None and text is not None:
        raise AvatarError("Dubbing a video (--video) needs a voice-over file: use --audio.")
    audio, phones = args.audio, None
    if text is not None:
        from avatar.speech.tts import synthesize

        spoken = synthesize(
            text, voice=args.voice, language=args.language, rate=args.rate, pitch=args.pitch
        )
        audio, phones = spoken.speech, spoken.phones
        settings = settings.updated(language=args.language or phones.language)
    if args.video is not None:
        from pipelines.dubbing import DUB_STAGE_LABELS, DUB_STAGES, DubbingPipeline

        bar = _StageBar(DUB_STAGES, DUB_STAGE_LABELS, disable=args.quiet)
        run = lambda: DubbingPipeline()(  # noqa: E731
            args.video, args.audio, settings, output=args.output, progress=bar.update
        )
    else:
        bar = _StageBar(stages_for(settings), STAGE_LABELS, disable=args.quiet)
        run = lambda: TalkingPortraitPipeline()(  # noqa: E731
            args.image, audio, settings, output=args.output, progress=bar.update, phones=phones
        )
    try:
        result = run()
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


def cmd_voices(args: argparse.Namespace) -> int:
    from avatar.speech.tts import list_voices

    for v in list_voices():
        print(f"{v.name:<24} {v.description}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from avatar.system import capabilities, format_capabilities

    items = capabilities()
    if args.json:
        print(json.dumps([dataclasses.asdict(c) for c in items], indent=2))
    else:
        print(format_capabilities(items))
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from avatar import live_tools
    from avatar.audio import load_audio
    from avatar.errors import OutputError
    from avatar.live import LiveAvatar

    if args.output is None and args.serve is None:
        raise AvatarError("Say where the live avatar goes: --output rec.mp4 or --serve PORT.")
    if args.output is not None and not Path(args.output).resolve().parent.is_dir():
        raise OutputError(f"The folder for {args.output} does not exist.")
    if args.mic and args.audio:
        raise AvatarError("Take the voice from --audio or from --mic, not both.")
    speech = load_audio(args.audio) if args.audio else None
    seconds = args.seconds if speech is None else speech.duration + 1.0
    live = LiveAvatar(args.image, size=args.size, fps=args.fps, seed=args.seed)
    mic = None
    try:
        if args.mic:
            mic = live_tools.open_microphone(live)
        if speech is not None:
            live_tools.feed_in_real_time(
                live, speech.samples.astype("float32"), then_close_after=None
            )
        if args.serve is not None:
            print(f"serving the live avatar at http://127.0.0.1:{args.serve}/", file=sys.stderr)
            live_tools.serve(live, args.serve, seconds)
        else:
            path = live_tools.record(live, args.output, speech, seconds)
            print(f"wrote {path}")
    finally:
        if mic is not None:
            mic.close()
        live.close()
    s = live.stats
    lat = sorted(s.latencies_s)
    median = f"{1000 * lat[len(lat) // 2]:.0f} ms" if lat else "-"
    print(
        f"{s.frames} frames, {s.skipped} ticks skipped, longest gap "
        f"{1000 * s.max_interval_s:.0f} ms, sound-to-mouth latency (median) {median}",
        file=sys.stderr,
    )
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from avatar.batch import run_batch

    report = run_batch(args.jobs, args.out, quiet=args.quiet, workers=args.workers, ray=args.ray)
    print(report.table())
    return 0 if report.ok else 1


def cmd_eval(args: argparse.Namespace) -> int:
    from avatar.eval import evaluate_video

    videos = ([args.video] if args.video else []) + list(args.compare or [])
    if not videos:
        raise AvatarError("Name a video to evaluate: avatar eval VIDEO [--compare OTHER].")
    if len(videos) > 2:
        raise AvatarError("--compare puts two videos side by side: give exactly two.")
    motion = None
    if args.motion:
        from avatar.eval.sheet import load_motion

        if not args.sheet:
            raise AvatarError("--motion picks the frames of the contact sheet: add --sheet PNG.")
        motion = load_motion(args.motion)
    reports = [
        evaluate_video(
            v,
            audio_path=args.audio,
            source_image=args.source,
            syncnet_weights=args.syncnet_weights,
            download_weights=args.lse,
            lse=not args.no_lse,
            tracker=args.tracker,
        )
        for v in videos
    ]
    if args.report:
        from avatar.eval.report import write_report

        path = write_report(reports, args.report)
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        data = [r.to_dict() for r in reports]
        print(json.dumps(data[0] if len(data) == 1 else data, indent=2, default=float))
    else:
        print("\n\n".join(r.format_table() for r in reports))
    if args.sheet:  # after the numbers, so a faceless video still prints them
        _write_sheets(args, reports, motion)
    return 0


def _write_sheets(args: argparse.Namespace, reports: list, motion) -> None:
    """One contact sheet per evaluated video (the second gets a "-compare" suffix)."""
    from avatar.eval.sheet import write_sheet

    for k, report in enumerate(reports):
        out = Path(args.sheet)
        if k:
            out = out.with_name(f"{out.stem}-compare{out.suffix}")
        sheet = write_sheet(
            report.video,
            report.track,
            out,
            source=args.source,
            motion=motion if k == 0 else None,
            title=Path(report.video).name,
        )
        for note in sheet.notes:
            print(f"sheet: {note}", file=sys.stderr)
        print(f"wrote {sheet.path}", file=sys.stderr)


def cmd_eval_suite(args: argparse.Namespace) -> int:
    from avatar.eval.suite import run_suite

    result = run_suite(
        out_dir=args.out,
        quick=args.quick,
        data_dir=args.data,
        syncnet_weights=args.syncnet_weights,
        progress=None if args.quiet else lambda msg: print(msg, file=sys.stderr),
    )
    print(result.markdown)
    print(f"\nwrote {result.markdown_path} and {result.json_path}", file=sys.stderr)
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    from avatar import weights

    if args.action == "list":
        print(f"{'name':<24} {'status':<11} {'size':<12} {'licence':<42} used by")
        for r in weights.status():
            state = "downloaded" if r["downloaded"] else "missing"
            print(f"{r['name']:<24} {state:<11} {r['size']:<12} {r['license']:<42} {r['used_by']}")
        print(f"cache: {weights.cache_dir()}; groups: {', '.join(weights.GROUPS)}")
        _list_face_alignment()
        return 0
    if FACE_ALIGNMENT in args.names:
        return _face_alignment_weights(args)
    if args.action == "path" and args.names == ["liveportrait"]:
        print(weights.liveportrait_dir())  # the folder the neural renderer loads
        return 0
    names = weights.expand(args.names) or (
        list(weights.REGISTRY) if args.action == "verify" else []
    )
    if not names:
        raise AvatarError(f"Name the weights to {args.action}: {', '.join(weights.REGISTRY)}.")
    accepted: dict[str, bool] = {}  # licence text -> answer: a group's licence is asked once

    def ask_once(spec) -> bool:
        if spec.license_text not in accepted:
            accepted[spec.license_text] = _ask_licence(spec)
        return accepted[spec.license_text]

    for name in names:
        if args.action == "path":
            print(weights.resolve(name))
        elif args.action == "verify":
            if not args.names and weights.cached_path(name) is None:
                print(f"{name}: not downloaded")
                continue
            path = weights.verify(name, progress=not args.quiet)
            print(f"{name}: ok, sha256 matches ({path})")
        else:
            path = weights.download(
                name,
                accept_license=True if args.accept_license else ask_once,
                force=args.force,
                progress=not args.quiet,
            )
            print(f"{name}: {path}")
    return 0


FACE_ALIGNMENT = "face-alignment"


def _list_face_alignment() -> None:
    """face-alignment's own downloads (torch.hub's folder, not the Hugging Face cache)."""
    try:
        from avatar.face import fan

        rows = fan.weights_status()
    except ImportError:  # no PyTorch: face-alignment cannot be used either
        return
    for r in rows:
        state = "downloaded" if r["cached"] else "missing"
        size = f"{r['size'] / 1e6:.1f} MB" if r["size"] else "-"
        print(
            f"{FACE_ALIGNMENT:<24} {state:<11} {size:<12} {'BSD-3-Clause (face-alignment)':<42} "
            f"{r['title']}: --wav2lip-boxes sfd, avatar eval --tracker fan"
        )
    print(f"face-alignment's own folder: {fan.weights_dir()}")


def _face_alignment_weights(args: argparse.Namespace) -> int:
    """`avatar weights download|verify|path face-alignment`: face-alignment's own mechanism."""
    from avatar.face import fan

    if args.names != [FACE_ALIGNMENT]:
        raise AvatarError(f"Name {FACE_ALIGNMENT} on its own: its files are not on the Hub.")
    if args.action == "path":
        print(fan.weights_dir())
        return 0
    paths = fan.download_weights() if args.action == "download" else fan.verify_weights()
    for path in paths:
        print(f"{FACE_ALIGNMENT}: ok, sha256 prefix matches ({path})")
    return 0


def _ask_licence(spec) -> bool:
    """Show the licence; on a terminal ask, elsewhere --accept-license is needed."""
    print(f"{spec.title} weights: {spec.filename} ({spec.size_text}) from {spec.url}")
    print(f"Licence: {spec.license_text}")
    if not sys.stdin.isatty():
        return False
    answer = input("Accept this licence and download? [y/N] ").strip().lower()
    return answer in ("y", "yes")


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


def cmd_train_closure(args: argparse.Namespace) -> int:
    from avatar.speech.closure_training import train_closure

    extra = []
    for audio, text in args.extra or []:
        p = Path(text)
        extra.append((audio, p.read_text(encoding="utf-8") if p.is_file() else text))
    summary = train_closure(
        args.data,
        args.out,
        seed=args.seed,
        epochs=args.epochs,
        extra=extra,
        holdout=args.holdout or [],
        espeak=not args.no_espeak,
    )
    print(json.dumps(summary, indent=2))
    return 0


def cmd_train_motion(args: argparse.Namespace) -> int:
    from avatar.motion.diffusion.train import TrainConfig, train

    cfg = TrainConfig(
        data=args.data,
        out=args.out,
        cache=args.cache,
        n_synthetic=args.synthetic,
        steps=args.steps,
        batch=args.batch,
        seed=args.seed,
        size=args.size,
        threads=args.threads,
        limit=args.limit,
        max_minutes=args.max_minutes,
    )
    summary = train(cfg, progress=print)
    print(json.dumps({k: summary[k] for k in ("corpus", "params", "steps", "wall_seconds")}))
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

    ba = sub.add_parser("batch", help="one video per row of a CSV or YAML jobs file")
    ba.add_argument("jobs", help="jobs.csv or jobs.yaml: image, text or audio, voice, lang, output")
    ba.add_argument(
        "--out",
        required=True,
        help="folder or fsspec URL for the videos (s3://bucket/prefix, gs://...); outputs stay inside",
    )
    ba.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="ADDRESS",
        help="render on Ray: 'auto' (RAY_ADDRESS, else a local Ray on 127.0.0.1) or a cluster address",
    )
    ba.add_argument(
        "--workers",
        type=int,
        default=None,
        help="rows rendered at once: local processes (default: one per core, as memory allows; "
        "1 renders in this process), or Ray tasks (default: the cluster's CPUs / --cpus-per-row)",
    )
    ba.add_argument(
        "--cpus-per-row",
        type=float,
        default=1.0,
        help="CPUs each Ray task reserves (and threads it uses); default 1",
    )
    ba.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    ba.set_defaults(func=cmd_batch)

    vo = sub.add_parser("voices", help="list the espeak-ng voices for --voice")
    vo.set_defaults(func=cmd_voices)

    lv = sub.add_parser("live", help="a live avatar: a voice in real time, frames out")
    lv.add_argument("--image", required=True)
    lv.add_argument("--audio", default=None, help="a voice-over played in real time (else silence)")
    lv.add_argument("--mic", action="store_true", help="the default microphone, live")
    lv.add_argument("--output", "-o", default=None, help="record the stream to this mp4")
    lv.add_argument("--serve", type=int, default=None, metavar="PORT",
                    help="show it in a browser: MJPEG on http://127.0.0.1:PORT/")  # fmt: skip
    lv.add_argument("--seconds", type=float, default=10.0, help="how long, unless --audio")
    lv.add_argument("--size", type=int, default=512)
    lv.add_argument("--fps", type=float, default=25.0)
    lv.add_argument("--seed", type=int, default=0)
    lv.set_defaults(func=cmd_live)

    info = sub.add_parser(
        "info", help="what this install uses: PyTorch build, GPU, xformers, models"
    )
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)

    ev = sub.add_parser("eval", help="measure lip sync, blinks, head motion and container facts")
    ev.add_argument("video", nargs="?", default=None)
    ev.add_argument(
        "--compare",
        nargs="+",
        metavar="VIDEO",
        default=None,
        help="a second video to put side by side (or two: --compare A B)",
    )
    ev.add_argument("--report", metavar="DIR", default=None, help="write report.md + plots here")
    ev.add_argument(
        "--syncnet-weights",
        metavar="PATH",
        default=None,
        help="syncnet_v2.model for LSE-D/LSE-C (default: the downloaded copy, if any)",
    )
    ev.add_argument(
        "--lse", action="store_true", help="download the SyncNet weights if they are missing"
    )
    ev.add_argument("--no-lse", action="store_true", help="skip LSE-D/LSE-C")
    ev.add_argument(
        "--tracker",
        choices=["mediapipe", "fan"],
        default="mediapipe",
        help="landmarks to measure with: MediaPipe FaceMesh (default) or face-alignment's "
        '68-point FAN (pip install -e ".[fan]"; downloads its weights on first use)',
    )
    ev.add_argument(
        "--audio", default=None, help="audio to compare with (default: the video's own)"
    )
    ev.add_argument(
        "--source", default=None, help="the source portrait (background stability, identity)"
    )
    ev.add_argument(
        "--sheet", metavar="PNG", default=None, help="write a contact sheet of telling frames"
    )
    ev.add_argument(
        "--motion", metavar="NPZ", default=None, help="pick sheet frames from a saved Motion"
    )
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_eval)

    es = sub.add_parser(
        "eval-suite", help="generate the fixed portrait x speech matrix and tabulate its metrics"
    )
    es.add_argument("--out", default="out/eval-suite", help="folder for videos and tables")
    es.add_argument("--quick", action="store_true", help="one portrait, one clip (CI size)")
    es.add_argument("--data", default=None, help="the shared data folder (default: ../shared/data)")
    es.add_argument("--syncnet-weights", metavar="PATH", default=None)
    es.add_argument("--quiet", "-q", action="store_true")
    es.set_defaults(func=cmd_eval_suite)

    we = sub.add_parser("weights", help="list, download, verify or locate downloadable weights")
    we.add_argument("action", choices=["list", "download", "verify", "path"])
    we.add_argument(
        "names", nargs="*", help="registered weights or groups, e.g. wav2lip_gan, liveportrait"
    )
    we.add_argument(
        "--accept-license", action="store_true", help="accept the weights' licence (download)"
    )
    we.add_argument("--force", action="store_true", help="download again even if cached")
    we.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    we.set_defaults(func=cmd_weights)

    be = sub.add_parser("bench", help="per-stage speed and memory")
    be.add_argument("--image", default=None)
    be.add_argument("--audio", default=None)
    be.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0])
    be.add_argument("--sizes", nargs="+", default=["512", "native"])
    be.add_argument("--out", default=None, help="folder for the benchmark videos (default: temp)")
    be.set_defaults(func=cmd_bench)

    tc = sub.add_parser("train-closure", help="retrain the lip-closure network (needs torch)")
    tc.add_argument("--data", required=True, help="folder of clips with GRID .align files")
    tc.add_argument("--out", default="weights/lip_closure", help="model folder to write")
    tc.add_argument("--seed", type=int, default=0)
    tc.add_argument("--epochs", type=int, default=30)
    tc.add_argument("--holdout", action="append", metavar="GLOB", help="clips to evaluate only")
    tc.add_argument(
        "--extra", nargs=2, action="append", metavar=("AUDIO", "TRANSCRIPT"), help="more speech"
    )
    tc.add_argument("--no-espeak", action="store_true", help="no espeak-ng sentences")
    tc.set_defaults(func=cmd_train_closure)

    tm = sub.add_parser("train-motion", help="train the motion diffusion model (needs torch)")
    tm.add_argument("--data", default=None, help="folder of talking-head videos (mp4/mpg/...)")
    tm.add_argument("--out", default="weights/motion-diffusion", help="model folder to write")
    tm.add_argument("--cache", default=None, help="extracted-clip cache (default ~/.cache/...)")
    tm.add_argument("--synthetic", type=int, default=600, help="synthetic espeak-ng clips")
    tm.add_argument("--steps", type=int, default=2400)
    tm.add_argument("--batch", type=int, default=32)
    tm.add_argument("--seed", type=int, default=0)
    tm.add_argument("--size", default="small", choices=["small", "debug"])
    tm.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    tm.add_argument("--limit", type=int, default=None, help="use at most N videos")
    tm.add_argument("--max-minutes", type=float, default=None, help="stop training early")
    tm.set_defaults(func=cmd_train_motion)
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
