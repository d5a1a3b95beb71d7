"""Train the MotionDenoiser: ``avatar train-motion --data DIR --out weights/motion-diffusion``.

accelerate's ``Accelerator`` runs the same loop on a CPU (here) or on several
GPUs. Deterministic for a seed and a step count: batches are drawn by a seeded
numpy generator, noise by a seeded torch generator. The loss is x0 L2 plus a
velocity (first difference) term on every channel and an acceleration term on
the head, all masked to the channels each source actually measures. Writes
safetensors + config.json (with the normalisation stats) + MODEL_CARD.md.
"""

from __future__ import annotations

import json
import logging
import platform
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMScheduler

from avatar.errors import AvatarError
from avatar.motion.diffusion.conditioning import COND_DIM, COND_NAMES, HEAD, MODEL_CHANNELS
from avatar.motion.diffusion.data import MotionClip, build_corpus, corpus_summary
from avatar.motion.diffusion.model import MotionDenoiser

log = logging.getLogger(__name__)

SIZES = {
    "small": {"d_model": 128, "n_layers": 4, "n_heads": 4, "ff_mult": 3},
    "debug": {"d_model": 32, "n_layers": 1, "n_heads": 2, "ff_mult": 2},
}
_HEAD_IDX = [MODEL_CHANNELS.index(c) for c in HEAD]
CHANNEL_WEIGHT = {c: 1.0 for c in MODEL_CHANNELS} | {
    "gaze_x": 0.5,
    "gaze_y": 0.5,
    "brow_inner": 0.5,
    "brow_outer": 0.5,
}


@dataclass
class TrainConfig:
    data: str | None
    out: str
    cache: str | None = None
    n_synthetic: int = 600
    steps: int = 3000
    batch: int = 32
    lr: float = 1e-3
    seed: int = 0
    size: str = "small"
    threads: int = 2
    real_weight: float = 0.5  # share of windows drawn from real clips (when there are any)
    prefix_drop: float = 0.5
    cond_drop: float = 0.1
    velocity_weight: float = 1.0
    accel_weight: float = 0.5
    ema: float = 0.995
    limit: int | None = None
    max_minutes: float | None = None  # stop early (then not reproducible by step count)
    command: str = field(default_factory=lambda: shlex.join(["avatar", *sys.argv[1:]]))


class TrainError(AvatarError):
    """The training data or settings cannot make a model."""


