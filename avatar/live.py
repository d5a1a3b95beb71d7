"""A live avatar: microphone samples in, frames out at a steady rate, in real time.

    from avatar.live import LiveAvatar
    live = LiveAvatar("me.jpg", size=512, fps=25, seed=0)  # analysis and warm-up here
    live.push_audio(samples)     # float32 mono 16 kHz, any length, from any thread
    for frame in live.frames():  # RGB uint8 (H, W, 3), one per 1/fps of wall time
        ...
    live.close()                 # ends the frames() iterator

How it stays real time on two cores:

* **Mouth, low latency.** An analysis thread waits for each ``CHUNK_FRAMES`` of new
  audio plus ``LOOKAHEAD_FRAMES``, computes the acoustic features over the last
  ``CONTEXT_S`` of audio and the mouth curves (acoustic cues, the p/b/m closure
  detector) for the new frames only, and queues them. Each frame the renderer shows
  the next queued mouth: audio pushed in real time is on screen a chunk, a look-ahead
  and one frame later (about 0.1-0.2 s); a burst (a file pushed at once) plays at
  real-time pace from the queue.
* **Head, blinks, gaze, brows: causal idle life.** The procedural engine's idle motion
  is made ahead in 20 s blocks (seed, seed + 1, ...; a 1 s cross-fade between blocks)
  and its head channels are scaled up while the voice is active, from a smoothed
  speaking envelope of the audio already heard, so the head moves more as one talks.
* **Frames on a clock.** ``frames()`` renders each frame just before its tick with the
  warp renderer (about 5 ms at 512²) and sleeps to the tick; if rendering falls behind
  it skips ticks rather than drifting (counted in ``stats``). Without audio the face
  keeps its idle life with the mouth at rest: silence or a lost microphone never
  freezes it.

One session per two cores may run on a machine at a time (a lock file per slot); a
further one is refused with a sentence instead of pushing both below real time.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avatar.errors import AvatarError

SAMPLE_RATE = 16000
CHUNK_FRAMES = 2  # mouth frames made per analysis step
LOOKAHEAD_FRAMES = 1  # audio after the chunk the mouth curves may look at (anticipation)
CONTEXT_S = 2.0  # audio the features are computed over (level calibration, closures)
IDLE_BLOCK_S = 20.0
CROSSFADE_S = 1.0
HEAD_SPEECH_GAIN = 0.8  # head motion while speaking, over idle: 1 + gain
SPEAKING_SMOOTH_S = 0.6
MOUTH_RELEASE = 0.35  # per frame: how fast a mouth with no new audio returns to rest
MAX_BACKLOG = CHUNK_FRAMES  # overdue mouth frames kept; older ones are dropped to catch up
MAX_QUEUE_S = 30.0  # queued mouth frames at most (a burst beyond this is dropped, announced)
HEAD_CHANNELS = ("yaw", "pitch", "roll", "tx", "ty", "scale")
MOUTH_CHANNELS = ("jaw_open", "lip_spread", "upper_lip_raise", "lower_lip_depress")


class LiveError(AvatarError):
    """The live avatar cannot take this input or cannot start."""


class LiveClosedError(LiveError):
    """``push_audio`` after ``close()``."""


class LiveBusyError(LiveError):
    """Another live session holds this machine's cores."""


@dataclass
class LiveStats:
    """What the stream did: frames shown, ticks skipped, and sound-to-mouth latencies."""

    frames: int = 0
    skipped: int = 0  # ticks dropped because a frame was not ready in time
    max_interval_s: float = 0.0  # longest wall-clock gap between two yielded frames
    latencies_s: list[float] = field(default_factory=list)  # push -> first frame showing it
    dropped_audio_s: float = 0.0
    caught_up: int = 0  # overdue mouth frames dropped to bring the latency back down
    started: float = 0.0

    @property
    def fps(self) -> float:
        elapsed = time.perf_counter() - self.started if self.started else 0.0
        return self.frames / elapsed if elapsed > 0 else 0.0


@dataclass
class _MouthFrame:
    values: np.ndarray  # MOUTH_CHANNELS
    speaking: float
    sample_end: int  # audio samples up to here are shown by this frame
    pushed_at: float  # when the newest of those samples arrived
    due: float  # when they play on the stream's audio clock (later than pushed for a burst)


