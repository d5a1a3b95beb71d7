"""Realism per portrait: render one real speech clip on every portrait and measure it.

    python benchmarks/bench_portraits.py                      # all of shared/data/portraits
    python benchmarks/bench_portraits.py --only luciano hopper --seconds 3
    python benchmarks/bench_portraits.py --head-sweep         # yaw +-15, pitch +-10 extremes

Per portrait (default settings, native size): identity (dlib distance to the source,
mean over sampled frames), background PSNR farther than 1.5 face widths from the face
centre (each frame against the source photo at the output resolution), the fraction
of frames where the independent tracker finds the face, lip-sync r (mouth opening vs
speech-band log-RMS, lag 0), renderer ms/frame, whole-pipeline wall and real-time
factor, the head yaw/pitch range the tracker saw and, when the renderer counts them
(``WarpRenderer.last_folds``), the fraction of frames with flipped mesh triangles.
Prints a Markdown table, writes a contact sheet per portrait and a JSON of the numbers.

``--head-sweep`` renders a built Motion (yaw 0 -> +15 -> -15 -> 0, then pitch +10 ->
-10 -> 0) without speech, saves the extreme frames next to the source and measures
what the tracker reads there, the background PSNR and the folds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from avatar.errors import AvatarError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PORTRAITS = SHARED / "portraits"
AUDIO = SHARED / "speech" / "en_male_clean_voicebank_p287_003.wav"

IDENTITY_MAX = 0.30
BACKGROUND_MIN_DB = 40.0
FOUND_MIN = 0.99
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


@dataclass
class PortraitResult:
    """The numbers of one portrait (NaN/None where not measured)."""

    portrait: str
    size: str = ""
    frames: int = 0
    identity: float = math.nan
    identity_worst: float = math.nan
    identity_open: float = math.nan  # the same over frames with both eyes open
    identity_floor: float = math.nan  # the still photo encoded alike, measured the same way
    background_psnr: float = math.nan
    background_floor: float = math.nan  # the same region of the still photo, encoded alike
    background_raw: float = math.nan  # the renderer's frames before encoding (inf: unchanged)
    face_found: float = math.nan
    lipsync_r0: float = math.nan
    render_ms: float = math.nan
    wall_s: float = math.nan
    rtf: float = math.nan
    yaw_min: float = math.nan
    yaw_max: float = math.nan
    pitch_min: float = math.nan
    pitch_max: float = math.nan
    fold_frames: float | None = None  # fraction of frames with >= 1 flipped triangle
    max_folds: int | None = None
    fold_examples: list[int] = field(default_factory=list)  # first frames with folds
    sheet: str = ""
    details: str = ""
    video: str = ""
    notes: list[str] = field(default_factory=list)


class FoldCounter:
    """Wraps a renderer and tallies ``last_folds`` (flipped triangles) after every frame.

    ``None`` counts mean the renderer does not expose the check (yet).
    """

    def __init__(self, renderer) -> None:
        self._inner = renderer
        self.counts: list[int] = []
        self.exposed = True

    def render(self, frame):
        out = self._inner.render(frame)
        folds = getattr(self._inner, "last_folds", None)
        if folds is None:
            self.exposed = False
        else:
            self.counts.append(int(folds))
        return out

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def summary(self) -> tuple[float | None, int | None]:
        if not self.exposed or not self.counts:
            return None, None
        c = np.asarray(self.counts)
        return float(np.mean(c > 0)), int(c.max())


def _fmt(v, spec: str) -> str:
    return (
        "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)
    )


def _mark(ok: bool | None) -> str:
    return "" if ok is None else ("" if ok else " ✗")


def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def markdown_table(rows: list[PortraitResult], before: dict[str, dict] | None = None) -> str:
    """The README table: one row per portrait, ✗ marks a missed target.

    ``before`` (portrait -> numbers of an earlier run, e.g. the renderer before a change)
    adds that run's lip-sync r in brackets, since the target is "not worse than before".
    """
    before = before or {}
    head = (
        "| portrait | size | identity ≤ 0.30 (eyes open; still-encode floor) | background ≥ 40 dB: renderer | encoded (still-encode floor) "
        "| face found ≥ 99 % "
        f"| lip-sync r{' (before)' if before else ''} | render ms/frame | wall s (RTF) | yaw min/max ° | pitch min/max ° "
        "| frames with folds |\n|" + "---|" * 12
    )
    lines = [head]
    for r in rows:
        ident = _fmt(r.identity, ".3f") + _mark(
            r.identity <= IDENTITY_MAX if _finite(r.identity) else None
        )
        ident += f" ({_fmt(r.identity_open, '.3f')}; {_fmt(r.identity_floor, '.3f')})"
        raw = "∞" if r.background_raw == math.inf else _fmt(r.background_raw, ".1f")
        raw += _mark(r.background_raw >= BACKGROUND_MIN_DB if _finite(r.background_raw) else None)
        bg = f"{_fmt(r.background_psnr, '.1f')} ({_fmt(r.background_floor, '.1f')})"
        found = _fmt(100 * r.face_found, ".1f") + _mark(
            r.face_found >= FOUND_MIN if _finite(r.face_found) else None
        )
        lip = _fmt(r.lipsync_r0, ".2f")
        if before:
            lip += f" ({_fmt(before.get(r.portrait, {}).get('lipsync_r0'), '.2f')})"
        folds = (
            "n/a" if r.fold_frames is None else f"{100 * r.fold_frames:.1f} % (max {r.max_folds})"
        )
        lines.append(
            f"| {r.portrait} | {r.size} | {ident} | {raw} | {bg} | {found} | {lip} "
            f"| {_fmt(r.render_ms, '.1f')} | {_fmt(r.wall_s, '.1f')} ({_fmt(r.rtf, '.2f')}) "
            f"| {_fmt(r.yaw_min, '+.1f')} / {_fmt(r.yaw_max, '+.1f')} "
            f"| {_fmt(r.pitch_min, '+.1f')} / {_fmt(r.pitch_max, '+.1f')} | {folds} |"
        )
    return "\n".join(lines)


def _short(name: str) -> str:
    return Path(name).stem


class SavedMotion:
    """A motion generator that replays motions saved by an earlier run (``--motion-from``),
    so two renderers can be compared on exactly the same motion."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.portrait = ""

    def __call__(self, features, mouth, controls):
        from avatar.eval.sheet import load_motion

        motion = load_motion(self.folder / f"{self.portrait}.motion.npz")
        n = len(mouth["jaw_open"])  # the frames this voice-over needs
        if len(motion) != n:
            raise AvatarError(f"The saved motion of {self.portrait} has another length ({n}).")
        return motion


