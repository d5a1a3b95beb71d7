"""LSE-D and LSE-C: the lip-sync error of Wav2Lip's evaluation, with a SyncNet of our own.

The field reports lip sync as two numbers computed with the SyncNet of Chung & Zisserman
("Out of time", 2016) as released in joonson/syncnet_python (``syncnet_v2.model``):

- LSE-D: the smallest, over audio offsets of -15..+15 frames, of the mean embedding
  distance between every 5-frame (0.2 s) mouth window and the audio window at that
  offset (lower is better);
- LSE-C: the median of those 31 mean distances minus the smallest (higher is better);
- the AV offset, in frames: where the smallest distance lies (positive: the mouth lags
  the audio, the convention of :func:`avatar.eval.metrics.lipsync_correlation`).

This module holds a model that loads that file unchanged (same state-dict names and
shapes, ``SyncNet.load_checkpoint``), the MFCC front-end it was trained with (a numpy
version of ``python_speech_features.mfcc`` with its defaults, the raw int16 samples as
input), and the face crop it expects. What differs from the reference pipeline, on
purpose:

- The crop. syncnet_python finds faces with its own S3FD detector (weights we do not
  ship) and crops around the median-filtered detection box; we place the same crop
  (box top to 1.8 half-boxes below the centre, 2.8 half-boxes wide, padded with grey
  110, resized to 224 x 224, BGR, no normalisation) around the box of our tracker's
  FaceMesh landmarks, whose centre sits a little higher (forehead) than S3FD's.
- The frames. The reference re-encodes the video at 25 fps and round-trips every
  frame through JPEG twice (ffmpeg frames -> XVID crop video -> JPEG); we decode once
  and crop the decoded frame. A video that is not 25 fps is resampled to 25 fps by
  ffmpeg's ``fps`` filter as the reference's re-encode would.
- The audio start. The reference relies on ``ffmpeg -async 1``; we shift the decoded
  samples by the container's audio start (:func:`avatar.eval.tracker.audio_offset_s`).

Everything is streamed: frames are decoded, cropped and embedded in batches, so memory
does not grow with the video's length.
"""

from __future__ import annotations

import math
import os
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avatar.errors import ModelError
from avatar.eval.tracker import EvalError, FaceTrack, audio_offset_s

#: syncnet_python's constants.
SYNCNET_FPS = 25.0
SYNCNET_SAMPLE_RATE = 16000
WINDOW_FRAMES = 5  # video frames per embedding (0.2 s)
MFCC_PER_FRAME = 4  # 100 MFCC frames per second / 25 fps
WINDOW_MFCC = 20  # MFCC frames per embedding (0.2 s)
VSHIFT = 15  # offsets searched: -15..+15 frames
CROP_SIZE = 224
CROP_SCALE = 0.4  # run_pipeline.py's --crop_scale
CROP_PAD_VALUE = 110
BOX_SMOOTH_FRAMES = 13  # median filter of the box centre and size
#: The half-box of the crop, from our landmark box: half of the longer side (S3FD's box
#: and FaceMesh's landmark box both run from the upper forehead to the chin).
BOX_FROM_LANDMARKS = 1.0


# ------------------------------------------------------------------------ weights


@dataclass(frozen=True)
class WeightsEntry:
    """A downloadable weight file (to move into ``avatar.weights`` when that registry lands)."""

    name: str
    repo_id: str
    filename: str
    revision: str
    sha256: str
    license: str
    size_bytes: int | None = None
    upstream_url: str | None = None
    description: str = ""


SYNCNET_WEIGHTS = WeightsEntry(
    name="syncnet_v2",
    repo_id="ByteDance/LatentSync",
    filename="auxiliary/syncnet_v2.model",
    revision="405eda8eab9f65c1a6e0c292a5dee5a08089e2ae",
    sha256="961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442",
    license=(
        "syncnet_python code is MIT (Joon Son Chung); the syncnet_v2.model weights carry no "
        "separate licence (research use); mirrored in ByteDance/LatentSync (CreativeML "
        "OpenRAIL-M)"
    ),
    upstream_url="http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model",
    description="SyncNet (Chung & Zisserman 2016) for LSE-D / LSE-C, evaluation only",
)

#: Environment variable naming a local syncnet_v2.model (same role as --syncnet-weights).
WEIGHTS_ENV = "AVATAR_SYNCNET_WEIGHTS"


def fetch_command(entry: WeightsEntry = SYNCNET_WEIGHTS) -> str:
    return f"hf download {entry.repo_id} {entry.filename} --revision {entry.revision}"