def _session_slot() -> contextlib.AbstractContextManager | None:
    """A machine-wide slot (one per two cores), or None when all are taken."""
    import fcntl

    slots = max(1, (os.cpu_count() or 1) // 2)
    folder = Path(tempfile.gettempdir())
    for k in range(slots):
        handle = open(folder / f"talking-avatar-live-{k}.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return handle
    return None


class LiveAvatar:
    """Portrait analysed and renderer warmed up in the constructor; see the module doc."""

    def __init__(
        self,
        image,
        size: int = 512,
        fps: float = 25,
        seed: int = 0,
        *,
        head_motion: float = 1.0,
        blink_rate: float = 1.0,
    ) -> None:
        if not 10 <= fps <= 60:
            raise LiveError(f"The live frame rate must be between 10 and 60 fps, not {fps}.")
        if not (64 <= size <= 2048 and size % 2 == 0):
            raise LiveError("The live size must be an even number of pixels from 64 to 2048.")
        self._slot = _session_slot()
        if self._slot is None:
            raise LiveBusyError(
                "A live avatar is already running on this machine's "
                f"{os.cpu_count()} cores; a second would push both below real time. "
                "Close the other session first."
            )
        try:
            self._setup(image, size, float(fps), seed, head_motion, blink_rate)
        except BaseException:
            self._slot.close()
            raise

    def _setup(self, image, size, fps, seed, head_motion, blink_rate) -> None:
        from avatar.face import analyze_portrait
        from avatar.motion.types import CHANNEL_INDEX
        from avatar.render import WarpRenderer

        self.fps = fps
        self.seed = seed
        self.head_motion = head_motion
        self.blink_rate = blink_rate
        self.rig = analyze_portrait(image)
        self.renderer = WarpRenderer(self.rig, size=size)
        self._index = CHANNEL_INDEX
        self.samples_per_frame = SAMPLE_RATE / fps
        self.stats = LiveStats()
        self._lock = threading.Condition()
        self._audio = np.zeros(0, np.float32)  # the last CONTEXT_S (+ a chunk) of audio
        self._audio_start = 0  # sample index of self._audio[0]
        self._received = 0  # samples pushed so far
        self._clock = -np.inf  # audio clock offset: sample s plays at _clock + s / rate
        self._arrivals: collections.deque[tuple[int, float]] = collections.deque()
        self._made = 0  # mouth frames made so far
        self._queue: collections.deque[_MouthFrame] = collections.deque()
        self._closed = False
        self._idle_blocks: dict[int, np.ndarray] = {}
        self._preparing: threading.Thread | None = None
        self._mouth = np.zeros(len(MOUTH_CHANNELS), np.float32)
        self._speaking = 0.0
        self.last_sample_shown = 0  # audio samples the latest frame shows, up to here
        self._idle(0)  # the first block now, not at the first frame
        self.renderer.render(self._row(0))  # warm-up (caches, first-call costs)
        # Everything allocated so far (models, the rig, imported modules) is moved out of the
        # collector's reach: a full collection over it took ~0.1 s, long enough to skip ticks.
        gc.freeze()
        self._thread = threading.Thread(target=self._analyse, name="live-mouth", daemon=True)
        self._thread.start()

    # -- input -------------------------------------------------------------------------

    def push_audio(self, samples, sample_rate: int = SAMPLE_RATE) -> None:
        """Queue float32 mono 16 kHz samples (any length, any thread)."""
        if self._closed:
            raise LiveClosedError("This live avatar is closed; make a new one to go on.")
        if sample_rate != SAMPLE_RATE:
            raise LiveError(f"push_audio takes 16 kHz audio, not {sample_rate} Hz; resample first.")
        if not isinstance(samples, np.ndarray):
            raise LiveError("push_audio takes a numpy array of float32 samples.")
        if samples.dtype != np.float32:
            raise LiveError(
                f"push_audio takes float32 samples in -1..1, not {samples.dtype} "
                "(convert int16 with samples / 32768)."
            )
        if samples.ndim == 2 and 1 in samples.shape:
            samples = samples.reshape(-1)
        if samples.ndim != 1:
            raise LiveError(
                f"push_audio takes mono samples (one channel), not shape {samples.shape}."
            )
        if not np.all(np.isfinite(samples)):
            raise LiveError("push_audio got NaN or infinite samples; the chunk was dropped.")
        if samples.size == 0:
            return
        now = time.perf_counter()
        with self._lock:
            self._audio = np.concatenate([self._audio, samples])
            self._received += samples.size
            # The audio clock: sample s plays at offset + s / rate. Real-time pushes keep it
            # at their arrival; a burst (a file at once) is scheduled ahead at real-time pace;
            # a push after a pause moves the clock on to the present.
            self._clock = max(self._clock, now - self._received / SAMPLE_RATE)
            self._arrivals.append((self._received, now))
            self._lock.notify_all()

    # -- mouth analysis (its own thread) -----------------------------------------------

    def _analyse(self) -> None:
        from avatar.audio.features import compute_features
        from avatar.audio.speech import Speech
        from avatar.motion.mouth import mouth_curves
        from avatar.speech.visemes import VisemeTrack

        track = VisemeTrack(segments=[], source="acoustic", language="en")
        spf = self.samples_per_frame
        context = int(CONTEXT_S * SAMPLE_RATE)
        while True:
            with self._lock:
                need = int(np.ceil((self._made + CHUNK_FRAMES + LOOKAHEAD_FRAMES) * spf))
                while not self._closed and self._received < need:
                    self._lock.wait(timeout=0.5)
                if self._closed:
                    return
                first = self._made
                end = int(np.ceil((first + CHUNK_FRAMES) * spf))
                lo = max(0, end - context)
                window = self._audio[lo - self._audio_start : need - self._audio_start].copy()
                ends = [int(np.ceil((first + k + 1) * spf)) for k in range(CHUNK_FRAMES)]
                pushed = [self._push_time(e) for e in ends]
                due = [self._clock + e / SAMPLE_RATE for e in ends]
            start_frame = lo / spf
            n = int(np.ceil(len(window) / spf))
            features = compute_features(Speech(window), self.fps, n)
            mouth = mouth_curves(track, features, self.fps, n)
            offset = int(round(first - start_frame))
            rows = np.stack([mouth[c] for c in MOUTH_CHANNELS], axis=1)
            speaking = np.asarray(features.speaking, np.float32)
            frames = [
                _MouthFrame(
                    rows[min(offset + k, n - 1)],
                    float(speaking[min(offset + k, n - 1)]),
                    ends[k],
                    pushed[k],
                    due[k],
                )
                for k in range(CHUNK_FRAMES)
            ]
            with self._lock:
                self._queue.extend(frames)
                self._made += CHUNK_FRAMES
                limit = int(MAX_QUEUE_S * self.fps)
                while len(self._queue) > limit:
                    self._queue.popleft()
                    self.stats.dropped_audio_s += 1.0 / self.fps
                keep_from = max(0, int(np.ceil(self._made * spf)) - context)
                if keep_from > self._audio_start:
                    self._audio = self._audio[keep_from - self._audio_start :]
                    self._audio_start = keep_from

    def _push_time(self, sample_end: int) -> float:
        """When the sample just before ``sample_end`` arrived (under the lock)."""
        while len(self._arrivals) > 1 and self._arrivals[1][0] < sample_end:
            self._arrivals.popleft()
        for count, when in self._arrivals:
            if count >= sample_end:
                return when
        return self._arrivals[-1][1] if self._arrivals else time.perf_counter()

    # -- motion and frames -------------------------------------------------------------

    def _prepare(self, block: int) -> None:
        """Make the next idle block on a side thread, well before the frames need it (made
        on the frame thread it took long enough to skip ticks)."""
        if block in self._idle_blocks or self._preparing is not None:
            return
        self._preparing = threading.Thread(
            target=self._idle_ahead, args=(block,), name="live-idle", daemon=True
        )
        self._preparing.start()

    def _idle_ahead(self, block: int) -> None:
        try:
            self._idle(block)
        finally:
            self._preparing = None

    def _idle(self, block: int) -> np.ndarray:
        """(frames, channels) idle motion of one block (made once, cross-faded with the last)."""
        blocks = self._idle_blocks
        if block in blocks:
            return blocks[block]
        from avatar.audio.features import compute_features
        from avatar.audio.speech import Speech
        from avatar.motion.procedural import MotionControls, generate_motion

        n = int(round((IDLE_BLOCK_S + CROSSFADE_S) * self.fps))
        silence = Speech(np.zeros(int(n / self.fps * SAMPLE_RATE), np.float32))
        features = compute_features(silence, self.fps, n)
        controls = MotionControls(
            head_motion=self.head_motion, blink_rate=self.blink_rate, seed=self.seed + block
        )
        zeros = {c: np.zeros(n, np.float32) for c in MOUTH_CHANNELS}
        values = generate_motion(features, zeros, controls).values.astype(np.float32)
        kept = {k: v for k, v in self._idle_blocks.items() if k >= block - 2}
        kept[block] = values
        self._idle_blocks = kept  # one assignment: readers see the old or the new dict
        return values

    def _idle_row(self, k: int) -> np.ndarray:
        per_block = int(round(IDLE_BLOCK_S * self.fps))
        fade = int(round(CROSSFADE_S * self.fps))
        block, pos = divmod(k, per_block)
        self._prepare(block + 1)
        row = self._idle(block)[pos].copy()
        if block > 0 and pos < fade:  # the previous block's tail fades out over this one
            w = (pos + 0.5) / fade
            row = w * row + (1.0 - w) * self._idle(block - 1)[per_block + pos]
        return row

    def _row(self, k: int) -> np.ndarray:
        row = self._idle_row(k)
        gain = 1.0 + HEAD_SPEECH_GAIN * self._speaking
        for name in HEAD_CHANNELS:
            row[self._index[name]] *= gain
        for i, name in enumerate(MOUTH_CHANNELS):
            row[self._index[name]] = self._mouth[i]
        return row

    def _next_mouth(self, now: float) -> float | None:
        """Take the next mouth whose audio is due (or relax towards rest); its push time.

        One per tick while on schedule; when more than ``MAX_BACKLOG`` are overdue (the
        analysis was held up, then caught up) the oldest are dropped, so the latency does
        not stay raised by a moment's delay.
        """
        with self._lock:
            due = 0
            for item in self._queue:
                if item.due > now:
                    break
                due += 1
            for _ in range(max(0, due - MAX_BACKLOG)):
                self._queue.popleft()
                self.stats.caught_up += 1
            item = self._queue.popleft() if due else None
        if item is None:  # no new audio: back to rest, the voice fades out
            self._mouth *= 1.0 - MOUTH_RELEASE
            self._speaking *= 1.0 - 1.0 / (SPEAKING_SMOOTH_S * self.fps)
            return None
        self._mouth = item.values.astype(np.float32)
        alpha = 1.0 / (SPEAKING_SMOOTH_S * self.fps)
        self._speaking += alpha * (item.speaking - self._speaking)
        self.last_sample_shown = item.sample_end
        return item.pushed_at

    def frames(self):
        """RGB uint8 frames, one per 1/fps of wall time, until ``close()``."""
        period = 1.0 / self.fps
        start = time.perf_counter()
        self.stats.started = start
        k = 0
        last = None
        while not self._closed:
            tick = start + k * period
            now = time.perf_counter()
            if now > tick + period:  # behind by more than a frame: skip to the present
                missed = int((now - tick) / period)
                self.stats.skipped += missed
                for _ in range(missed):
                    self._next_mouth(now)
                k += missed
                tick = start + k * period
            pushed_at = self._next_mouth(max(now, tick))
            frame = self.renderer.render(self._row(k)).copy()
            wait = tick - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            if self._closed:
                return
            shown = time.perf_counter()
            if pushed_at is not None:
                self.stats.latencies_s.append(shown - pushed_at)
            if last is not None:
                self.stats.max_interval_s = max(self.stats.max_interval_s, shown - last)
            last = shown
            self.stats.frames += 1
            k += 1
            yield frame

    def close(self) -> None:
        """End ``frames()`` and the analysis thread; pushing afterwards is an error."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)
        if self._slot is not None:
            self._slot.close()
            self._slot = None

    def __enter__(self) -> LiveAvatar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def mouth_state(self) -> dict[str, float]:
        """The mouth channels of the frame last taken from ``frames()`` (for meters, tests)."""
        return {name: float(v) for name, v in zip(MOUTH_CHANNELS, self._mouth)}

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def output_size(self) -> tuple[int, int]:
        return self.renderer.output_size


__all__ = ["LiveAvatar", "LiveBusyError", "LiveClosedError", "LiveError", "LiveStats"]
