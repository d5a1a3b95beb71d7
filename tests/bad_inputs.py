"""The bad-input matrix shared by the CLI and the web-app tests.

Every case names a portrait and a voice-over (files made once per session by
``make_inputs`` from the real media in shared/data) and what each interface
must do with them: make a correct video (optionally with a notice), or fail
with one sentence containing ``text``. ``None`` for an interface means the
case does not apply there (the app has no output path to choose).
"""

from __future__ import annotations

import io
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PORTRAIT = DATA / "portraits" / "cc0_codait_luciano.png"
SPEECH = DATA / "speech" / "en_male_clean_voicebank_p287_003.wav"
TWO_FACES = DATA / "portraits" / "pixabay_laos_two_faces.jpg"
GROUP = DATA / "portraits" / "pexels_group_meeting_5faces.jpeg"  # largest face looks down
HALF_BODY = DATA / "portraits" / "pd_obama_official_portrait_2012_halfbody.jpg"
SR = 16000
#: Both interfaces are run with this voice-over limit for the "too long" case.
LIMIT_SECONDS = 30


@dataclass(frozen=True)
class Outcome:
    """``video``: a correct mp4 (``text`` in a notice, if given); ``error``: one sentence."""

    kind: str
    text: str = ""


def video(notice: str = "") -> Outcome:
    return Outcome("video", notice)


def error(text: str) -> Outcome:
    return Outcome("error", text)


@dataclass(frozen=True)
class Case:
    name: str
    image: str  # key into make_inputs()
    audio: str
    cli: Outcome | None
    app: Outcome | None
    face_index: int = 0
    #: Output framing: "default" (each interface's own test size), a crop side, or None
    #: for the full photo at native size.
    size: int | str | None = "default"


NOT_IMAGE = "is not an image file that can be read"
DAMAGED = "damaged or truncated"
CUT = "cut by the photo's edge"

#: A head-and-shoulders photo cut by its left or right border through the middle of one eye,
#: at every framing; the part of the face outside is filled in, with a notice.
BORDER_CASES: list[Case] = [
    Case(
        f"face_cut_through_{side}_eye_{size or 'native'}",
        f"cut_{side}_eye",
        "speech",
        video(CUT),
        video(CUT) if size in (512, None) else None,  # the app's framings: 512 and full photo
        size=size,
    )
    for side in ("left", "right")
    for size in (256, 512, None)
]

CASES: list[Case] = [
    Case("baseline", "portrait", "speech", video(), video()),
    Case("no_face", "no_face", "speech", error("No face was found"), error("No face was found")),
    Case("several_faces", "two_faces", "speech", video("2 faces"), video()),
    Case(
        "tiny_face",
        "tiny_face",
        "speech",
        error("it must be at least 48 pixels wide"),
        error("it must be at least 48 pixels wide"),
    ),
    Case(
        "extreme_pose",
        "group",
        "speech",
        error("turned too far from the camera"),
        error("turned too far from the camera"),
    ),
    Case("not_an_image", "text_as_jpg", "speech", error(NOT_IMAGE), error(NOT_IMAGE)),
    Case("truncated_jpeg", "truncated_jpg", "speech", error(DAMAGED), error(DAMAGED)),
    Case("truncated_png", "truncated_png", "speech", error(DAMAGED), error(DAMAGED)),
    Case("cmyk_jpeg", "cmyk", "speech", video(), video()),
    Case("png_16bit_grey", "grey16", "speech", video(), video()),
    Case("png_16bit_rgb", "rgb16", "speech", video(), video()),
    Case("rgba", "rgba", "speech", video("transparency"), video("transparency")),
    Case("greyscale", "grey", "speech", video(), video()),
    Case("exif_rotated", "exif", "speech", video(), video()),
    Case(
        "huge_12000x9000",
        "huge",
        "speech",
        video("The image (12000×9000) was downscaled to 4096×3072."),
        video("The image (12000×9000) was downscaled to 4096×3072."),
    ),
    Case("animated_gif", "gif", "speech", video("animated"), video("animated")),
    Case(
        "empty_audio",
        "portrait",
        "empty_wav",
        error("contains no sound (it is empty)"),
        error("contains no sound (it is empty)"),
    ),
    Case("zero_byte_audio", "portrait", "zero_bytes", error("is empty"), error("is empty")),
    Case(
        "audio_0.15s",
        "portrait",
        "speech_015",
        error("it must be at least 0.2 s"),
        error("it must be at least 0.2 s"),
    ),
    Case("audio_0.2s", "portrait", "speech_02", video(), video()),
    Case("silence", "portrait", "silence", video("still face that blinks"), video("still face")),
    Case("clipped_loud", "portrait", "clipped", video(), video()),
    Case("audio_with_video_stream", "portrait", "with_video", video(), video()),
    Case(
        "text_as_wav",
        "portrait",
        "text_as_wav",
        error("not an audio file"),
        error("not an audio file"),
    ),
    Case(
        "png_as_wav",
        "portrait",
        "png_as_wav",
        error("contains no sound"),
        error("contains no sound"),
    ),
    Case(
        "audio_over_limit",
        "portrait",
        "long",
        error("the limit is 30 seconds"),
        error("the limit is 30 seconds"),
    ),
    *BORDER_CASES,
    Case("face_cut_at_chin", "cut_chin", "speech", video(), video()),
    Case("face_cut_at_forehead", "cut_forehead", "speech", video(), video()),
    Case("half_a_face", "cut_half", "speech", error(CUT), error(CUT)),
    Case("unwritable_output", "portrait", "speech", error("permission"), None),
    Case("output_exists", "portrait", "speech", error("--overwrite"), None),
]