def _pipeline_with_folds(counters: list[FoldCounter], motion: SavedMotion | None = None):
    from avatar.render import WarpRenderer
    from pipelines import TalkingPortraitPipeline

    def make(rig, **kwargs):
        counter = FoldCounter(WarpRenderer(rig, **kwargs))
        counters.append(counter)
        return counter

    if motion is None:
        return TalkingPortraitPipeline(renderer_cls=make)
    return TalkingPortraitPipeline(renderer_cls=make, motion_generator=motion)


def run_portrait(
    pipe, counters: list[FoldCounter], image: Path, speech, out_dir: Path, sheets: Path, settings
) -> PortraitResult:
    """Render, evaluate and sheet one portrait."""
    from avatar.eval import evaluate_video
    from avatar.eval.sheet import save_motion, write_details, write_sheet

    res = PortraitResult(portrait=_short(image.name))
    video = out_dir / f"{res.portrait}.mp4"
    t0 = time.perf_counter()
    try:
        rig = pick_face(image, settings, res.notes)
        out = pipe(image, speech, settings, output=video, rig=rig)
    except AvatarError as exc:
        res.notes.append(f"not rendered: {exc}")
        return res
    res.wall_s = time.perf_counter() - t0
    res.rtf = res.wall_s / out.audio_duration if out.audio_duration else math.nan
    res.frames = out.n_frames
    res.size = f"{out.size[0]}×{out.size[1]}"
    res.render_ms = 1000 * out.timings["render"] / max(out.n_frames, 1)
    res.video = str(video)
    res.notes += out.notices
    res.fold_frames, res.max_folds = counters[-1].summary()
    res.fold_examples = [i for i, c in enumerate(counters[-1].counts) if c > 0][:20]
    save_motion(out.motion, out_dir / f"{res.portrait}.motion.npz")

    # Several faces: follow the animated one (FaceMesh alone may lock onto another).
    near = None
    if rig.n_faces > 1:
        x0, y0, x1, y1 = rig.box
        near = ((x0 + x1) / 2, (y0 + y1) / 2)
    # Small faces in a group need more pixels than the tracker's default 512-px pass.
    max_side = 512 if near is None else 1280
    rep = evaluate_video(video, source_image=image, lse=False, face_near=near, max_side=max_side)
    res.identity, res.identity_worst = rep.identity_distance, rep.identity_worst
    res.identity_open = rep.identity_open_eyes
    res.background_psnr = rep.background_psnr
    res.face_found = rep.face_found_fraction
    res.lipsync_r0 = rep.lipsync_r0
    tr = rep.track
    if tr is not None and np.isfinite(tr.yaw).any():
        res.yaw_min, res.yaw_max = float(np.nanmin(tr.yaw)), float(np.nanmax(tr.yaw))
        res.pitch_min, res.pitch_max = float(np.nanmin(tr.pitch)), float(np.nanmax(tr.pitch))
    res.notes += rep.notes
    if tr is not None and tr.found.any():
        still = out_dir / f"{res.portrait}.still.mp4"
        res.background_floor = still_floor(image, tr, settings, still)
        res.identity_floor = evaluate_video(
            still, source_image=image, lse=False, face_near=near, max_side=max_side
        ).identity_distance
        res.background_raw = renderer_background(rig, out.motion, tr, settings)
        sheet = write_sheet(
            video, tr, sheets / f"{res.portrait}.png", source=image, title=res.portrait
        )
        res.sheet = str(sheet.path)
        res.notes += sheet.notes
        details = write_details(
            video, tr, sheet.picks, sheets / f"{res.portrait}.details.png", source=image
        )
        res.details = str(details) if details else ""
    return res


