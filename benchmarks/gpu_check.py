"""Every CUDA path, once, with random real-size weights: frames per second and peak memory.

    python benchmarks/gpu_check.py                    # on a CUDA machine, under 5 minutes
    python benchmarks/gpu_check.py --device cpu --tiny --frames 2   # the plumbing, on a CPU

Paths: the motion model's attention (PyTorch SDPA against xformers, alone and in the whole
denoiser); the photoreal (LivePortrait-compatible) renderer in fp32, under fp16/bf16
autocast (generator channels-last), with ``torch.compile`` and with ``offload``; the
Wav2Lip engine in fp32, fp16 and bf16. Weights are random (speed does not depend on the
values); shapes are the real ones unless ``--tiny``. A path that fails prints its error on
its row and the rest go on; a path the device cannot run says why.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO.parent / "shared" / "data" / "portraits" / "cc0_codait_luciano.png"


@dataclass
class Row:
    path: str
    fps: float = float("nan")
    peak_mb: float = float("nan")
    note: str = ""


class Check:
    """Times callables on one device, with peak memory (CUDA) and a wall-clock budget."""

    def __init__(self, device: torch.device, repeats: int, budget_s: float) -> None:
        self.device = device
        self.repeats = repeats
        self.deadline = time.perf_counter() + budget_s
        self.rows: list[Row] = []

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def run(self, path: str, items: int, fn: Callable[[], object], note: str = "") -> None:
        """``fn`` makes ``items`` frames (or calls) per run; best of ``repeats`` after a warm-up."""
        if time.perf_counter() > self.deadline:
            self.rows.append(Row(path, note="skipped: the time budget is spent"))
            return
        try:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(self.device)
            fn()  # warm-up: kernels, autotuning, compilation
            self._sync()
            best = float("inf")
            for _ in range(self.repeats):
                t = time.perf_counter()
                fn()
                self._sync()
                best = min(best, time.perf_counter() - t)
            peak = (
                torch.cuda.max_memory_allocated(self.device) / 2**20
                if self.device.type == "cuda"
                else float("nan")
            )
            self.rows.append(Row(path, items / best, peak, note))
        except Exception as exc:  # noqa: BLE001 - a failing path is reported, the rest go on
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            self.rows.append(Row(path, note=f"FAILED: {type(exc).__name__}: {first[:120]}"))

    def skip(self, path: str, why: str) -> None:
        self.rows.append(Row(path, note=f"skipped: {why}"))

    def table(self) -> str:
        width = max(len(r.path) for r in self.rows)
        lines = [f"{'path':<{width}}  {'per s':>9}  {'peak MB':>8}  note"]
        for r in self.rows:
            fps = f"{r.fps:9.1f}" if np.isfinite(r.fps) else f"{'-':>9}"
            mb = f"{r.peak_mb:8.0f}" if np.isfinite(r.peak_mb) else f"{'-':>8}"
            lines.append(f"{r.path:<{width}}  {fps}  {mb}  {r.note}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- motion model


def check_attention(check: Check, tiny: bool) -> None:
    from avatar.motion.diffusion.attention import attention, xformers_installed
    from avatar.motion.diffusion.model import MotionDenoiser

    dev = check.device
    torch.manual_seed(0)
    d_model, heads, frames = (32, 2, 24) if tiny else (128, 4, 120)  # the shipped model: 120
    batch = 2  # classifier-free guidance runs the conditioned and unconditioned halves together
    q, k, v = (torch.randn(batch, heads, frames, d_model // heads, device=dev) for _ in range(3))
    backends = ["sdpa"]
    if dev.type == "cuda" and xformers_installed():
        backends.append("xformers")
    elif dev.type != "cuda":
        check.skip("attention xformers", "xformers runs on CUDA only")
    else:
        check.skip("attention xformers", "xformers is not installed")
    reference = attention(q, k, v, backend="sdpa")
    for backend in backends:
        diff = float((attention(q, k, v, backend=backend) - reference).abs().max())
        check.run(
            f"attention {backend}",
            200,
            lambda b=backend: [attention(q, k, v, backend=b) for _ in range(200)],
            note=f"(B, H, T, D) = {tuple(q.shape)}; max |diff| to SDPA {diff:.1e}",
        )
    model = MotionDenoiser(
        d_model=d_model, n_heads=heads, n_layers=2 if tiny else 4, window=frames - 20
    ).to(dev)
    model.eval()
    sample = torch.randn(batch, frames - 20, model.config.n_channels, device=dev)
    cond = torch.randn(batch, frames - 20, model.config.cond_dim, device=dev)
    prefix = torch.randn(batch, 20, model.config.n_channels, device=dev)
    steps = model.config.num_inference_steps

    def denoise() -> None:
        with torch.inference_mode():
            for t in range(steps):
                model(sample, torch.tensor(t, device=dev), cond, prefix)

    check.run(
        "motion denoiser, one window (10 steps)",
        1,
        denoise,
        note=f"attention through {'xformers' if 'xformers' in backends else 'SDPA'}; "
        f"{(frames - 20) / 25:.1f} s of motion per window",
    )


# ----------------------------------------------------------------------- neural renderer


def _rig():
    from avatar.face import analyze_portrait

    return analyze_portrait(PORTRAIT)


def check_neural_renderer(check: Check, tiny: bool, frames: int) -> None:
    from avatar.motion.types import CHANNEL_INDEX
    from avatar.render.liveportrait import LivePortraitDims, build_liveportrait
    from avatar.render.neural_renderer import NeuralRenderer

    try:
        rig = _rig()
    except Exception as exc:  # noqa: BLE001 - no portrait, no renderer rows
        check.skip("neural renderer", f"no portrait rig ({type(exc).__name__}: {exc})")
        return
    torch.manual_seed(0)
    models = build_liveportrait(LivePortraitDims.tiny() if tiny else None)
    rows = np.zeros((frames, len(CHANNEL_INDEX)), np.float32)
    rows[:, CHANNEL_INDEX["jaw_open"]] = np.linspace(0.0, 0.8, frames)
    rows[:, CHANNEL_INDEX["yaw"]] = np.linspace(-6.0, 6.0, frames)
    size = 256 if tiny else 512
    cuda = check.device.type == "cuda"
    variants = [("fp32", {"dtype": "fp32"})]
    if cuda:
        variants += [
            ("fp16 autocast, channels-last", {"dtype": "fp16"}),
            ("bf16 autocast, channels-last", {"dtype": "bf16"}),
            ("auto precision + torch.compile", {"compile": True}),
            ("auto precision + offload", {"offload": True}),
        ]
        if not torch.cuda.is_bf16_supported():
            variants = [v for v in variants if v[0] != "bf16 autocast, channels-last"]
            check.skip("neural renderer bf16", "this GPU has no bf16")
    else:
        check.skip("neural renderer fp16/bf16/compile/offload", "they run on CUDA only")
    for name, kwargs in variants:
        try:
            renderer = NeuralRenderer(
                rig, size=size, models=models, device=check.device, batch=8, **kwargs
            )
        except Exception as exc:  # noqa: BLE001
            check.rows.append(Row(f"neural renderer {name}", note=f"FAILED: {exc}"))
            continue
        check.run(
            f"neural renderer {name}",
            frames,
            lambda r=renderer: r.render_batch(rows),
            note=f"{size}² frames, batch 8",
        )
        del renderer
        if cuda:
            torch.cuda.empty_cache()


# ---------------------------------------------------------------------------- Wav2Lip


def check_wav2lip(check: Check, tiny: bool) -> None:
    from avatar.refine.wav2lip import Wav2LipEngine
    from avatar.refine.wav2lip_model import Wav2Lip, Wav2LipDims

    torch.manual_seed(0)
    model = Wav2Lip(Wav2LipDims.tiny() if tiny else None).eval()
    n = 16
    rng = np.random.default_rng(0)
    mels = rng.uniform(-4, 4, (n, 1, 80, 16)).astype(np.float32)
    faces = rng.integers(0, 255, (n, 96, 96, 3), dtype=np.uint8)
    cuda = check.device.type == "cuda"
    precisions = ["fp32", "fp16", "bf16"] if cuda else ["fp32", "bf16"]
    if not cuda:
        check.skip("Wav2Lip fp16", "fp16 runs on CUDA only")
    reference = None
    for precision in precisions:
        try:
            engine = Wav2LipEngine(model, device=check.device, precision=precision)
            out = engine(mels, faces)
        except Exception as exc:  # noqa: BLE001
            check.rows.append(Row(f"Wav2Lip {precision}", note=f"FAILED: {exc}"))
            continue
        if reference is None:
            reference = out
        diff = float(np.abs(out - reference).max()) / 255.0
        check.run(
            f"Wav2Lip {precision}",
            n,
            lambda e=engine: e(mels, faces),
            note=f"batch {n}; max |diff| to fp32 {diff:.4f} (0..1)",
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default=None, help="default: cuda when available")
    p.add_argument("--tiny", action="store_true", help="debug-size networks (CPU plumbing)")
    p.add_argument("--frames", type=int, default=32, help="frames per renderer run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--budget", type=float, default=270.0, help="seconds for all checks")
    a = p.parse_args(argv)
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA GPU is visible to PyTorch.", file=sys.stderr)
        return 2
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        total = torch.cuda.get_device_properties(device).total_memory / 2**30
        print(
            f"device: {name}, {total:.0f} GiB; torch {torch.__version__}, CUDA {torch.version.cuda}"
        )
    else:
        print(f"device: CPU ({torch.get_num_threads()} threads); torch {torch.__version__}")
    check = Check(device, a.repeats, a.budget)
    t0 = time.perf_counter()
    for name, section in (
        ("attention", lambda: check_attention(check, a.tiny)),
        ("Wav2Lip", lambda: check_wav2lip(check, a.tiny)),
        ("neural renderer", lambda: check_neural_renderer(check, a.tiny, a.frames)),
    ):
        try:
            section()
        except Exception as exc:  # noqa: BLE001 - a section that cannot even be set up
            check.rows.append(Row(f"{name} (set-up)", note=f"FAILED: {type(exc).__name__}: {exc}"))
    print(check.table())
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 1 if any(r.note.startswith("FAILED") for r in check.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