def sha256_of(path: str | Path) -> str:
    from avatar.weights import sha256_file

    return sha256_file(path)


def resolve_syncnet_weights(
    explicit_path: str | Path | None = None, *, download: bool = False
) -> Path | None:
    """The SyncNet checkpoint to use, or None when it is not here and ``download`` is False.

    Order: ``explicit_path`` (must exist; not hash-checked, so a fine-tuned or converted
    file can be given), ``$AVATAR_SYNCNET_WEIGHTS``, the Hugging Face cache (pinned
    revision, sha256-checked), then a download when ``download`` is True. Raises
    ``ModelError`` with one sentence when a named file is missing, the hash is wrong or
    the download fails.
    """
    if explicit_path is not None:
        path = Path(explicit_path).expanduser()
        if not path.is_file():
            raise ModelError(f"The SyncNet weights file {path} does not exist.")
        return path
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return resolve_syncnet_weights(env)
    return _hub_file(SYNCNET_WEIGHTS, download=download)


def _hub_file(entry: WeightsEntry, *, download: bool) -> Path | None:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        if not download:
            return None
        raise ModelError(
            f"The {entry.name} weights need huggingface_hub to download: pip install "
            f"huggingface_hub, or pass --syncnet-weights PATH."
        ) from exc
    kwargs = {"repo_id": entry.repo_id, "filename": entry.filename, "revision": entry.revision}
    try:
        path = Path(hf_hub_download(**kwargs, local_files_only=True))
    except Exception:  # not in the cache (LocalEntryNotFoundError and friends)
        if not download:
            return None
        try:
            from huggingface_hub.utils import logging as hub_logging

            hub_logging.set_verbosity_error()  # the one-sentence error below says it all
            path = Path(hf_hub_download(**kwargs))
        except Exception as exc:  # offline, gated, renamed: one sentence, never a traceback
            raise ModelError(
                f"The {entry.name} weights could not be downloaded ({type(exc).__name__}); "
                f"fetch them with `{fetch_command(entry)}` or pass --syncnet-weights PATH."
            ) from exc
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise ModelError(
            f"The {entry.name} weights at {path} have sha256 {actual[:12]}..., not the pinned "
            f"{entry.sha256[:12]}...; delete the file and download it again."
        )
    return path


# -------------------------------------------------------------------------- model


def _build_audio_trunk():
    """13 x 20 MFCC patch -> 512 (Sequential indices match syncnet_python's ``netcnnaud``)."""

    def conv_bn(cin: int, cout: int, kernel, padding) -> list:
        return [nn.Conv2d(cin, cout, kernel, padding=padding), nn.BatchNorm2d(cout), nn.ReLU()]

    layers = conv_bn(1, 64, 3, 1) + [nn.Identity()]  # a 1x1 max-pool in the original
    layers += conv_bn(64, 192, 3, 1) + [nn.MaxPool2d(3, stride=(1, 2))]
    layers += conv_bn(192, 384, 3, 1)
    layers += conv_bn(384, 256, 3, 1)
    layers += conv_bn(256, 256, 3, 1) + [nn.MaxPool2d(3, stride=2)]
    layers += conv_bn(256, 512, (5, 4), 0)
    return nn.Sequential(*layers)


def _build_lip_trunk():
    """3 x 5 x 224 x 224 BGR clip -> 512 (Sequential indices match ``netcnnlip``)."""

    def conv_bn(cin: int, cout: int, kernel, stride=1, padding=0) -> list:
        conv = nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding)
        return [conv, nn.BatchNorm3d(cout), nn.ReLU()]

    def pool(padding=0):
        return nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=padding)

    layers = conv_bn(3, 96, (5, 7, 7), (1, 2, 2)) + [pool()]
    layers += conv_bn(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)) + [pool((0, 1, 1))]
    for _ in range(3):
        layers += conv_bn(256, 256, (1, 3, 3), 1, (0, 1, 1))
    layers += [pool()]
    layers += conv_bn(256, 512, (1, 6, 6))
    return nn.Sequential(*layers)


def _build_head(dim: int):
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, dim))