def renderer_background(rig, motion, track, settings) -> float:
    """Background PSNR of the renderer's own frames, before encoding.

    The encoded value mixes the renderer with H.264's loss (see ``still_floor``); this
    replays the same motion through a fresh renderer and compares each raw frame with the
    photo in the same region as the video metric (per frame: farther than 1.5 tracked face
    widths from the tracked face centre). ``inf`` means not one pixel there changed.
    """
    from avatar.eval.metrics import BACKGROUND_FACE_WIDTHS
    from avatar.render import WarpRenderer

    renderer = WarpRenderer(rig, size=settings.size, grid_max=settings.grid)
    source = renderer.canvas[::2, ::2].astype(np.float32)
    h, w = renderer.canvas.shape[:2]
    if (w, h) != (track.width, track.height):
        return math.nan
    yy, xx = np.mgrid[0:h:2, 0:w:2]
    sq_sum, count = 0.0, 0
    for i in range(min(len(motion), track.n_frames)):
        frame = renderer.render(motion.values[i])
        if not track.found[i]:
            continue
        cx, cy = track.center[i]
        radius = BACKGROUND_FACE_WIDTHS * float(track.face_width[i])
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 > radius**2
        if mask.sum() < 0.02 * mask.size:
            continue
        diff = frame[::2, ::2][mask].astype(np.float32) - source[mask]
        sq_sum += float(np.sum(diff * diff))
        count += diff.size
    if count == 0:
        return math.nan
    mse = sq_sum / count
    return 10 * math.log10(255**2 / mse) if mse > 0 else math.inf


