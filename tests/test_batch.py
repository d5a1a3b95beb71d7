"""`avatar batch`: one video per row, a bad row reported, reruns skip what is up to date."""

from __future__ import annotations

import pytest
from scipy.io import wavfile

from avatar.speech.espeak import espeak_available
from tests.batch_support import write_csv
from tests.conftest import shared

pytestmark = pytest.mark.skipif(
    not espeak_available(), reason="libespeak-ng is not installed (apt-get install espeak-ng)"
)


@pytest.fixture
def jobs(tmp_path):
    image = shared("portraits/cc0_codait_luciano.png")
    rows = [
        {
            "image": str(image),
            "text": "Bob bought a map.",
            "voice": "en-us",
            "output": "one.mp4",
            "size": "256",
        },
        {
            "image": "missing_portrait.png",
            "text": "Hello there.",
            "output": "two.mp4",
            "size": "256",
        },
        {
            "image": str(image),
            "text": "Hola, me llamo Pablo.",
            "lang": "es",
            "output": "sub/three.mp4",
            "size": "256",
            "head-motion": "0.5",
        },
    ]
    path = tmp_path / "jobs.csv"
    write_csv(path, rows)
    return path, rows


def test_batch_makes_good_rows_reports_bad_and_skips_on_rerun(tmp_path, jobs, capsys):
    from avatar.batch import run_batch
    from avatar.cli import main

    path, rows = jobs
    out = tmp_path / "out"
    assert main(["batch", str(path), "--out", str(out), "--quiet"]) == 1
    printed = capsys.readouterr().out
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mp4")) == [
        "one.mp4",
        "sub/three.mp4",
    ]
    bad = [line for line in printed.splitlines() if "failed" in line and "two.mp4" in line]
    assert bad and "missing_portrait.png" in bad[0] and bad[0].split()[0] == "2"
    assert "2 made, 0 already up to date, 1 failed" in printed

    mtime = (out / "one.mp4").stat().st_mtime_ns
    again = run_batch(path, out, quiet=True)
    assert [r.status for r in again.rows] == ["skipped", "failed", "skipped"]
    assert (out / "one.mp4").stat().st_mtime_ns == mtime

    rows[2]["head-motion"] = "1.5"  # a changed setting re-renders only that row
    write_csv(path, rows)
    third = run_batch(path, out, quiet=True)
    assert [r.status for r in third.rows] == ["skipped", "failed", "done"]


def test_outputs_stay_inside_the_folder(tmp_path):
    from avatar.batch import run_batch

    image = shared("portraits/cc0_codait_luciano.png")
    path = tmp_path / "jobs.csv"
    write_csv(
        path,
        [
            {"image": str(image), "text": "Hi.", "output": "../escape.mp4"},
            {"image": str(image), "text": "Hi.", "output": str(tmp_path / "abs.mp4")},
            {"image": str(image), "text": "Hi.", "output": "x.mp4", "colour": "red"},
        ],
    )
    report = run_batch(path, tmp_path / "out", quiet=True)
    assert [r.status for r in report.rows] == ["failed"] * 3
    assert "inside the output folder" in report.rows[0].message
    assert "inside the output folder" in report.rows[1].message
    assert "Unknown column 'colour'" in report.rows[2].message
    assert not (tmp_path / "escape.mp4").exists() and not (tmp_path / "abs.mp4").exists()


def test_yaml_jobs_with_audio(tmp_path):
    from avatar.batch import run_batch
    from avatar.speech.tts import synthesize

    image = shared("portraits/cc0_codait_luciano.png")
    speech = synthesize("A bad man may grab a cab.").speech
    wavfile.write(tmp_path / "voice.wav", 16000, speech.samples)
    (tmp_path / "jobs.yaml").write_text(
        "jobs:\n"
        f"  - image: {image}\n    audio: voice.wav\n    output: spoken.mp4\n    size: 256\n"
        f"  - image: {image}\n    text: Maybe the baby wants milk.\n    output: typed\n"
        "    size: 256\n    label: true\n"
        f"  - image: {image}\n    output: nothing.mp4\n",
        encoding="utf-8",
    )
    report = run_batch(tmp_path / "jobs.yaml", tmp_path / "out", quiet=True)
    assert [r.status for r in report.rows] == ["done", "done", "failed"]
    assert "exactly one of text or audio" in report.rows[2].message
    assert (tmp_path / "out" / "spoken.mp4").is_file()
    assert (tmp_path / "out" / "typed.mp4").is_file()
    assert not report.ok and "1 failed" in report.table()