def channel_stats(clips: list[MotionClip]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over the clips where the channel is measured."""
    c = len(MODEL_CHANNELS)
    mean, std = np.zeros(c), np.ones(c)
    for i in range(c):
        vals = [cl.motion[:, i] for cl in clips if cl.mask[i] > 0]
        if vals:
            v = np.concatenate(vals)
            mean[i], std[i] = float(v.mean()), max(float(v.std()), 1e-3)
    return mean.astype(np.float32), std.astype(np.float32)


class WindowSampler:
    """Random training windows (with optional real prefixes) as padded tensors."""

    def __init__(self, clips, mean, std, window, prefix, cfg: TrainConfig) -> None:
        self.clips = clips
        self.z = [((c.motion - mean) / std).astype(np.float32) for c in clips]
        self.window, self.prefix, self.cfg = window, prefix, cfg
        real = np.array([c.source == "real" for c in clips])
        frames = np.array([c.n_frames for c in clips], np.float64)
        w = np.zeros(len(clips))
        share = cfg.real_weight if real.any() and (~real).any() else float(real.any())
        if real.any():
            w[real] = share * frames[real] / frames[real].sum()
        if (~real).any():
            w[~real] = (1 - share) * frames[~real] / frames[~real].sum()
        self.p = w / w.sum()
        self.rng = np.random.default_rng(cfg.seed)

    def batch(self, size: int) -> dict[str, torch.Tensor]:
        w, p = self.window, self.prefix
        c = len(MODEL_CHANNELS)
        x0 = np.zeros((size, w, c), np.float32)
        cond = np.zeros((size, w, COND_DIM), np.float32)
        pre = np.zeros((size, p, c), np.float32)
        keep = np.zeros(size, np.float32)
        fmask = np.zeros((size, w), bool)
        cmask = np.zeros((size, c), np.float32)
        for b in range(size):
            k = int(self.rng.choice(len(self.clips), p=self.p))
            clip, z = self.clips[k], self.z[k]
            n = clip.n_frames
            s = int(self.rng.integers(0, max(1, n - 30)))
            if s >= p and self.rng.random() >= self.cfg.prefix_drop:
                pre[b] = z[s - p : s]
                keep[b] = 1.0
            stop = min(n, s + w)
            x0[b, : stop - s] = z[s:stop]
            cond[b, : stop - s] = clip.cond[s:stop]
            fmask[b, : stop - s] = True
            cmask[b] = clip.mask
        return {
            "x0": torch.from_numpy(x0),
            "cond": torch.from_numpy(cond),
            "prefix": torch.from_numpy(pre),
            "keep": torch.from_numpy(keep),
            "frame_mask": torch.from_numpy(fmask),
            "channel_mask": torch.from_numpy(cmask),
        }


def motion_loss(pred, x0, frame_mask, channel_mask, cfg: TrainConfig) -> torch.Tensor:
    """Masked x0 L2 + velocity L2 (all channels) + acceleration L2 (head)."""
    weight = torch.tensor([CHANNEL_WEIGHT[c] for c in MODEL_CHANNELS])
    m = frame_mask.float().unsqueeze(-1) * (channel_mask * weight).unsqueeze(1)
    denom = m.sum().clamp(min=1.0)
    loss = ((pred - x0) ** 2 * m).sum() / denom
    mv = m[:, 1:] * m[:, :-1]
    dv = (pred[:, 1:] - pred[:, :-1]) - (x0[:, 1:] - x0[:, :-1])
    loss = loss + cfg.velocity_weight * (dv**2 * mv).sum() / mv.sum().clamp(min=1.0)
    ma = (mv[:, 1:] * mv[:, :-1])[..., _HEAD_IDX]
    da = dv[:, 1:, _HEAD_IDX] - dv[:, :-1, _HEAD_IDX]
    return loss + cfg.accel_weight * (da**2 * ma).sum() / ma.sum().clamp(min=1.0)


def train(cfg: TrainConfig, progress: Callable[[str], None] | None = None) -> dict:
    """Build (or read the cached) corpus, train, and save the model folder; returns a summary."""
    from accelerate import Accelerator

    say = progress or log.info
    t_start = time.perf_counter()
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    if cfg.size not in SIZES:
        raise TrainError(f"Unknown model size '{cfg.size}'; use one of {', '.join(SIZES)}.")
    clips = build_corpus(
        cfg.data,
        cfg.cache,
        n_synthetic=cfg.n_synthetic,
        seed=cfg.seed,
        limit=cfg.limit,
        progress=say,
    )
    if not clips:
        raise TrainError("No training clips: give a folder of talking videos or --synthetic N > 0.")
    t_data = time.perf_counter() - t_start
    summary = corpus_summary(clips)
    say(f"corpus: {json.dumps(summary)} ({t_data:.0f} s)")
    mean, std = channel_stats(clips)
    model = MotionDenoiser(
        n_channels=len(MODEL_CHANNELS),
        cond_dim=COND_DIM,
        channel_names=list(MODEL_CHANNELS),
        cond_names=list(COND_NAMES),
        channel_mean=mean.tolist(),
        channel_std=std.tolist(),
        # Inference defaults picked with benchmarks/bench_motion.py on the shipped run:
        # guidance 1.25 (1.5+ trades lip correlation for livelier heads), head amount
        # 3 degrees (tracked yaw/pitch sd inside 1.5-6), calmer head in pauses.
        guidance_scale=1.25,
        head_amount_deg=3.0,
        pause_gain=0.6,
        pitch_gain=1.6,
        **SIZES[cfg.size],
    )
    ema = MotionDenoiser.from_config(model.config)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    n_params = sum(p.numel() for p in model.parameters())
    noise_sched = DDPMScheduler(
        num_train_timesteps=model.config.num_train_timesteps,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="sample",
        clip_sample=False,
    )
    sampler = WindowSampler(clips, mean, std, model.config.window, model.config.prefix, cfg)
    accel = Accelerator(cpu=not torch.cuda.is_available())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=max(2, cfg.steps), pct_start=0.05
    )
    model, opt = accel.prepare(model, opt)
    gen = torch.Generator().manual_seed(cfg.seed)
    losses: list[float] = []
    t_train = time.perf_counter()
    steps_done = 0
    for step in range(cfg.steps):
        if cfg.max_minutes and time.perf_counter() - t_train > 60 * cfg.max_minutes:
            say(f"time limit of {cfg.max_minutes} min reached after {step} steps")
            break
        b = sampler.batch(cfg.batch)
        x0 = b["x0"]
        t = torch.randint(0, noise_sched.config.num_train_timesteps, (x0.shape[0],), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        xt = noise_sched.add_noise(x0, noise, t)
        cond_keep = (torch.rand(x0.shape[0], generator=gen) >= cfg.cond_drop).float()
        dev = accel.device
        pred = model(
            xt.to(dev),
            t.to(dev),
            b["cond"].to(dev),
            b["prefix"].to(dev),
            b["keep"].to(dev),
            cond_keep.to(dev),
            b["frame_mask"].to(dev),
        )
        loss = motion_loss(
            pred.cpu() if dev.type != "cpu" else pred, x0, b["frame_mask"], b["channel_mask"], cfg
        )
        opt.zero_grad(set_to_none=True)
        accel.backward(loss)
        accel.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            decay = min(cfg.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), accel.unwrap_model(model).parameters()):
                pe.mul_(decay).add_(pm.detach().cpu(), alpha=1 - decay)
        losses.append(loss.item())
        steps_done = step + 1
        if step and step % 400 == 0:  # a snapshot to inspect while training runs
            ema.save_pretrained(str(Path(cfg.out).with_name(Path(cfg.out).name + ".partial")))
        if step % 100 == 0 or step == cfg.steps - 1:
            rate = (step + 1) / (time.perf_counter() - t_train)
            say(f"step {step}/{cfg.steps} loss {np.mean(losses[-100:]):.4f} ({rate:.1f} steps/s)")
    wall_train = time.perf_counter() - t_train
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ema.save_pretrained(str(out), safe_serialization=True)
    result = {
        "corpus": summary,
        "params": n_params,
        "steps": steps_done,
        "final_loss": round(float(np.mean(losses[-100:])), 4),
        "data_seconds": round(t_data, 1),
        "train_seconds": round(wall_train, 1),
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        "config": {k: v for k, v in asdict(cfg).items() if k != "command"},
        "command": cfg.command,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip()
        + f", torch {torch.__version__}, {cfg.threads} threads",
    }
    shutil.rmtree(out.with_name(out.name + ".partial"), ignore_errors=True)
    (out / "training.json").write_text(json.dumps(result, indent=2) + "\n")
    write_model_card(out, result)
    say(f"saved {out} ({n_params} parameters, {wall_train:.0f} s of training)")
    return result


def write_model_card(out: Path, result: dict, evaluation: str | None = None) -> None:
    """MODEL_CARD.md: what the checkpoint was trained on, how, and (optionally) how it scores."""
    corpus = result["corpus"]
    rows = "\n".join(
        f"| {src} | {v['clips']} | {v['frames']} | {v['minutes']} | {v['head_amount_deg_median']} |"
        for src, v in corpus.items()
    )
    cfg = result["config"]
    text = f"""# Motion diffusion model (avatar.motion.diffusion)

A {result["params"]:,}-parameter transformer denoiser (x0 target, cosine schedule,
{cfg["size"]} size) over 4 s windows of the 15 non-blink `Motion` channels, conditioned
per frame on audio features + viseme mouth curves, with a 20-frame prefix of the
previous window. Blinks are placed explicitly at sampling time. Mouth channels are a
residual on the viseme curves.

## Training data

| source | clips | frames | minutes | median head amount (deg) |
|---|---|---|---|---|
{rows}

- **real**: talking videos under `--data` ({cfg["data"]}), tracked with the evaluation
  tracker (MediaPipe FaceMesh); only the head channels are targets. The shipped
  checkpoint used `shared/data/videos_train` (GRID corpus clips, CC BY 4.0; credit the
  GRID authors: Cooke, Barker, Cunningham & Shao 2006).
- **synthetic**: espeak-ng sentences in en/es/de/fr/it/pt/ja/cmn with random voices,
  rates (130-240 wpm) and pitches, pauses between sentences, noise (5-35 dB SNR),
  reverberation and band-limiting; mouth targets from the exact phones, the
  conditioning from perturbed phones; head, gaze and brows from the procedural
  generator with random seeds and knobs.
- Head channels are divided by each clip's head amount; the sampler multiplies them
  by `head_amount_deg` × the head-motion knob.

## Training

- Command: `{result["command"]}`
- Seed {cfg["seed"]}, {result["steps"]} steps of batch {cfg["batch"]}, AdamW lr {cfg["lr"]}
  (one-cycle), EMA {cfg["ema"]}; final loss {result["final_loss"]}.
- Wall time: {result["data_seconds"]} s data (cached after the first run) +
  {result["train_seconds"]} s training on {result["machine"]}.
"""
    if evaluation:
        text += "\n## Evaluation\n\n" + evaluation.strip() + "\n"
    (out / "MODEL_CARD.md").write_text(text)