def still_floor(image: Path, track, settings, path: Path, n_frames: int = 8) -> float:
    """Background PSNR of the source photo alone, encoded like the output (x264 crf/preset).

    The limit of the background metric: what H.264 itself costs in the same region
    (farther than 1.5 median face widths from the median face centre), with no rendering.
    """

    from avatar.eval.metrics import BACKGROUND_FACE_WIDTHS, _load_source, source_at_video_size
    from avatar.eval.tracker import _open_frames
    from avatar.video import VideoWriter

    w, h = track.width, track.height
    src = np.ascontiguousarray(source_at_video_size(_load_source(image), w, h))
    with VideoWriter(
        path,
        fps=settings.fps,
        size=(w, h),
        audio=None,
        crf=settings.video_crf,
        preset=settings.x264_preset,
        overwrite=True,
    ) as writer:
        for _ in range(n_frames):
            writer.write(src)
    centre = np.nanmedian(track.center, axis=0)
    radius = BACKGROUND_FACE_WIDTHS * float(np.nanmedian(track.face_width))
    yy, xx = np.mgrid[0:h:2, 0:w:2]
    mask = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 > radius**2
    if mask.sum() < 0.02 * mask.size:
        return math.nan
    ref = src[::2, ::2][mask].astype(np.float32)
    meta, gen = _open_frames(path)
    mses = []
    try:
        for raw in gen:
            frame = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
            mses.append(float(np.mean((frame[::2, ::2][mask].astype(np.float32) - ref) ** 2)))
    finally:
        gen.close()
    mse = float(np.mean(mses)) if mses else math.nan
    return 10 * math.log10(255**2 / mse) if mse > 0 else math.inf


def pick_face(image: Path, settings, notes: list[str]):
    """The rig of the largest face that can be animated (a group's largest may look down)."""
    from avatar.errors import ExtremePoseError, FaceTooSmallError
    from avatar.face import analyze_portrait

    index, first_error = settings.face_index, None
    while True:
        try:
            rig = analyze_portrait(image, face_index=index)
        except (ExtremePoseError, FaceTooSmallError) as exc:
            first_error = first_error or exc
            index += 1
            continue
        except AvatarError:  # no face of that index: report why the largest failed
            if first_error is not None:
                raise first_error from None
            raise
        if index != settings.face_index:
            notes.append(
                f"face {settings.face_index} cannot be animated ({first_error}); used {index}"
            )
        return rig


def head_sweep_motion(fps: float = 25.0, seconds_per_leg: float = 1.0):
    """yaw 0 -> +15 -> -15 -> 0 then pitch 0 -> +10 -> -10 -> 0 (cosine eased legs)."""
    from avatar.motion.types import Motion

    n = max(2, round(fps * seconds_per_leg))
    ease = (1 - np.cos(np.linspace(0, np.pi, n, endpoint=False))) / 2

    def legs(points: list[float]) -> np.ndarray:
        return np.concatenate(
            [a + (b - a) * ease for a, b in zip(points[:-1], points[1:])] + [[points[-1]]]
        )

    yaw = legs([0.0, 15.0, 0.0, -15.0, 0.0])
    pitch = legs([0.0, 10.0, 0.0, -10.0, 0.0])
    motion = Motion.zeros(len(yaw) + len(pitch), fps)
    motion["yaw"] = np.concatenate([yaw, np.zeros_like(pitch)])
    motion["pitch"] = np.concatenate([np.zeros_like(yaw), pitch])
    return motion


