"""Wav2Lip refinement speed: model frames per second by batch size and execution mode,
then the whole streaming pass (crop, model, colour match, blend) on rendered frames.

    python benchmarks/bench_wav2lip.py                  # CPU (all cores torch sees)
    python benchmarks/bench_wav2lip.py --device cuda
    python benchmarks/bench_wav2lip.py --threads 2 --batches 1 8 16 32 --repeats 5

The model has the real size (36.3 M parameters, random weights with batch-norm
statistics: speed does not depend on the values). Each number is the best of
``--repeats`` timed runs after a warm-up, so other load on the machine shows
as less, not more. "max |Δ|" is the largest difference from the fp32 model's
output on the 0..1 scale (1/255 = 0.0039): bf16 is used by ``precision="auto"``
only when it stays within 6/255 on the first batch of real input.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch

from avatar.refine.mel import MelChunks
from avatar.refine.wav2lip import Wav2LipEngine, Wav2LipRefiner, _native_bf16
from avatar.refine.wav2lip_model import Wav2Lip

REPO = Path(__file__).resolve().parents[1]


def _model(seed: int = 0) -> Wav2Lip:
    torch.manual_seed(seed)
    model = Wav2Lip()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.05)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _best(fn, repeats: int) -> float:
    fn()  # warm-up: oneDNN builds its kernels for this shape
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return min(times)


def model_table(device: str, batches: list[int], repeats: int) -> list[tuple]:
    base = _model().to(device)
    fused_cl = base.fused().to(memory_format=torch.channels_last)
    modes: list[tuple[str, torch.nn.Module, torch.dtype, bool]] = [
        ("fp32 (as written)", base, torch.float32, False),
        ("fp32 fused + channels_last", fused_cl, torch.float32, True),
    ]
    if device == "cpu" and _native_bf16():
        modes.append(
            ("bf16 fused + channels_last", copy.deepcopy(fused_cl).bfloat16(), torch.bfloat16, True)
        )
    if device == "cuda":
        modes.append(
            ("fp16 fused + channels_last", copy.deepcopy(fused_cl).half(), torch.float16, True)
        )
    rows = []
    g = torch.Generator().manual_seed(1)
    for b in batches:
        audio = torch.rand(b, 1, 80, 16, generator=g).mul(8).sub(4).to(device)
        face = torch.rand(b, 6, 96, 96, generator=g).to(device)
        face[:, :3, 48:] = 0
        with torch.inference_mode():
            ref = base(audio, face).float()
        for name, model, dtype, cl in modes:
            x = face.contiguous(memory_format=torch.channels_last) if cl else face
            a, x = audio.to(dtype), x.to(dtype)

            def run(model=model, a=a, x=x):
                with torch.inference_mode():
                    return model(a, x)

            seconds = _best(run, repeats)
            with torch.inference_mode():
                diff = float((run().float() - ref).abs().max())
            rows.append((b, name, b / seconds, diff))
    return rows


def pass_table(
    device: str, batch: int, size: int, repeats: int, seconds: float, image: str
) -> list[tuple]:
    """The streaming pass on rendered frames, per precision."""
    from avatar.face import analyze_portrait
    from avatar.motion.types import CHANNEL_INDEX
    from avatar.render import WarpRenderer

    rig = analyze_portrait(image)
    renderer = WarpRenderer(rig, size=size)
    n = int(round(seconds * 25))
    motion = np.zeros((n, len(CHANNEL_INDEX)), np.float32)
    motion[:, CHANNEL_INDEX["jaw_open"]] = 0.5 + 0.5 * np.sin(np.arange(n) / 2.0)
    frames = []
    for row in motion:
        f = renderer.render(row)
        frames.append((f.copy(), renderer.last_landmarks.copy()))
    mel = MelChunks(
        np.random.default_rng(0).uniform(-4, 4, (80, n * 4 + 20)).astype(np.float32), 25
    )
    rows = []
    precisions = ["fp32"] + (["auto"] if device == "cpu" and _native_bf16() else [])
    for precision in precisions:
        engine = Wav2LipEngine(_model(), device=device, precision=precision)
        list(Wav2LipRefiner(engine, mel, batch_size=batch).refine(frames[: batch * 2]))  # warm-up
        best, model_s = float("inf"), 0.0
        for _ in range(repeats):
            refiner = Wav2LipRefiner(engine, mel, batch_size=batch)
            t = time.perf_counter()
            for _out in refiner.refine(frames):
                pass
            elapsed = time.perf_counter() - t
            if elapsed < best:
                best, model_s = elapsed, refiner.stats.model_seconds
        rows.append((engine.precision, n, best, n / best, model_s))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 16, 32])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--size", type=int, default=512, help="rendered frame size for the pass")
    p.add_argument("--seconds", type=float, default=10.0, help="video length for the pass")
    p.add_argument("--pass-batch", type=int, default=16)
    p.add_argument("--image", default=str(REPO / "examples" / "portrait.png"))
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(
        f"device {a.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"native bf16: {_native_bf16()}"
    )
    print("\nmodel only (frames per second, best of repeats)\n")
    print("| batch | mode | fps | max abs diff vs fp32 |\n|---:|---|---:|---:|")
    for b, name, fps, diff in model_table(a.device, a.batches, a.repeats):
        print(f"| {b} | {name} | {fps:.1f} | {diff:.2g} |")
    print(f"\nstreaming pass, {a.size}² rendered frames, batch {a.pass_batch}\n")
    print("| precision | frames | seconds | fps | of which model s |\n|---|---:|---:|---:|---:|")
    for precision, n, sec, fps, model_s in pass_table(
        a.device, a.pass_batch, a.size, a.repeats, a.seconds, a.image
    ):
        print(f"| {precision} | {n} | {sec:.1f} | {fps:.1f} | {model_s:.1f} |")


if __name__ == "__main__":
    main()