class SyncNet(nn.Module):
    """Two-stream SyncNet; ``state_dict`` names and shapes equal syncnet_python's ``S``."""

    def __init__(self, embed_dim: int = 1024) -> None:
        super().__init__()
        self.netcnnaud = _build_audio_trunk()
        self.netfcaud = _build_head(embed_dim)
        self.netfclip = _build_head(embed_dim)
        self.netcnnlip = _build_lip_trunk()

    def forward_aud(self, mfcc):
        """(N, 1, 13, 20) MFCC patches -> (N, embed_dim)."""
        return self.netfcaud(self.netcnnaud(mfcc).flatten(1))

    def forward_lip(self, clips):
        """(N, 3, 5, 224, 224) BGR 0..255 clips -> (N, embed_dim)."""
        return self.netfclip(self.netcnnlip(clips).flatten(1))

    def forward(self, clips, mfcc):
        return self.forward_lip(clips), self.forward_aud(mfcc)

    @classmethod
    def load_checkpoint(cls, path: str | Path) -> SyncNet:
        """Build the model from a syncnet_v2.model-format file (a plain name -> tensor dict)."""
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelError(f"The SyncNet weights file {path} cannot be read.") from exc
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise ModelError(f"The file {path} is not a SyncNet state dict.")
        model = cls()
        own = model.state_dict()
        clean = {}
        for key, value in state.items():
            name = key.removeprefix("module.").removeprefix("__S__.")
            if name not in own or tuple(own[name].shape) != tuple(value.shape):
                raise ModelError(
                    f"The file {path} is not a syncnet_python SyncNet checkpoint "
                    f"(unexpected entry {key})."
                )
            clean[name] = value
        # Old checkpoints predate BatchNorm's num_batches_tracked; nothing else may lack.
        missing = [k for k in own if k not in clean and not k.endswith("num_batches_tracked")]
        if missing:
            raise ModelError(f"The SyncNet weights file {path} is incomplete (no {missing[0]}).")
        model.load_state_dict(clean, strict=False)
        return model.eval()


def load_syncnet(path: str | Path) -> SyncNet:
    """SyncNet with the weights of ``path`` (syncnet_v2.model format), in eval mode."""
    return SyncNet.load_checkpoint(path)


def save_checkpoint(model, path: str | Path, *, legacy: bool = True) -> None:
    """Save ``model`` as syncnet_v2.model is saved: a plain name -> tensor dict (tests, tools)."""
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, str(path), _use_new_zipfile_serialization=not legacy)