def head_sweep(image: Path, out_dir: Path, sheets: Path, settings) -> dict:
    """Render the sweep, save the four extreme frames and measure them."""
    import cv2

    from avatar.eval import track_video
    from avatar.eval.metrics import BACKGROUND_FACE_WIDTHS
    from avatar.eval.sheet import crop_face
    from avatar.render import WarpRenderer
    from avatar.video import VideoWriter

    name = _short(image.name)
    notes: list[str] = []
    rig = pick_face(image, settings, notes)
    renderer = FoldCounter(WarpRenderer(rig, size=settings.size, grid_max=settings.grid))
    motion = head_sweep_motion(settings.fps)
    video = out_dir / f"{name}.sweep.mp4"
    source = renderer.canvas
    extremes = {
        "yaw +15": int(np.argmax(motion["yaw"])),
        "yaw -15": int(np.argmin(motion["yaw"])),
        "pitch +10": int(np.argmax(motion["pitch"])),
        "pitch -10": int(np.argmin(motion["pitch"])),
    }
    frames: dict[str, np.ndarray] = {}
    border_mad: dict[str, float] = {}
    with VideoWriter(
        video, fps=settings.fps, size=renderer.output_size, audio=None, overwrite=True
    ) as writer:
        for i in range(len(motion)):
            frame = renderer.render(motion.values[i])
            writer.write(frame)
            for label, k in extremes.items():
                if k == i:
                    frames[label] = frame.copy()
                    b = max(2, min(frame.shape[:2]) // 50)  # the outermost 2 % of the frame
                    ring = np.ones(frame.shape[:2], bool)
                    ring[b:-b, b:-b] = False
                    diff = frame[ring].astype(np.int16) - source[ring].astype(np.int16)
                    border_mad[label] = float(np.mean(np.abs(diff)))
    near, max_side = None, 512
    if rig.n_faces > 1:  # follow the animated face, as in run_portrait
        x0, y0, x1, y1 = rig.box
        near, max_side = ((x0 + x1) / 2, (y0 + y1) / 2), 1280
    track = track_video(video, face_near=near, max_side=max_side)
    fw = float(np.nanmedian(track.face_width))
    centre = np.nanmedian(track.center, axis=0)
    tiles = [crop_face(source, tuple(centre), fw * 1.3)]
    result = {"portrait": name, "video": str(video), "extremes": {}, "notes": notes}
    for label, k in extremes.items():
        frame = frames[label]
        h, w = frame.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        far = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 > (BACKGROUND_FACE_WIDTHS * fw) ** 2
        mse = float(np.mean((frame[far].astype(np.float32) - source[far]) ** 2)) if far.any() else 0
        psnr = 10 * math.log10(255**2 / mse) if mse > 0 else math.inf
        if not far.any():  # the face fills the frame: no background to compare
            psnr = math.nan
        result["extremes"][label] = {
            "frame": k,
            "tracked_yaw": float(track.yaw[k]) if k < track.n_frames else math.nan,
            "tracked_pitch": float(track.pitch[k]) if k < track.n_frames else math.nan,
            "background_psnr": psnr,
            "border_mad": border_mad[label],
        }
        png = (
            sheets
            / f"{name}.sweep_{label.replace(' ', '').replace('+', 'p').replace('-', 'm')}.png"
        )
        cv2.imwrite(str(png), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        result["extremes"][label]["png"] = str(png)
        tile = crop_face(frame, tuple(centre), fw * 1.3)
        cv2.putText(tile, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 0), 1)
        tiles.append(tile)
    strip = np.hstack(tiles)
    strip_path = sheets / f"{name}.sweep.png"
    cv2.imwrite(str(strip_path), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    result["strip"] = str(strip_path)
    result["fold_frames"], result["max_folds"] = renderer.summary()
    result["face_found"] = track.found_fraction
    result["yaw_range"] = [float(np.nanmin(track.yaw)), float(np.nanmax(track.yaw))]
    result["pitch_range"] = [float(np.nanmin(track.pitch)), float(np.nanmax(track.pitch))]
    return result


def _portraits(folder: Path, only: list[str] | None) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    if only:
        files = [p for p in files if any(o.lower() in p.name.lower() for o in only)]
    return files


def _json_ready(value):
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None  # (infinity stays: json writes and reads it as Infinity)
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--portraits", type=Path, default=PORTRAITS)
    p.add_argument("--only", nargs="+", help="substrings of the portrait file names to run")
    p.add_argument("--audio", type=Path, default=AUDIO)
    p.add_argument("--seconds", type=float, default=None, help="cut or loop the audio to this")
    p.add_argument("--sheets", type=Path, default=Path("/tmp/sheets"))
    p.add_argument("--out", type=Path, default=None, help="videos (default: a temp folder)")
    p.add_argument("--json", type=Path, default=None, help="default: SHEETS/portraits.json")
    p.add_argument("--head-sweep", action="store_true", help="the yaw/pitch extremes instead")
    p.add_argument("--before", type=Path, default=None, help="an earlier run's JSON to compare")
    p.add_argument("--threads", type=int, default=2, help="torch/OpenCV threads")
    p.add_argument(
        "--motion-from", type=Path, default=None, help="replay NAME.motion.npz of an earlier run"
    )
    p.add_argument("--table", type=Path, default=None, help="only print the table of a JSON")
    a = p.parse_args(argv)

    before = None
    if a.before is not None:
        before = {d["portrait"]: d for d in json.loads(a.before.read_text())["portraits"]}
    if a.table is not None:
        saved = json.loads(a.table.read_text())["portraits"]
        keys = set(asdict(PortraitResult("")))
        rows = [
            PortraitResult(**{k: v for k, v in d.items() if v is not None and k in keys})
            for d in saved
        ]
        print(markdown_table(rows, before))
        return 0

    import cv2

    cv2.setNumThreads(a.threads)
    try:
        import torch

        torch.set_num_threads(a.threads)
    except ImportError:
        pass
    from avatar.bench import _speech_of_length
    from avatar.settings import GenerationSettings

    a.sheets.mkdir(parents=True, exist_ok=True)
    out_dir = a.out or Path(tempfile.mkdtemp(prefix="bench-portraits-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = GenerationSettings(overwrite=True)
    portraits = _portraits(a.portraits, a.only)
    if not portraits:
        print(f"no portraits under {a.portraits}", file=sys.stderr)
        return 1

    if a.head_sweep:
        results = []
        for image in portraits:
            try:
                r = head_sweep(image, out_dir, a.sheets, settings)
            except (AvatarError, RuntimeError, ValueError) as exc:  # keep the others' numbers
                print(f"{image.name}: sweep failed: {exc!r}", file=sys.stderr)
                continue
            results.append(r)
            ex = r["extremes"]
            print(
                f"{r['portrait']}: folds {r['fold_frames']} (max {r['max_folds']}), "
                f"found {100 * r['face_found']:.1f} %, "
                + ", ".join(
                    f"{k}: yaw {v['tracked_yaw']:+.1f} pitch {v['tracked_pitch']:+.1f} "
                    f"bg {v['background_psnr']:.1f} dB border {v['border_mad']:.2f}"
                    for k, v in ex.items()
                )
            )
        path = a.json or a.sheets / "head_sweep.json"
        path.write_text(json.dumps(_json_ready(results), indent=2))
        print(f"wrote {path}", file=sys.stderr)
        return 0

    from avatar.audio import load_voiceover

    speech = (
        _speech_of_length(a.audio, a.seconds)
        if a.seconds
        else load_voiceover(a.audio, max_seconds=600)
    )
    counters: list[FoldCounter] = []
    saved = SavedMotion(a.motion_from) if a.motion_from else None
    # Warm-up: load every model once, so the first portrait's wall time is not the loading.
    warm_rig = pick_face(portraits[0], settings, [])
    warm = _speech_of_length(a.audio, 1.0)
    _pipeline_with_folds(counters)(
        portraits[0], warm, settings, output=out_dir / "warm.mp4", rig=warm_rig
    )
    pipe = _pipeline_with_folds(counters, saved)
    load_start = os.getloadavg()
    rows: list[PortraitResult] = []
    for image in portraits:
        print(f"{image.name} ...", file=sys.stderr, flush=True)
        if saved is not None:
            saved.portrait = _short(image.name)
        r = run_portrait(pipe, counters, image, speech, out_dir, a.sheets, settings)
        rows.append(r)
        print(markdown_table([r]).splitlines()[-1], file=sys.stderr, flush=True)
    print(markdown_table(rows, before))
    for r in rows:
        for n in r.notes:
            print(f"- {r.portrait}: {n}")
    path = a.json or a.sheets / "portraits.json"
    meta = {
        "audio": str(a.audio),
        "seconds": speech.duration,
        "settings": {"size": settings.size, "preset": settings.preset, "fps": settings.fps},
        # Timings are only comparable on an idle machine: the 1-min load average around the run.
        "load_average": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
        "cpu_count": os.cpu_count(),
        "portraits": [asdict(r) for r in rows],
    }
    path.write_text(json.dumps(_json_ready(meta), indent=2))
    print(f"wrote {path} and sheets in {a.sheets} (videos in {out_dir})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
