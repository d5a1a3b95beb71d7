"""Lips on the *output video*, judged at phone centres whose timings are known exactly.

espeak-ng synthesises the sentences and reports when each phoneme sounds; the
pipeline gets only the audio (phones recognised from it, as for any voice-over);
the evaluation tracker then reads the mouth opening off the encoded video.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avatar.audio.speech import Speech
from avatar.eval.tracker import track_video
from avatar.settings import GenerationSettings
from pipelines import TalkingPortraitPipeline
from tests.conftest import shared
from tests.motion.test_mouth import SENTENCES, espeak_synth  # noqa: F401

BILABIALS = {"P", "B", "M"}
OPEN_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY"}
FPS = 25.0


@pytest.fixture(scope="module")
def sentence_clip():
    """All sentences in one clip with half-second pauses, and their exact phone timings."""
    from avatar.speech import PhoneSegment, VisemeTrack

    pieces, segments, offset = [], [], 0.0
    track_segments: list[PhoneSegment] = []
    gap = np.zeros(8000, np.float32)
    for text in SENTENCES:
        speech, track = espeak_synth(text)
        pieces += [speech.samples, gap]
        for s in track.segments:
            # a reduced vowel (schwa) is an AH in ARPAbet but mid-central, not an open vowel
            phone = "schwa" if s.reduced else s.phone
            segments.append((phone, s.centre + offset))
            track_segments.append(
                dataclasses.replace(s, start=s.start + offset, end=s.end + offset)
            )
        offset += speech.duration + len(gap) / 16000
    samples = np.concatenate(pieces)
    exact = VisemeTrack(track_segments, "espeak", "en", len(samples) / 16000)
    return Speech(samples), segments, exact


@pytest.mark.parametrize(
    ("portrait", "known_timings", "target"),
    [
        # Timings known exactly, as a TTS reports them.
        ("cc0_codait_luciano.png", True, 0.9),
        # A photo with parted lips must still seal them on p/b/m.
        ("pd_eileen_collins_nasa.png", True, 0.9),
        # Audio only: phones recognised from the audio.  A few closures are missed.
        ("cc0_codait_luciano.png", False, 0.8),
    ],
)
def test_video_mouth_closes_on_pbm_and_opens_on_open_vowels(
    tmp_path, sentence_clip, portrait, known_timings, target
):
    speech, segments, exact = sentence_clip
    out = tmp_path / "said.mp4"
    TalkingPortraitPipeline()(
        shared(f"portraits/{portrait}"),
        speech,
        GenerationSettings(size=384),
        output=out,
        phones=exact if known_timings else None,
    )
    mouth = track_video(out).mouth_open
    assert np.isfinite(mouth).mean() > 0.99
    lo, hi = np.nanpercentile(mouth, [5, 95])
    z = (mouth - lo) / (hi - lo)
    at = lambda t: z[min(len(z) - 1, int(t * FPS))]  # noqa: E731
    closed = [at(t) <= 0.1 for p, t in segments if p in BILABIALS]
    opened = [at(t) >= 0.5 for p, t in segments if p in OPEN_VOWELS]
    assert len(closed) >= 25 and len(opened) >= 20
    assert np.mean(closed) >= target, (np.mean(closed), len(closed))
    assert np.mean(opened) >= target, (np.mean(opened), len(opened))