# --------------------------------------------------------------------------- MFCC


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    n_filters: int = 26, nfft: int = 512, sample_rate: int = 16000, low_hz: float = 0.0
) -> np.ndarray:
    """(n_filters, nfft // 2 + 1) triangles on FFT bins, as python_speech_features builds them.

    The band edges are equally spaced in mel from ``low_hz`` to Nyquist and snapped down
    to whole FFT bins; each triangle rises from its left edge bin (0) to its centre bin
    (1) and falls to zero at its right edge bin. Not librosa's filters: those are
    continuous triangles, and SyncNet was trained on these bin-snapped ones.
    """
    mels = np.linspace(_hz_to_mel(low_hz), _hz_to_mel(sample_rate / 2.0), n_filters + 2)
    edges = np.floor((nfft + 1) * _mel_to_hz(mels) / sample_rate).astype(np.int64)
    bank = np.zeros((n_filters, nfft // 2 + 1))
    bins = np.arange(nfft // 2 + 1)
    for j in range(n_filters):
        lo, mid, hi = edges[j], edges[j + 1], edges[j + 2]
        up = (bins >= lo) & (bins < mid)
        down = (bins >= mid) & (bins < hi)
        bank[j, up] = (bins[up] - lo) / (mid - lo)
        bank[j, down] = (hi - bins[down]) / (hi - mid)
    return bank


def mfcc(
    signal: np.ndarray,
    sample_rate: int = SYNCNET_SAMPLE_RATE,
    *,
    win_s: float = 0.025,
    step_s: float = 0.01,
    n_cep: int = 13,
    n_filters: int = 26,
    nfft: int = 512,
    preemph: float = 0.97,
    lifter: int = 22,
) -> np.ndarray:
    """(T, n_cep) MFCCs with python_speech_features' defaults, c0 replaced by log energy.

    Pre-emphasis, rectangular 25 ms frames every 10 ms (the last one zero-padded; at
    least one frame), power spectrum |rfft|^2 / nfft, 26 mel triangles, natural log,
    orthonormal DCT-II, sinusoidal lifter 22. Zero energies become machine epsilon
    before the log. Feed raw int16-scale samples to match syncnet_python.
    """
    from scipy.fft import dct

    x = np.asarray(signal, dtype=np.float64).ravel()
    if x.size == 0:
        return np.zeros((0, n_cep))
    x = np.concatenate([x[:1], x[1:] - preemph * x[:-1]])
    frame_len = int(_round_half_up(win_s * sample_rate))
    step = int(_round_half_up(step_s * sample_rate))
    n = 1 if x.size <= frame_len else 1 + math.ceil((x.size - frame_len) / step)
    padded = np.zeros((n - 1) * step + frame_len)
    padded[: x.size] = x
    idx = np.arange(frame_len)[None, :] + step * np.arange(n)[:, None]
    frames = padded[idx]
    if frame_len > nfft:  # python_speech_features truncates (with a warning)
        frames = frames[:, :nfft]
    power = np.abs(np.fft.rfft(frames, nfft)) ** 2 / nfft
    eps = np.finfo(np.float64).eps
    energy = power.sum(axis=1)
    energy[energy == 0] = eps
    feat = power @ mel_filterbank(n_filters, nfft, sample_rate).T
    feat[feat == 0] = eps
    cep = dct(np.log(feat), type=2, axis=1, norm="ortho")[:, :n_cep]
    if lifter > 0:
        cep = cep * (1.0 + (lifter / 2.0) * np.sin(np.pi * np.arange(n_cep) / lifter))
    cep[:, 0] = np.log(energy)
    return cep


def _round_half_up(value: float) -> float:
    return math.floor(value + 0.5)


# ----------------------------------------------------------------------- scoring


@dataclass
class LSEResult:
    """LSE-D / LSE-C of one video; ``mean_dist[o]`` is the mean distance at offset 15 - o."""

    lse_d: float
    lse_c: float
    offset: int
    n_windows: int
    mean_dist: np.ndarray = field(repr=False)
    notes: list[str] = field(default_factory=list)


def offset_distances(video_emb, audio_emb, vshift: int = VSHIFT):
    """(n, 2 * vshift + 1) L2 distances of video window i to audio window i + o - vshift.

    Audio windows outside the clip are zero vectors (the reference zero-pads), and the
    distance carries torch's ``pairwise_distance`` epsilon (1e-6 added to the difference).
    """
    v = torch.as_tensor(video_emb, dtype=torch.float32)
    a = torch.as_tensor(audio_emb, dtype=torch.float32)
    width = 2 * vshift + 1
    a_pad = F.pad(a, (0, 0, vshift, vshift))
    # (n, width, dim) view of the sliding audio windows
    windows = a_pad.unfold(0, width, 1)[: len(v)].transpose(1, 2)
    return F.pairwise_distance(v[:, None, :].expand_as(windows), windows, eps=1e-6)


def score_offsets(video_emb, audio_emb, vshift: int = VSHIFT) -> LSEResult:
    """LSE-D, LSE-C and the AV offset from per-window embeddings (syncnet_python's rule)."""
    dists = offset_distances(video_emb, audio_emb, vshift)
    mdist = dists.mean(dim=0)
    lse_d, best = torch.min(mdist, 0)
    lse_c = torch.median(mdist) - lse_d
    return LSEResult(
        lse_d=float(lse_d),
        lse_c=float(lse_c),
        offset=int(vshift - int(best)),
        n_windows=int(len(dists)),
        mean_dist=mdist.numpy().astype(np.float64),
    )


def mfcc_windows(features: np.ndarray, n_windows: int) -> np.ndarray:
    """(n_windows, 1, 13, 20) float32 patches: window v covers MFCC frames 4v .. 4v + 19."""
    cep = np.asarray(features, dtype=np.float32).T  # (13, T)
    starts = MFCC_PER_FRAME * np.arange(n_windows)
    idx = starts[:, None] + np.arange(WINDOW_MFCC)[None, :]
    return np.ascontiguousarray(cep[:, idx].transpose(1, 0, 2)[:, None])


def embed_audio(model, samples_int16: np.ndarray, n_windows: int, batch: int = 64) -> np.ndarray:
    """(n_windows, dim) audio embeddings of raw 16 kHz int16-scale samples."""
    patches = mfcc_windows(mfcc(samples_int16, SYNCNET_SAMPLE_RATE), n_windows)
    out = []
    with torch.inference_mode():
        for i in range(0, n_windows, batch):
            out.append(model.forward_aud(torch.from_numpy(patches[i : i + batch])).numpy())
    return np.concatenate(out) if out else np.zeros((0, 1024), np.float32)


def embed_crops(model, crops: Iterable[np.ndarray], n_windows: int, batch: int = 20) -> np.ndarray:
    """(n_windows, dim) lip embeddings of 224 x 224 BGR uint8 crops (window v: frames v..v+4).

    The crops are consumed as a stream; only ``batch + 4`` of them are held at a time.
    """
    out: list[np.ndarray] = []
    held: list[np.ndarray] = []
    done = 0

    def flush(count: int) -> None:
        nonlocal held, done
        stack = np.stack(held[: count + WINDOW_FRAMES - 1])  # (F, H, W, 3)
        clip = torch.from_numpy(stack).permute(3, 0, 1, 2).float()  # (3, F, H, W)
        windows = clip.unfold(1, WINDOW_FRAMES, 1)[:, :count]  # (3, count, H, W, 5)
        windows = windows.permute(1, 0, 4, 2, 3).contiguous()  # (count, 3, 5, H, W)
        with torch.inference_mode():
            out.append(model.forward_lip(windows).numpy())
        held = held[count:]
        done += count

    for crop in crops:
        if done >= n_windows:
            break
        held.append(crop)
        if len(held) == batch + WINDOW_FRAMES - 1:
            flush(min(batch, n_windows - done))
    if done < n_windows and len(held) >= WINDOW_FRAMES:
        flush(min(len(held) - WINDOW_FRAMES + 1, n_windows - done))
    return np.concatenate(out) if out else np.zeros((0, 1024), np.float32)


def n_windows_for(n_frames: int, n_samples: int) -> int:
    """syncnet_python's count: min(frames, samples // 640) - 5 (never negative)."""
    min_length = min(n_frames, n_samples // (SYNCNET_SAMPLE_RATE // int(SYNCNET_FPS)))
    return max(0, min_length - WINDOW_FRAMES)


def lse_from_crops(
    model, crops: Iterable[np.ndarray], n_frames: int, samples_int16: np.ndarray
) -> LSEResult:
    """LSE of already-cropped 224 x 224 BGR frames at 25 fps and their 16 kHz audio."""
    n = n_windows_for(n_frames, len(samples_int16))
    if n < 1:
        nan = float("nan")
        return LSEResult(nan, nan, 0, 0, np.full(2 * VSHIFT + 1, np.nan), ["too short for SyncNet"])
    video = embed_crops(model, crops, n)
    audio = embed_audio(model, samples_int16, n)
    if len(video) < n:  # the stream ended early
        n = len(video)
        audio = audio[:n]
    return score_offsets(video, audio)


# ---------------------------------------------------------------------- cropping


def crop_boxes(track: FaceTrack) -> np.ndarray | None:
    """(T, 3) crop (centre x, centre y, half-box) per frame, or None with no face at all.

    The half-box is half the longer side of the landmark box; frames without a face take
    the neighbouring values (linear inside gaps, held at the ends); then each column is
    median-filtered over 13 frames with zero padding at the ends, as the reference does.
    """
    from scipy.signal import medfilt

    n = track.n_frames
    height = getattr(track, "face_height", None)
    if height is None:
        height = track.face_width
    side = np.fmax(track.face_width, height)
    cols = [track.center[:, 0], track.center[:, 1], BOX_FROM_LANDMARKS * side / 2.0]
    ok = track.found & np.all(np.isfinite(np.stack(cols, axis=1)), axis=1)
    if not ok.any():
        return None
    idx = np.arange(n)
    out = []
    for col in cols:
        filled = np.interp(idx, idx[ok], col[ok])
        out.append(medfilt(filled, kernel_size=BOX_SMOOTH_FRAMES) if n >= 1 else filled)
    return np.stack(out, axis=1)


def crop_face(frame_bgr: np.ndarray, cx: float, cy: float, half: float) -> np.ndarray:
    """The 224 x 224 SyncNet crop: [cy - b, cy + 1.8 b] x [cx - 1.4 b, cx + 1.4 b], grey-padded."""
    import cv2

    b = float(half)
    pad = int(b * (1 + 2 * CROP_SCALE))
    # Same integer truncation as the reference, in the coordinates of the padded frame.
    y0, y1 = int(cy + pad - b), int(cy + pad + b * (1 + 2 * CROP_SCALE))
    x0, x1 = int(cx + pad - b * (1 + CROP_SCALE)), int(cx + pad + b * (1 + CROP_SCALE))
    h, w = frame_bgr.shape[:2]
    ph, pw = h + 2 * pad, w + 2 * pad
    y0c, y1c, x0c, x1c = max(0, y0), min(ph, y1), max(0, x0), min(pw, x1)
    if y1c <= y0c or x1c <= x0c:
        return np.full((CROP_SIZE, CROP_SIZE, 3), CROP_PAD_VALUE, np.uint8)
    out = np.full((y1c - y0c, x1c - x0c, 3), CROP_PAD_VALUE, np.uint8)
    # Intersect with the real frame, which starts at (pad, pad) in padded coordinates.
    sy0, sy1 = max(y0c, pad), min(y1c, pad + h)
    sx0, sx1 = max(x0c, pad), min(x1c, pad + w)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0c : sy1 - y0c, sx0 - x0c : sx1 - x0c] = frame_bgr[
            sy0 - pad : sy1 - pad, sx0 - pad : sx1 - pad
        ]
    return cv2.resize(out, (CROP_SIZE, CROP_SIZE))


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _frames_25fps(path: Path, fps: float) -> Iterator[np.ndarray]:
    """RGB frames of ``path``, resampled to 25 fps when it is not already at 25 fps."""
    import imageio_ffmpeg

    params = None if abs(fps - SYNCNET_FPS) < 1e-3 else ["-vf", f"fps={SYNCNET_FPS:g}"]
    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", output_params=params)
    meta = next(gen)
    w, h = (int(v) for v in meta["size"])
    try:
        for raw in gen:
            if len(raw) != w * h * 3:
                break
            yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)
    finally:
        gen.close()


def read_audio_int16(path: str | Path, offset_s: float = 0.0) -> np.ndarray:
    """Mono 16 kHz int16 samples as ffmpeg gives them (the reference's audio.wav).

    ``offset_s`` > 0 drops that much from the start (frame 0 lies later on the audio's
    clock), < 0 pads silence in front.
    """
    cmd = [_ffmpeg(), "-v", "error", "-nostdin", "-i", str(path), "-vn", "-ac", "1"]
    cmd += ["-ar", str(SYNCNET_SAMPLE_RATE), "-acodec", "pcm_s16le", "-f", "s16le", "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise EvalError(f"The audio of {path} cannot be decoded.")
    samples = np.frombuffer(proc.stdout, np.int16)
    shift = round(offset_s * SYNCNET_SAMPLE_RATE)
    if shift > 0:
        samples = samples[shift:]
    elif shift < 0:
        samples = np.concatenate([np.zeros(-shift, np.int16), samples])
    return samples


def lse(
    video: str | Path,
    weights: str | Path | None = None,
    *,
    track: FaceTrack | None = None,
    audio: str | Path | None = None,
    model=None,
    download: bool = False,
) -> LSEResult:
    """LSE-D, LSE-C and the AV offset of a talking-head video (see the module docstring).

    ``weights`` is a syncnet_v2.model file (default: resolved as in
    :func:`resolve_syncnet_weights`); ``track`` reuses a tracking pass of the same video;
    ``audio`` replaces the video's own sound (assumed to start with frame 0). Raises
    ``ModelError`` when no weights can be had.
    """
    video = Path(video)
    if model is None:
        path = resolve_syncnet_weights(weights, download=download)
        if path is None:
            raise ModelError(
                "The SyncNet weights for LSE-D/LSE-C are not on this machine; fetch them with "
                f"`{fetch_command()}` or pass --syncnet-weights PATH."
            )
        model = load_syncnet(path)
    if track is None:
        from avatar.eval.tracker import track_video

        track = track_video(video)
    boxes = crop_boxes(track)
    if boxes is None:
        nan = float("nan")
        return LSEResult(nan, nan, 0, 0, np.full(2 * VSHIFT + 1, np.nan), ["no face found"])
    fps = track.fps if track.fps > 0 else SYNCNET_FPS
    offset = 0.0 if audio is not None else audio_offset_s(video)
    samples = read_audio_int16(audio if audio is not None else video, offset)
    resample = abs(fps - SYNCNET_FPS) >= 1e-3
    n_frames = int(math.floor(track.n_frames * SYNCNET_FPS / fps)) if resample else track.n_frames

    def crops() -> Iterator[np.ndarray]:
        for k, rgb in enumerate(_frames_25fps(video, fps)):
            src = min(track.n_frames - 1, int(k * fps / SYNCNET_FPS)) if resample else k
            if src >= len(boxes):
                return
            cx, cy, half = boxes[src]
            yield crop_face(np.ascontiguousarray(rgb[:, :, ::-1]), cx, cy, half)

    result = lse_from_crops(model, crops(), n_frames, samples)
    if resample:
        result.notes.append(f"resampled from {fps:g} fps to 25 fps for SyncNet")
    return result