def _save_wav(path: Path, samples: np.ndarray, rate: int = SR) -> Path:
    from scipy.io import wavfile

    x = np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0)
    wavfile.write(path, rate, (x * 32767).astype("<i2"))
    return path


def _speech_samples() -> np.ndarray:
    from scipy.io import wavfile

    rate, x = wavfile.read(SPEECH)
    x = x.astype(np.float64) / (32768.0 if x.dtype == np.int16 else 1.0)
    if x.ndim > 1:
        x = x.mean(axis=1)
    assert rate == SR, rate
    return x


def _truncate(data: bytes, fraction: float = 0.5) -> bytes:
    return data[: int(len(data) * fraction)]


def _encoded(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def make_inputs(root: Path) -> dict[str, Path]:
    """Every input of the matrix, written under ``root`` (a few MB, about 3 s)."""
    import cv2
    from imageio_ffmpeg import get_ffmpeg_exe

    root.mkdir(parents=True, exist_ok=True)
    photo = Image.open(PORTRAIT).convert("RGB")
    files: dict[str, Path] = {"portrait": PORTRAIT, "two_faces": TWO_FACES, "group": GROUP}

    def put(name: str, data: bytes) -> Path:
        path = root / name
        path.write_bytes(data)
        return path

    gradient = np.linspace(0, 255, 256 * 256 * 3).reshape(256, 256, 3).astype(np.uint8)
    files["no_face"] = put("no_face.png", _encoded(Image.fromarray(gradient), "PNG"))
    canvas = Image.new("RGB", (400, 400), (90, 110, 90))
    canvas.paste(photo.resize((60, 60), Image.LANCZOS), (170, 170))
    files["tiny_face"] = put("tiny_face.png", _encoded(canvas, "PNG"))
    files["text_as_jpg"] = put("notes.jpg", b"this is a shopping list, not a photo\n" * 40)
    files["truncated_jpg"] = put("cut.jpg", _truncate(_encoded(photo, "JPEG", quality=92)))
    files["truncated_png"] = put("cut.png", _truncate(_encoded(photo, "PNG")))
    files["cmyk"] = put("cmyk.jpg", _encoded(photo.convert("CMYK"), "JPEG", quality=92))
    grey = np.asarray(photo.convert("L"), dtype=np.uint16) * 257
    files["grey16"] = put("grey16.png", _encoded(Image.fromarray(grey), "PNG"))
    rgb16 = (np.asarray(photo, dtype=np.uint16) * 257)[..., ::-1]  # cv2 writes BGR
    files["rgb16"] = root / "rgb16.png"
    cv2.imwrite(str(files["rgb16"]), np.ascontiguousarray(rgb16))
    rgba = np.dstack([np.asarray(photo), np.full(photo.size[::-1], 255, np.uint8)])
    rgba[:30, :, 3] = 0  # a transparent band at the top
    files["rgba"] = put("rgba.png", _encoded(Image.fromarray(rgba, "RGBA"), "PNG"))
    files["grey"] = put("grey.jpg", _encoded(photo.convert("L"), "JPEG", quality=92))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; "rotate 90° clockwise to view"
    sideways = photo.transpose(Image.Transpose.ROTATE_90)
    files["exif"] = put("sideways.jpg", _encoded(sideways, "JPEG", quality=92, exif=exif))
    big = Image.new("RGB", (12000, 9000), (128, 120, 110))
    big.paste(photo.resize((3000, 3000), Image.BILINEAR), (4500, 3000))
    files["huge"] = put("huge.jpg", _encoded(big, "JPEG", quality=70))
    del big
    files.update(_border_cuts(root))
    small = photo.resize((240, 240))
    frames = [small, small.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    files["gif"] = put("anim.gif", buf.getvalue())

    x = _speech_samples()
    clip = x[int(1.0 * SR) : int(2.0 * SR)]  # one second of speech
    files["speech"] = _save_wav(root / "speech.wav", clip)
    files["speech_02"] = _save_wav(root / "speech_02.wav", clip[: int(0.2 * SR)])
    files["speech_015"] = _save_wav(root / "speech_015.wav", clip[: int(0.15 * SR)])
    files["empty_wav"] = _save_wav(root / "empty.wav", np.zeros(0))
    files["zero_bytes"] = put("zero.wav", b"")
    files["silence"] = _save_wav(root / "silence.wav", np.zeros(SR))
    loud = clip / max(1e-9, np.abs(clip).max()) * 20.0  # 26 dB over full scale, hard clipped
    files["clipped"] = _save_wav(root / "clipped.wav", loud)
    files["text_as_wav"] = put("voice.wav", b"hello, I am a text file and not a voice-over\n" * 20)
    files["png_as_wav"] = put("picture.wav", _encoded(photo, "PNG"))
    reps = int(np.ceil((LIMIT_SECONDS + 10) * SR / len(x)))
    files["long"] = _save_wav(root / "long.wav", np.tile(x, reps)[: (LIMIT_SECONDS + 10) * SR])
    files["with_video"] = root / "with_video.mp4"
    subprocess.run(
        [get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1",
         "-i", str(files["speech"]), "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(files["with_video"])],
        check=True, capture_output=True,
    )  # fmt: skip
    return files


def _border_cuts(root: Path) -> dict[str, Path]:
    """The half-body photo cut by its border through one eye, the chin, the forehead, and
    down the middle of the face (positions from its landmarks)."""
    from avatar.face import analyze_portrait

    photo = np.asarray(Image.open(HALF_BODY).convert("RGB"))
    xy = analyze_portrait(photo).landmarks[:, :2]
    left_eye = xy[[33, 133]].mean(0)  # the eye on the image's left
    right_eye = xy[[263, 362]].mean(0)
    nose, chin, top = xy[1], xy[152], xy[10]
    face_height = chin[1] - top[1]
    cuts = {
        "cut_left_eye": photo[:, int(left_eye[0]) :],
        "cut_right_eye": photo[:, : int(right_eye[0]) + 1],
        "cut_chin": photo[: int(chin[1] - 0.08 * face_height)],
        "cut_forehead": photo[int(top[1] + 0.12 * face_height) :],
        "cut_half": photo[:, int(nose[0]) :],
    }
    files = {}
    for name, pixels in cuts.items():
        files[name] = root / f"{name}.png"
        Image.fromarray(np.ascontiguousarray(pixels)).save(files[name])
    return files


def unwritable_folder(tmp: Path) -> Path:
    """A folder this user cannot write to (root ignores permission bits: use /sys)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp / "read-only"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    return folder


def leftovers(folder: Path, keep: set[str] = frozenset()) -> list[str]:
    """Files in ``folder`` other than ``keep`` (partial or temporary files)."""
    if not folder.is_dir() or folder == Path("/sys"):
        return []
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def upright_face_in(video_path: Path) -> tuple[float, float]:
    """(roll, eye-to-mouth direction) of the face in the video's middle frame.

    An upright face has a small roll and its eyes above its mouth (direction > 0).
    """
    import av

    from avatar.face import analyze_portrait

    with av.open(str(video_path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    rig = analyze_portrait(frames[len(frames) // 2])
    xy = rig.xy
    eyes_y = (xy[33, 1] + xy[263, 1]) / 2
    mouth_y = (xy[61, 1] + xy[291, 1]) / 2
    return float(rig.roll), float(mouth_y - eyes_y)
