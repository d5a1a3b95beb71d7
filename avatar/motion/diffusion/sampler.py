"""DiffusionMotionGenerator: audio features + viseme curves -> Motion, any length.

Same call as the procedural generator (``generate(features, mouth, controls)``),
so the pipeline takes either. Long audio is sampled in windows of
``window`` frames; each window is conditioned on the last ``prefix`` frames
already generated and overlaps its predecessor by ``CROSSFADE`` frames that
are blended linearly, so joins carry no seam. DDIM (η = 0) from a
``torch.Generator`` seeded with ``controls.seed``: same seed, same motion.

Knobs: ``head_motion`` scales the head amount (the model produces unit-amount
head motion, see ``data.py``); ``expression`` scales brows and smile;
``blink_rate`` drives the explicit blink process (blinks are placed, not
sampled: ``avatar.motion.procedural.blink_track``, 18/min by default,
preferring pauses).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import DDIMScheduler
from scipy.ndimage import gaussian_filter1d

from avatar.audio.features import AudioFeatures
from avatar.errors import ModelError
from avatar.motion.diffusion.conditioning import (
    HEAD,
    MODEL_CHANNELS,
    RESIDUAL_CHANNELS,
    condition_matrix,
    mouth_matrix,
)
from avatar.motion.diffusion.model import MotionDenoiser
from avatar.motion.procedural import BLINKS_PER_MINUTE, MotionControls, blink_track
from avatar.motion.types import Motion

log = logging.getLogger(__name__)

CROSSFADE = 10  # frames blended at each window join
JAW_CLOSED = 0.03  # where the viseme jaw is this closed (p/b/m, rest) the residual is not added
_LIMITS = {
    "jaw_open": (0.0, 1.0),
    "lip_spread": (-1.0, 1.0),
    "upper_lip_raise": (0.0, 1.0),
    "lower_lip_depress": (0.0, 1.0),
    "smile": (0.0, 1.0),
    "gaze_x": (-1.0, 1.0),
    "gaze_y": (-1.0, 1.0),
    "brow_inner": (-1.0, 1.0),
    "brow_outer": (-1.0, 1.0),
}


def make_scheduler(model: MotionDenoiser) -> DDIMScheduler:
    """The sampling scheduler matching the training noise schedule (cosine, x0 target)."""
    return DDIMScheduler(
        num_train_timesteps=model.config.num_train_timesteps,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="sample",
        clip_sample=False,
        set_alpha_to_one=True,
    )


class DiffusionMotionGenerator:
    """A loaded MotionDenoiser plus its sampler; call it like ``generate_motion``."""

    def __init__(
        self,
        model: MotionDenoiser,
        *,
        steps: int | None = None,
        guidance_scale: float | None = None,
    ) -> None:
        self.model = model.eval()
        cfg = model.config
        self.steps = int(steps or cfg.num_inference_steps)
        self.guidance = float(cfg.guidance_scale if guidance_scale is None else guidance_scale)
        if list(cfg.channel_names) != list(MODEL_CHANNELS):
            raise ModelError("The motion model was trained for different channels; retrain it.")
        self.mean = torch.tensor(cfg.channel_mean, dtype=torch.float32)
        self.std = torch.tensor(cfg.channel_std, dtype=torch.float32)
        self.scheduler = make_scheduler(model)

    @classmethod
    def from_pretrained(cls, directory: str | Path, **kwargs) -> DiffusionMotionGenerator:
        path = Path(directory)
        if not (path / "config.json").exists():
            raise ModelError(f"No motion model in {path}: run `avatar train-motion` first.")
        try:
            model = MotionDenoiser.from_pretrained(str(path))
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"The motion model in {path} cannot be loaded ({exc}).") from exc
        return cls(model, **kwargs)

    # ------------------------------------------------------------------ sampling

    @torch.no_grad()
    def sample_normalised(self, cond: np.ndarray, seed: int) -> np.ndarray:
        """(n, C) normalised motion for an (n, cond_dim) conditioning matrix."""
        cfg = self.model.config
        n = cond.shape[0]
        w, p = cfg.window, cfg.prefix
        c = len(MODEL_CHANNELS)
        gen = torch.Generator().manual_seed(int(seed))
        out = np.zeros((n, c), np.float32)
        cond_t = torch.from_numpy(np.ascontiguousarray(cond, np.float32))
        self.scheduler.set_timesteps(self.steps)
        start = 0
        prev_end = 0
        while start < n:
            stop = min(n, start + w)
            t_len = stop - start
            if start >= p:
                prefix = torch.from_numpy(out[start - p : start]).unsqueeze(0)
                keep = torch.ones(1)
            else:
                prefix, keep = torch.zeros(1, p, c), torch.zeros(1)
            x = torch.randn(1, w, c, generator=gen)[:, :t_len]
            win = self._denoise(x, cond_t[start:stop].unsqueeze(0), prefix, keep)
            new = win[0].numpy()
            overlap = max(0, prev_end - start)
            if overlap:
                a = (np.arange(1, overlap + 1) / (overlap + 1))[:, None].astype(np.float32)
                out[start:prev_end] = (1 - a) * out[start:prev_end] + a * new[:overlap]
            out[start + overlap : stop] = new[overlap:]
            prev_end = stop
            if stop >= n:
                break
            start = stop - CROSSFADE
        return out

    def _denoise(self, x, cond, prefix, keep) -> torch.Tensor:
        guided = self.guidance != 1.0
        if guided:  # conditional and unconditional passes in one batch
            cond = cond.expand(2, -1, -1)
            prefix = prefix.expand(2, -1, -1)
            keep = keep.expand(2)
            cond_keep = torch.tensor([1.0, 0.0])
        else:
            cond_keep = torch.ones(1)
        for t in self.scheduler.timesteps:
            xin = x.expand(2, -1, -1) if guided else x
            x0 = self.model(xin, t.reshape(1).expand(xin.shape[0]), cond, prefix, keep, cond_keep)
            if guided:
                x0 = x0[1:] + self.guidance * (x0[:1] - x0[1:])
            x = self.scheduler.step(x0, t, x, eta=0.0).prev_sample
        return x

    # ------------------------------------------------------------------ Motion

    def __call__(
        self,
        features: AudioFeatures,
        mouth: dict[str, np.ndarray],
        controls: MotionControls | None = None,
    ) -> Motion:
        c = controls or MotionControls()
        t0 = time.perf_counter()
        fps, n = features.fps, features.n_frames
        if abs(fps - self.model.config.fps) > 1e-3:
            log.info(
                "motion model trained at %s fps, sampling at %s fps", self.model.config.fps, fps
            )
        cond = condition_matrix(features, mouth)
        # The per-op work is tiny: one thread beats two (0.18 s vs 4.5 s for 10 s of motion
        # when the other core is busy), so sample single-threaded and restore afterwards.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            z = self.sample_normalised(cond, c.seed) if n else np.zeros((0, len(MODEL_CHANNELS)))
        finally:
            torch.set_num_threads(threads)
        values = z * self.std.numpy() + self.mean.numpy()
        motion = Motion.zeros(n, fps)
        speaking = np.clip(np.asarray(features.speaking, np.float64), 0, 1)
        amount = float(self.model.config.head_amount_deg) * c.head_motion
        # Optional speech gating of the head amount (config ``pause_gain`` < 1), the same
        # rule as the procedural generator: calmer in pauses, livelier while speaking.
        g = float(getattr(self.model.config, "pause_gain", 1.0))
        gate = g + (1.0 - g) * gaussian_filter1d(speaking, 0.4 * fps) if n else speaking
        for i, name in enumerate(MODEL_CHANNELS):
            v = values[:, i]
            if name in HEAD:
                v = v * amount * gate
                if name == "pitch":  # nods are under-represented after per-clip normalising
                    v = v * float(getattr(self.model.config, "pitch_gain", 1.0))
            elif name in ("brow_inner", "brow_outer", "smile"):
                v = v * c.expression
            motion[name] = v
        visemes = mouth_matrix(mouth, n)
        for j, name in enumerate(RESIDUAL_CHANNELS):
            base = visemes[:, j]
            resid = motion[name].copy()
            if name in ("jaw_open", "lower_lip_depress", "upper_lip_raise"):
                resid[visemes[:, 0] <= JAW_CLOSED] = 0.0  # closures and rest stay shut
            if name == "jaw_open":
                # The model may open further than the viseme curve but never narrows it: a
                # narrowed open vowel measurably cost viseme accuracy (tests/test_tts.py).
                resid = np.maximum(resid, 0.0)
            motion[name] = base + resid * (c.expression if name == "smile" else 1.0)
        for name, (lo, hi) in _LIMITS.items():
            motion[name] = np.clip(motion[name], lo, hi)
        rng = np.random.default_rng([int(c.seed), 1])
        blink = blink_track(
            n, fps, rng, rate_per_min=BLINKS_PER_MINUTE * c.blink_rate, speaking=speaking
        )
        motion["blink_left"] = np.clip(blink, 0, 1)
        motion["blink_right"] = np.clip(blink * (1.0 + rng.normal(0, 0.03)), 0, 1)
        motion.meta.update(
            {
                "generator": "diffusion",
                "seed": c.seed,
                "steps": self.steps,
                "guidance": self.guidance,
                "sample_seconds": round(time.perf_counter() - t0, 4),
            }
        )
        return motion
