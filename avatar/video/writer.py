"""Stream RGB frames and a voice-over into a browser-playable H.264 + AAC mp4.

Frames go straight to an ffmpeg subprocess (the ``imageio-ffmpeg`` binary) as
raw rgb24 on its stdin, so encoding runs in parallel with rendering and no
frame is kept in memory. The file appears at its final path only when it is
complete: ffmpeg writes a hidden ``.NAME.partial-PID-XXXX.mp4`` next to it, which
is renamed on a successful ``close()`` and deleted on any failure. A run killed
outright (SIGKILL, power loss) cannot clean up; the next writer of the same
output removes such files once their process is gone.

Choices that matter downstream:

* Colour: RGB is converted with the BT.601 matrix into limited-range yuv420p
  and tagged so (matrix smpte170m, BT.709/sRGB primaries, sRGB transfer).
  Players that read the tags (browsers, ffmpeg, PyAV) and those that ignore
  them (OpenCV assumes BT.601) decode the same colours, which keeps pixel
  comparisons against the source photo honest.
* Odd frame sizes: yuv420p needs even dimensions, so ffmpeg crops the last
  column and/or row (nothing is invented, nothing is scaled). Pass even sizes
  to keep every pixel.
* Duration: no ``-shortest`` and no padding. The audio track is exactly the
  ``Speech`` samples (AAC priming is hidden by the mp4 edit list), and the
  video track is ``frames_written / fps``; write ``speech.n_frames(fps)``
  frames and the two agree within half a frame.
* Provenance: every file is tagged as AI-generated (``comment`` and a custom
  ``synthetic=true`` key, written as mp4 ``mdta`` tags).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

import numpy as np

from avatar.audio.speech import Speech
from avatar.errors import OutputError

if TYPE_CHECKING:
    from typing_extensions import Self

log = logging.getLogger(__name__)

AI_GENERATED_COMMENT = "AI-generated (synthetic media) by talking-avatar"
#: Tags written into every file; callers can add tags but not remove these.
AI_GENERATED_TAGS = {"comment": AI_GENERATED_COMMENT, "synthetic": "true"}
AUDIO_CODEC = "aac"
AUDIO_BITRATE = "128k"
AUDIO_SAMPLE_RATE = 48000
_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}
_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
_PIPE_BYTES = 1 << 20  # ask the kernel for a 1 MiB pipe: one write per typical frame
_CLOSE_TIMEOUT_S = 600.0


class EncoderError(RuntimeError):
    """ffmpeg failed; carries its exit status and last stderr lines.

    Chained as the ``__cause__`` of the user-facing ``OutputError`` so the
    details reach logs and bug reports without reaching the user.
    """

    def __init__(self, returncode: int | None, stderr: str) -> None:
        tail = "\n".join(stderr.strip().splitlines()[-20:])
        if returncode is None:
            status = "did not exit"
        elif returncode < 0:
            status = f"was killed by signal {-returncode}"
        else:
            status = f"exited with status {returncode}"
        super().__init__(f"ffmpeg {status}:\n{tail}" if tail else f"ffmpeg {status}")
        self.returncode = returncode
        self.stderr = stderr


class VideoWriter:
    """Context manager that encodes frames as they come and publishes the mp4 atomically.

    >>> with VideoWriter("out.mp4", fps=25, size=(512, 512), audio=speech) as video:
    ...     for frame in frames:            # (512, 512, 3) uint8 RGB
    ...         video.write(frame)
    >>> video.path                          # exists only now

    An exception inside the ``with`` block (or ``abort()``) kills ffmpeg and
    deletes the partial file, so nothing half-written ever sits at ``path``.
    Everything the user can get wrong about the destination (missing folder,
    no permission, existing file with ``overwrite=False``) raises
    ``OutputError`` from the constructor, before any frame is rendered.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float,
        size: tuple[int, int],
        audio: Speech | None,
        crf: int = 20,
        preset: str = "veryfast",
        metadata: dict[str, str] | None = None,
        overwrite: bool = True,
    ) -> None:
        self.path = Path(path)
        self.fps = _check_fps(fps)
        self.width, self.height = _check_size(size)
        if not (isinstance(crf, int) and 0 <= crf <= 51):
            raise ValueError(f"crf must be an integer from 0 to 51, got {crf!r}")
        if preset not in _PRESETS:
            raise ValueError(f"preset must be one of {', '.join(_PRESETS)}, got {preset!r}")
        if audio is not None and np.asarray(audio.samples).size == 0:
            raise ValueError("audio has no samples; pass audio=None for a silent video")
        self.crf = crf
        self.preset = preset
        self.audio = audio
        self.overwrite = overwrite
        self.metadata = _merge_metadata(metadata)
        self._container = _container_for(self.path)

        self._frames = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdin_fd: int | None = None
        self._stderr: IO[bytes] | None = None
        self._closed = False
        self._aborted = False
        self._tmp_video: Path | None = None
        self._tmp_audio: Path | None = None

        self._check_destination()
        try:
            self._tmp_video = self._reserve_temp(".mp4" if self._container == "mp4" else ".mov")
            if audio is not None:
                self._tmp_audio = self._reserve_temp(".wav")
                _write_wav(self._tmp_audio, audio)
        except OSError as exc:
            self._remove_temps()
            raise OutputError(_os_error_sentence(exc, self.path)) from exc
        except BaseException:
            self._remove_temps()
            raise

    # -- context manager -------------------------------------------------------------

    def __enter__(self) -> Self:
        self._start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._aborted:  # abort() called inside the block: nothing to publish
            self.close()

    def __del__(self) -> None:
        # A writer dropped without close() must not leave ffmpeg or partial files behind.
        with contextlib.suppress(Exception):
            if not self._closed and not self._aborted:
                self.abort()

    # -- public API ------------------------------------------------------------------

    @property
    def frames_written(self) -> int:
        """Frames accepted so far (the video track will be this many frames long)."""
        return self._frames

    @property
    def size(self) -> tuple[int, int]:
        """Frame size the writer expects, ``(width, height)``."""
        return self.width, self.height

    @property
    def output_size(self) -> tuple[int, int]:
        """Encoded size, ``(width, height)``: odd dimensions are cropped by one pixel."""
        return self.width - self.width % 2, self.height - self.height % 2

    def write(self, frame: np.ndarray) -> None:
        """Send one (H, W, 3) uint8 RGB frame to the encoder; blocks only while it catches up."""
        if self._closed or self._aborted:
            raise RuntimeError("cannot write to a VideoWriter that is closed or aborted")
        if not isinstance(frame, np.ndarray):
            frame = np.asarray(frame)
        if frame.shape != (self.height, self.width, 3):
            raise ValueError(
                f"frame shape {frame.shape} does not match the writer's "
                f"{(self.height, self.width, 3)} (height, width, 3)"
            )
        if frame.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 RGB, got dtype {frame.dtype}")
        self._start()
        frame = np.ascontiguousarray(frame)
        view = memoryview(frame).cast("B")
        assert self._stdin_fd is not None
        try:
            while view:
                written = os.write(self._stdin_fd, view)
                view = view[written:]
        except OSError as exc:  # BrokenPipeError and friends: ffmpeg is gone
            self._fail(exc)
        self._frames += 1

    def close(self) -> Path:
        """Finish encoding and move the file into place; returns the final path."""
        if self._closed:
            return self.path
        if self._aborted:
            raise RuntimeError("cannot close a VideoWriter that was aborted")
        if self._frames == 0:
            self.abort()
            raise ValueError("no frames were written; nothing to encode")
        assert self._proc is not None
        self._close_stdin()
        try:
            returncode: int | None = self._proc.wait(timeout=_CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            returncode = None
        if returncode != 0:
            self._fail(None)
        self._check_av_sync()
        try:
            self._publish()
        except OutputError:
            self.abort()
            raise
        except OSError as exc:
            self.abort()
            raise OutputError(_os_error_sentence(exc, self.path)) from exc
        self._closed = True
        self._remove_temps()
        self._close_stderr()
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial output; ``path`` is left untouched."""
        if self._closed or self._aborted:
            return
        self._aborted = True
        self._kill()
        self._remove_temps()
        self._close_stderr()

    # -- internals -------------------------------------------------------------------

    def _start(self) -> None:
        if self._proc is not None:
            return
        if self._closed or self._aborted:
            raise RuntimeError("cannot reuse a VideoWriter that is closed or aborted")
        from imageio_ffmpeg import get_ffmpeg_exe

        # Lives as long as ffmpeg; closed in close()/abort(). A file, not a pipe: a
        # chatty ffmpeg can never block on a full stderr pipe that nobody reads.
        self._stderr = tempfile.TemporaryFile(prefix="avatar-ffmpeg-", suffix=".log")  # noqa: SIM115
        cmd = [get_ffmpeg_exe(), *self._ffmpeg_args()]
        log.debug("starting encoder: %s", subprocess.list2cmdline(cmd))
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            bufsize=0,
        )
        assert self._proc.stdin is not None
        self._stdin_fd = self._proc.stdin.fileno()
        with contextlib.suppress(AttributeError, OSError):  # Linux only, best effort
            import fcntl

            fcntl.fcntl(self._stdin_fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)

    def _ffmpeg_args(self) -> list[str]:
        rate = Fraction(self.fps).limit_denominator(1001)
        out_w, out_h = self.output_size
        filters = []
        if (out_w, out_h) != (self.width, self.height):
            filters.append(f"crop={out_w}:{out_h}:0:0")
        filters.append(
            "scale=out_color_matrix=bt601:out_range=tv:flags=bicubic+accurate_rnd+full_chroma_int"
        )
        filters.append("format=yuv420p")
        args = ["-nostdin", "-hide_banner", "-nostats", "-loglevel", "error", "-y"]
        args += [
            "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-video_size", f"{self.width}x{self.height}",
            "-framerate", f"{rate.numerator}/{rate.denominator}",
            "-i", "pipe:0",
        ]  # fmt: skip
        if self._tmp_audio is not None:
            args += ["-i", f"file:{self._tmp_audio}"]
        args += ["-map", "0:v:0"]
        if self._tmp_audio is not None:
            args += ["-map", "1:a:0"]
        args += [
            "-vf", ",".join(filters),
            "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf),
            "-pix_fmt", "yuv420p",
            "-colorspace", "smpte170m", "-color_primaries", "bt709",
            "-color_trc", "iec61966-2-1", "-color_range", "tv",
        ]  # fmt: skip
        if self._tmp_audio is not None:
            args += [
                "-af", f"aresample={AUDIO_SAMPLE_RATE}:resampler=soxr:precision=28",
                "-c:a", AUDIO_CODEC, "-b:a", AUDIO_BITRATE, "-ar", str(AUDIO_SAMPLE_RATE),
            ]  # fmt: skip
        for key, value in self.metadata.items():
            args += ["-metadata", f"{key}={value}"]
        args += ["-movflags", "+faststart+use_metadata_tags"]
        args += ["-f", self._container, f"file:{self._tmp_video}"]
        return args

    def _check_destination(self) -> None:
        """Fail before any rendering if the file could never be written."""
        parent = self.path.parent
        if not parent.exists():
            raise OutputError(f"The output folder '{parent}' does not exist.")
        if not parent.is_dir():
            raise OutputError(f"The output folder '{parent}' is not a folder.")
        if self.path.is_dir():
            raise OutputError(f"The output path '{self.path}' is a folder, not a file name.")
        if self.path.exists() and not self.overwrite:
            raise OutputError(
                f"The output file '{self.path}' already exists; choose another name or allow "
                f"overwriting."
            )

    def _reserve_temp(self, suffix: str) -> Path:
        """Create an empty hidden file next to the output (proves the folder is writable).

        The name carries this process's id, so that a later run can tell the
        leftovers of a killed run (whose process is gone) from a live one's.
        """
        parent = self.path.parent
        _remove_stale_partials(self.path)
        for _ in range(100):
            token = f"{os.getpid()}-{secrets.token_hex(4)}"
            candidate = parent / f".{self.path.name}.partial-{token}{suffix}"
            try:
                # 0o666 & ~umask, like any file the user creates (mkstemp would force 0o600).
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            os.close(fd)
            return candidate
        raise FileExistsError(errno.EEXIST, "could not find a free temporary name", str(parent))

    def _publish(self) -> None:
        assert self._tmp_video is not None
        if not self._tmp_video.exists() or self._tmp_video.stat().st_size == 0:
            raise OutputError(f"The video encoder produced no output for '{self.path.name}'.")
        if self.overwrite:
            os.replace(self._tmp_video, self.path)
            return
        try:
            os.link(self._tmp_video, self.path)  # atomic "create only if absent"
        except FileExistsError as exc:
            raise OutputError(
                f"The output file '{self.path}' already exists; choose another name or allow "
                f"overwriting."
            ) from exc
        except OSError:  # no hard links on this filesystem: check, then rename
            if self.path.exists():
                raise OutputError(
                    f"The output file '{self.path}' already exists; choose another name or "
                    f"allow overwriting."
                ) from None
            os.replace(self._tmp_video, self.path)
        else:
            os.unlink(self._tmp_video)

    def _check_av_sync(self) -> None:
        if self.audio is None:
            return
        expected = self.audio.n_frames(self.fps)
        if abs(self._frames - expected) > 1:
            log.warning(
                "%s: %d frames written but the audio covers %d frames at %g fps; the video "
                "and audio tracks will differ by %.2f s",
                self.path,
                self._frames,
                expected,
                self.fps,
                abs(self._frames - expected) / self.fps,
            )

    def _fail(self, exc: OSError | None) -> None:
        """ffmpeg died or refused the data: clean up and raise a one-sentence OutputError."""
        self._close_stdin()
        returncode: int | None = None
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                returncode = self._proc.wait(timeout=10)
        stderr = self._read_stderr()
        self.abort()
        cause = EncoderError(returncode, stderr)
        if exc is not None:
            cause.__cause__ = exc
        if "No space left on device" in stderr or (exc is not None and exc.errno == errno.ENOSPC):
            message = f"The disk is full, so the video '{self.path.name}' could not be written."
        else:
            message = f"The video encoder stopped unexpectedly while writing '{self.path.name}'."
        raise OutputError(message) from cause

    def _close_stdin(self) -> None:
        if self._proc is not None and self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        self._stdin_fd = None

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._close_stdin()
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def _read_stderr(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            return self._stderr.read()[-20000:].decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return ""

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            with contextlib.suppress(OSError):
                self._stderr.close()
            self._stderr = None

    def _remove_temps(self) -> None:
        for temp in (self._tmp_video, self._tmp_audio):
            if temp is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
        self._tmp_video = self._tmp_audio = None


def _remove_stale_partials(path: Path) -> list[Path]:
    """Delete the temporary files a killed run left next to ``path``; returns them.

    Only files named for this output whose writing process no longer exists go
    (a SIGKILL gives the writer no chance to clean up); a concurrent writer's
    files are left alone.
    """
    removed: list[Path] = []
    prefix = f".{path.name}.partial-"
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return removed
    for candidate in candidates:
        pid_text = candidate.name[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _process_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            candidate.unlink()
            removed.append(candidate)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run", len(removed))
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # exists but belongs to someone else, or unknowable
        return True
    return True


def _check_fps(fps: float) -> float:
    value = float(fps)
    if not 0 < value <= 240:
        raise ValueError(f"fps must be between 0 and 240, got {fps!r}")
    return value


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height), got {size!r}") from None
    if width < 2 or height < 2 or (width, height) != tuple(size):
        raise ValueError(f"size must be two integers >= 2 as (width, height), got {size!r}")
    return width, height


def _container_for(path: Path) -> str:
    container = _CONTAINERS.get(path.suffix.lower())
    if container is None:
        raise OutputError(f"The output file name '{path.name}' must end in .mp4 (or .m4v or .mov).")
    return container


def _merge_metadata(extra: dict[str, str] | None) -> dict[str, str]:
    """Caller tags plus the AI-generated marking, which callers can extend but not drop."""
    merged: dict[str, str] = {}
    for key, value in (extra or {}).items():
        if not isinstance(key, str) or not key or "=" in key or not key.isprintable():
            raise ValueError(f"metadata keys must be printable text without '=', got {key!r}")
        merged[key] = str(value)
    comment = merged.get("comment", "").strip()
    merged["comment"] = (
        AI_GENERATED_COMMENT if not comment or AI_GENERATED_COMMENT in comment
        else f"{AI_GENERATED_COMMENT}; {comment}"
    )  # fmt: skip
    merged["synthetic"] = AI_GENERATED_TAGS["synthetic"]
    return merged


def _write_wav(path: Path, audio: Speech) -> None:
    """The exact Speech samples as a float32 WAV, so the muxed track is what was analysed."""
    from scipy.io import wavfile

    samples = np.asarray(audio.samples, dtype=np.float32)
    wavfile.write(path, int(audio.sample_rate), np.ascontiguousarray(samples))


def _os_error_sentence(exc: OSError, path: Path) -> str:
    folder = path.parent
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"You do not have permission to write to the folder '{folder}'."
    if exc.errno == errno.ENOSPC:
        return f"The disk is full, so the video '{path.name}' could not be written."
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"The output folder '{folder}' does not exist."
    if exc.errno == errno.ENAMETOOLONG:
        return f"The output file name '{path.name}' is too long."
    return f"The video '{path}' cannot be written ({exc.strerror or exc})."
