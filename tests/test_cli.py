"""The command line: one clear sentence and a non-zero exit for every bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from avatar.cli import main
from tests.conftest import shared


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def portrait():
    return str(shared("portraits/cc0_codait_luciano.png"))


@pytest.fixture
def voice():
    return str(shared("speech/en_male_clean_voicebank_p287_003.wav"))


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_generate_writes_a_video(capsys, tmp_path, portrait, voice):
    out = tmp_path / "v.mp4"
    code, stdout, _ = run(
        capsys,
        "generate",
        "--image",
        portrait,
        "--audio",
        voice,
        "--output",
        str(out),
        "--size",
        "256",
        "-q",
    )
    assert code == 0 and out.is_file()
    assert "wrote" in stdout


def test_no_face(capsys, tmp_path, voice):
    img = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(img)
    code, _, err = run(
        capsys,
        "generate",
        "--image",
        str(img),
        "--audio",
        voice,
        "-o",
        str(tmp_path / "o.mp4"),
        "-q",
    )
    assert code != 0
    assert "No face" in _one_error_line(err)
    assert not (tmp_path / "o.mp4").exists()


def test_text_file_named_wav(capsys, tmp_path, portrait):
    fake = tmp_path / "voice.wav"
    fake.write_text("hello, I am not audio")
    code, _, err = run(
        capsys,
        "generate",
        "--image",
        portrait,
        "--audio",
        str(fake),
        "-o",
        str(tmp_path / "o.mp4"),
        "-q",
    )
    assert code != 0
    _one_error_line(err)
    assert not (tmp_path / "o.mp4").exists()


def test_audio_over_the_limit(capsys, tmp_path, portrait, voice):
    code, _, err = run(
        capsys,
        "generate",
        "--image",
        portrait,
        "--audio",
        voice,
        "-o",
        str(tmp_path / "o.mp4"),
        "--max-audio-minutes",
        "0.05",
        "-q",
    )
    assert code != 0
    assert "limit" in _one_error_line(err)


def test_existing_output_is_not_clobbered(capsys, tmp_path, portrait, voice):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"precious")
    code, _, err = run(
        capsys, "generate", "--image", portrait, "--audio", voice, "-o", str(out), "-q"
    )
    assert code != 0
    assert "--overwrite" in _one_error_line(err)
    assert out.read_bytes() == b"precious"


def test_unwritable_output_folder(capsys, tmp_path, portrait, voice):
    out = tmp_path / "missing" / "dir" / "o.mp4"
    code, _, err = run(
        capsys, "generate", "--image", portrait, "--audio", voice, "-o", str(out), "-q"
    )
    assert code != 0
    _one_error_line(err)


def test_face_index_out_of_range(capsys, tmp_path, voice):
    two = str(shared("portraits/pixabay_laos_two_faces.jpg"))
    code, _, err = run(
        capsys,
        "generate",
        "--image",
        two,
        "--audio",
        voice,
        "-o",
        str(tmp_path / "o.mp4"),
        "--face-index",
        "5",
        "-q",
    )
    assert code != 0
    assert "2 faces" in _one_error_line(err)


def test_bad_setting(capsys, tmp_path, portrait, voice):
    code, _, err = run(
        capsys,
        "generate",
        "--image",
        portrait,
        "--audio",
        voice,
        "-o",
        str(tmp_path / "o.mp4"),
        "--size",
        "333",
        "-q",
    )
    assert code != 0
    assert "even" in _one_error_line(err)


def test_eval_prints_the_table(capsys, tmp_path, portrait, voice):
    out = tmp_path / "v.mp4"
    assert (
        main(
            [
                "generate",
                "--image",
                portrait,
                "--audio",
                voice,
                "-o",
                str(out),
                "--size",
                "256",
                "-q",
            ]
        )
        == 0
    )
    capsys.readouterr()
    code, stdout, _ = run(capsys, "eval", str(out))
    assert code == 0
    assert "lip sync r (lag 0)" in stdout


def test_audio_too_short(capsys, tmp_path, portrait):
    import wave

    short = tmp_path / "blip.wav"
    with wave.open(str(short), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.sin(np.arange(1600) * 0.2) * 8000).astype("<i2").tobytes())
    code, _, err = run(
        capsys,
        "generate",
        "--image",
        portrait,
        "--audio",
        str(short),
        "-o",
        str(tmp_path / "o.mp4"),
        "-q",
    )
    assert code != 0
    assert "at least 0.2 s" in _one_error_line(err)
    assert not (tmp_path / "o.mp4").exists()
