"""The bad-input matrix through `avatar generate` (in-process, like tests/test_cli.py).

Each case ends in a correct video or in exactly one ``error:`` sentence with a
non-zero exit, never a traceback, and never leaves a partial file behind.
"""

from __future__ import annotations

import pytest
from PIL import Image

from avatar.cli import main
from avatar.video import probe_video
from tests.bad_inputs import CASES, LIMIT_SECONDS, leftovers, unwritable_folder

CLI_CASES = [c for c in CASES if c.cli is not None]
SIZE = "128"


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_cli_bad_input(case, bad_inputs, tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "talk.mp4"
    extra: list[str] = []
    keep: set[str] = set()
    if case.name == "unwritable_output":
        folder = unwritable_folder(tmp_path)
        out = folder / "talk.mp4"
    elif case.name == "output_exists":
        out.write_bytes(b"precious")
        keep.add(out.name)
    size = SIZE if case.size == "default" else case.size
    argv = [
        "generate",
        "--image", str(bad_inputs[case.image]),
        "--audio", str(bad_inputs[case.audio]),
        "--output", str(out),
        *(["--size", str(size)] if size is not None else []),
        "--preset", "fast",
        "--face-index", str(case.face_index),
        "--max-audio-minutes", str(LIMIT_SECONDS / 60),
        "-q",
        *extra,
    ]  # fmt: skip
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err

    if case.cli.kind == "video":
        assert code == 0, err
        info = probe_video(out)
        assert (info.video_codec, info.audio_codec) == ("h264", "aac")
        if size is None:  # the full photo, trimmed to even sides for H.264
            w, h = Image.open(bad_inputs[case.image]).size
            assert (info.width, info.height) == (w - w % 2, h - h % 2)
        else:
            assert (info.width, info.height) == (int(size), int(size))
        assert info.n_frames and info.n_frames >= 4
        assert info.audio_duration is not None
        assert abs(info.video_duration - info.audio_duration) <= 1 / 25 + 0.03
        if case.cli.text:
            notes = [ln for ln in err.splitlines() if ln.startswith("note:")]
            assert any(case.cli.text in n for n in notes), err
        assert leftovers(folder) == [out.name]
    else:
        assert code != 0
        lines = [ln for ln in err.strip().splitlines() if ln]
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        sentence = lines[0][len("error: ") :]
        assert case.cli.text in sentence, sentence
        assert sentence.endswith(".") and sentence.count(". ") == 0, sentence
        if case.name == "output_exists":
            assert out.read_bytes() == b"precious"
        else:
            assert not out.exists()
        assert leftovers(folder, keep) == []


def test_exif_rotated_photo_comes_out_upright(bad_inputs, tmp_path, capsys):
    from tests.bad_inputs import upright_face_in

    out = tmp_path / "upright.mp4"
    argv = ["generate", "--image", str(bad_inputs["exif"]), "--audio", str(bad_inputs["speech"])]
    assert main([*argv, "-o", str(out), "--size", "256", "--preset", "fast", "-q"]) == 0
    capsys.readouterr()
    roll, eyes_to_mouth = upright_face_in(out)
    assert abs(roll) < 15, roll
    assert eyes_to_mouth > 0.15 * 256 * 0.3, eyes_to_mouth


def test_cli_writes_only_the_output_and_its_temp_sibling(bad_inputs, tmp_path):
    """A real `avatar generate` process, its home, temp and working folders watched."""
    import os
    import subprocess
    import sys
    import threading
    import time

    from tests.conftest import REPO

    out_dir, home, tmp, cwd = (tmp_path / d for d in ("out", "home", "tmp", "cwd"))
    for d in (out_dir, home, tmp, cwd):
        d.mkdir()
    seen: dict[str, set[str]] = {d.name: set() for d in (out_dir, home, tmp, cwd)}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for d in (out_dir, home, tmp, cwd):
                seen[d.name].update(str(p.relative_to(d)) for p in d.rglob("*"))
            time.sleep(0.005)

    env = dict(os.environ, HOME=str(home), TMPDIR=str(tmp), XDG_CACHE_HOME=str(home / ".cache"))
    env["PYTHONPATH"] = str(REPO)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "avatar.cli", "generate", "--image", str(bad_inputs["portrait"]),
             "--audio", str(bad_inputs["speech"]), "-o", str(out_dir / "talk.mp4"),
             "--size", SIZE, "--preset", "fast", "-q"],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        stop.set()
        watcher.join()
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # quiet: no progress bar, no native library chatter
    assert sorted(p.name for p in out_dir.iterdir()) == ["talk.mp4"]
    temps = seen["out"] - {"talk.mp4"}
    assert all(name.startswith(".talk.mp4.partial-") for name in temps), temps
    assert temps  # the watcher did see the temporary sibling being written
    assert seen["cwd"] == set(), seen["cwd"]
    # Only matplotlib's own font cache, which MediaPipe's import of pyplot builds once.
    assert all("matplotlib" in path or path in (".cache", ".config") for path in seen["home"])
    assert list(tmp.iterdir()) == []  # (ffmpeg's log is an unnamed temporary file)


def test_cli_process_prints_only_the_sentence(bad_inputs, tmp_path):
    """As a real process (native libraries write to fd 2 directly): stderr is one line."""
    import subprocess
    import sys

    out = tmp_path / "talk.mp4"
    result = subprocess.run(
        [sys.executable, "-m", "avatar.cli", "generate", "--image", str(bad_inputs["no_face"]),
         "--audio", str(bad_inputs["speech"]), "-o", str(out), "-q"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        "error: No face was found in the photo; use a photo with one clearly visible face.\n"
    )
    assert list(tmp_path.iterdir()) == []
