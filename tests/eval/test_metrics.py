"""avatar.eval: known answers for the pure metrics, real GRID clips, and a rendered video."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from avatar.eval import (
    EvalError,
    audio_log_rms,
    detect_blinks,
    evaluate_video,
    lipsync_correlation,
    rotation_to_angles,
    speech_mask,
)
from avatar.eval.metrics import REAL_LIPSYNC_R0

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
VIDEOS = DATA / "videos"
PORTRAIT = DATA / "portraits" / "pd_eileen_collins_nasa.png"
GRID = sorted(VIDEOS.glob("grid_*.mpg")) if VIDEOS.is_dir() else []
# DESIGN.md: real people score 0.24-0.57 (median 0.47) at lag 0 on these clips.
DESIGN_R0_RANGE = (0.24, 0.57)


def _ffmpeg() -> str:
    from imageio_ffmpeg import get_ffmpeg_exe

    return get_ffmpeg_exe()


def _envelope(n: int, seed: int = 0) -> np.ndarray:
    """Syllable-like bumps at ~3.5 Hz with pauses, in [0, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    env = np.clip(np.sin(2 * np.pi * t / (25 / 3.5)), 0, None) * rng.uniform(0.5, 1.0, n)
    env = np.convolve(env, np.ones(3) / 3, "same")
    env[:10] = 0
    env[35:40] = 0
    env[n - 15 :] = 0
    return env / env.max()


# ------------------------------------------------------------------ pure functions


def test_lipsync_identical_signals_correlate_at_lag_zero():
    env = _envelope(200)
    r0, lag, rb = lipsync_correlation(env, env, 10)
    assert r0 == pytest.approx(1.0, abs=1e-9)
    assert lag == 0 and rb == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("delay", [3, -2])
def test_lipsync_best_lag_is_the_mouth_delay(delay):
    env = _envelope(200, seed=1)
    mouth = np.roll(env, delay)  # mouth[t] = env[t - delay]: positive = mouth lags audio
    _, lag, rb = lipsync_correlation(mouth, env, 10)
    assert lag == delay
    assert rb > 0.99


def test_lipsync_ignores_frames_without_a_face():
    env = _envelope(200, seed=2)
    mouth = env.copy()
    mouth[50:60] = np.nan
    r0, lag, _ = lipsync_correlation(mouth, env, 10)
    assert r0 == pytest.approx(1.0, abs=1e-9) and lag == 0


def test_lipsync_undefined_for_a_still_mouth():
    r0, lag, rb = lipsync_correlation(np.ones(100), _envelope(100), 10)
    assert math.isnan(r0) and lag is None and math.isnan(rb)


def test_two_eye_dips_are_two_blinks_of_the_right_length():
    fps = 25.0
    ear = np.full(250, 0.3)
    ear[50:54] = 0.08  # 4 frames = 160 ms
    ear[150:157] = 0.1  # 7 frames = 280 ms
    both = np.stack([ear, ear * 1.1], axis=1)  # two eyes with different open levels
    for trace in (ear, both):
        blinks = detect_blinks(trace, fps)
        assert blinks == [(50, 54), (150, 157)]
        assert [1000 * (e - s) / fps for s, e in blinks] == [160.0, 280.0]


def test_no_blinks_in_a_constant_or_a_one_frame_glitch():
    assert detect_blinks(np.full(300, 0.28), 25.0) == []
    glitch = np.full(300, 0.28)
    glitch[100] = 0.05  # shorter than the 2-frame minimum
    assert detect_blinks(glitch, 25.0) == []
    assert detect_blinks(np.full(50, np.nan), 25.0) == []


def test_blink_threshold_adapts_to_a_slowly_changing_open_level():
    ear = np.linspace(0.35, 0.2, 500)  # the head tilts, the open-eye EAR drifts
    ear[100:104] *= 0.3
    ear[400:405] *= 0.3
    assert detect_blinks(ear, 25.0) == [(100, 104), (400, 405)]


def test_audio_window_of_frame_t_is_t_over_fps():
    sr, fps, n = 16000, 25.0, 50
    x = np.zeros(int(n / fps * sr), np.float32)
    a, b = int(10 / fps * sr), int(11 / fps * sr)  # exactly frame 10's window
    x[a:b] = np.sin(2 * np.pi * 1000 * np.arange(b - a) / sr)
    env = audio_log_rms(x, sr, fps, n)
    assert int(np.nanargmax(env)) == 10
    assert env[10] - max(env[9], env[11]) > 20  # the zero-phase band-pass leaks a little
    # Frame 0 shown 0.2 s into the audio: the burst moves 5 frames earlier.
    shifted = audio_log_rms(x, sr, fps, n, offset_s=0.2)
    assert int(np.nanargmax(shifted)) == 5
    # Digital silence is floored 60 dB under the loud frames, not at -200 dB.
    talk = np.where(np.arange(x.size) < x.size // 2, np.sin(np.arange(x.size) * 0.4), 0.0)
    floored = audio_log_rms(talk, sr, fps, n)
    assert np.nanmin(floored) == pytest.approx(np.nanpercentile(floored, 95) - 60.0)


def test_speech_mask_finds_a_burst_between_pauses():
    env = np.full(100, -70.0)
    env[30:60] = -20.0
    env[44:46] = -65.0  # a short gap inside a word
    mask = speech_mask(env, 25.0)
    assert mask is not None and mask[30:60].all() and not mask[:25].any()
    assert speech_mask(np.full(100, -30.0), 25.0) is None  # no contrast


def _rot(axis: str, deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return {
        "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


def test_pose_sign_conventions():
    # Camera axes: x right, y down, z away; the face looks along -z at rest.
    # Nose towards image right = face turns to the viewer's right = yaw > 0.
    yaw, pitch, roll = rotation_to_angles(_rot("y", -20))
    assert (yaw, pitch, roll) == pytest.approx((20, 0, 0), abs=1e-6)
    # Nose towards +y (down) = chin down = pitch > 0.
    assert rotation_to_angles(_rot("x", 15)) == pytest.approx((0, 15, 0), abs=1e-6)
    # Eye line's right end going down in the image = clockwise = roll > 0.
    assert rotation_to_angles(_rot("z", 10)) == pytest.approx((0, 0, 10), abs=1e-6)
    combo = _rot("y", -12) @ _rot("x", 8) @ _rot("z", -5)
    assert rotation_to_angles(combo) == pytest.approx((12, 8, -5), abs=1e-6)


def test_unreadable_inputs_raise_one_sentence(tmp_path):
    with pytest.raises(EvalError, match="does not exist"):
        evaluate_video(tmp_path / "missing.mp4")
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("this is not a video")
    with pytest.raises(EvalError):
        evaluate_video(bogus)
    if PORTRAIT.is_file():
        with pytest.raises(EvalError, match="not a video"):
            evaluate_video(PORTRAIT)


# ------------------------------------------------------------------- real GRID clips


@pytest.fixture(scope="module")
def grid_reports():
    if not GRID:
        pytest.skip("shared/data/videos is not available")
    return {p.stem: evaluate_video(p) for p in GRID}


def test_grid_face_found_and_head_steady(grid_reports):
    for name, r in grid_reports.items():
        assert r.face_found_fraction >= 0.99, name
        assert r.yaw_std < 6 and r.pitch_std < 6 and r.roll_std < 6, name
        assert abs(r.yaw_mean) < 10 and abs(r.pitch_mean) < 10, name  # people facing the camera
        assert r.tracker_fps > 40, name


def test_grid_lipsync_matches_real_people(grid_reports):
    r0 = {name: r.lipsync_r0 for name, r in grid_reports.items()}
    lo, hi = DESIGN_R0_RANGE
    for name, r in r0.items():
        if "brbk7n" in name:
            # Her lips rest slightly parted in the pauses (the refined lip landmarks
            # read ~0.07), so opening tracks loudness less: 0.14 with this tracker.
            assert r > 0.05, name
        else:
            assert lo - 0.1 <= r <= hi + 0.1, (name, r)
    assert abs(float(np.median(list(r0.values()))) - 0.47) <= 0.1
    # The calibrated constants the table prints must match what is measured here.
    assert min(r0.values()) == pytest.approx(REAL_LIPSYNC_R0[0], abs=0.02)
    assert max(r0.values()) == pytest.approx(REAL_LIPSYNC_R0[1], abs=0.02)


def test_grid_blinks_and_speech_mask(grid_reports):
    # grid_bbaf2n blinks twice (frames ~43 and ~51, checked by eye).
    bbaf = grid_reports["grid_bbaf2n_male"]
    assert bbaf.blink_count == 2
    assert all(100 <= d <= 500 for d in bbaf.blink_durations_ms)
    # The energy VAD agrees with GRID's word alignment (speech 0.49-2.21 s).
    align = VIDEOS / "grid_swwp2s_male_speaker2.align"
    r = grid_reports["grid_swwp2s_male_speaker2"]
    if align.is_file():
        truth = np.zeros(r.n_frames, bool)
        for row in align.read_text().splitlines():
            start, end, word = row.split()
            if word != "sil":
                truth[int(int(start) / 25000 * 25) : int(int(end) / 25000 * 25)] = True
        from avatar.audio.decode import load_audio

        speech = load_audio(r.video)
        mask = speech_mask(audio_log_rms(speech.samples, 16000, r.fps, r.n_frames), r.fps)
        assert mask is not None and np.mean(mask == truth) >= 0.9


def test_grid_report_serialises_and_prints(grid_reports):
    r = grid_reports["grid_lwbsza_female_older"]
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["container"]["video_codec"] == "mpeg1video"
    assert abs(d["av_duration_diff_frames"]) < 1
    table = r.format_table()
    assert "lip sync r (lag 0)" in table and "blinks per minute" in table


def test_audio_track_offsets_are_honoured(tmp_path, grid_reports):
    """A sound track muxed 0.2 s late shows up as the mouth leading by 5 frames, and
    a video track muxed 0.2 s late as the mouth lagging by 5 (player's view)."""
    src = VIDEOS / "grid_lwbsza_female_older.mpg"
    assert grid_reports["grid_lwbsza_female_older"].lipsync_best_lag == 0
    cases = {
        "audio_late.mkv": (["-itsoffset", "0.2"], [], -5),
        "video_late.mkv": ([], ["-itsoffset", "0.2"], 5),
    }
    for name, (audio_opt, video_opt, expected) in cases.items():
        out = tmp_path / name
        cmd = [
            _ffmpeg(),
            "-v",
            "error",
            "-y",
            *video_opt,
            "-i",
            str(src),
            *audio_opt,
            "-i",
            str(src),
        ]
        subprocess.run([*cmd, "-map", "0:v", "-map", "1:a", "-c", "copy", str(out)], check=True)
        assert evaluate_video(out).lipsync_best_lag == expected, name


# ---------------------------------------------------------------- rendered video


def _render(tmp_path: Path, delay: int) -> tuple[Path, np.ndarray]:
    """A 3 s mp4 of the portrait whose mouth is warped open following a known envelope
    (delayed by ``delay`` frames), with a tone whose loudness follows the envelope."""
    import cv2
    import imageio_ffmpeg
    import mediapipe as mp
    from scipy.io import wavfile

    fps, n, sr = 25, 75, 16000
    img = cv2.cvtColor(cv2.imread(str(PORTRAIT)), cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True) as fm:
        lm = fm.process(img).multi_face_landmarks[0].landmark
    p = np.array([(q.x * w, q.y * h) for q in lm])
    io = float(np.linalg.norm(p[33] - p[263]))
    cx, lip_y = (p[61, 0] + p[291, 0]) / 2, (p[13, 1] + p[14, 1]) / 2
    half = (p[291, 0] - p[61, 0]) / 2
    bottom = p[152, 1] + 0.3 * io
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    fall = np.exp(-(((xx - cx) / (1.6 * half)) ** 2)) * np.clip(
        (bottom - yy) / (bottom - lip_y), 0, 1
    )
    fall *= yy > lip_y

    env = _envelope(n)
    mouth = np.roll(env, delay)
    mouth[:delay] = 0

    def frame(opening: float) -> np.ndarray:
        gap = opening * 0.25 * io
        if gap < 0.5:
            return img
        out = cv2.remap(img, xx, yy - gap * fall, cv2.INTER_LINEAR)
        mask = np.zeros((h, w), np.uint8)
        centre = (round(cx), round(lip_y + gap / 2))
        cv2.ellipse(mask, centre, (round(0.85 * half), round(gap / 2)), 0, 0, 360, 255, -1)
        m = cv2.GaussianBlur(mask, (5, 5), 0).astype(np.float32)[..., None] / 255
        return (out * (1 - m) + np.array([60, 20, 25]) * m).astype(np.uint8)

    t = np.arange(int(n / fps * sr)) / sr
    level_db = np.where(env > 0, -35 + 30 * env, -60)
    amp = np.interp(t, (np.arange(n) + 0.5) / fps, 10 ** (level_db / 20))
    tone = sum(a * np.sin(2 * np.pi * f * t + f) for a, f in ((1, 220), (0.7, 660), (0.5, 1320)))
    wav = tmp_path / f"tone{delay}.wav"
    wavfile.write(wav, sr, (0.5 * amp * tone * 32767).astype(np.int16))
    path = tmp_path / f"render{delay}.mp4"
    writer = imageio_ffmpeg.write_frames(
        str(path), (w, h), fps=fps, codec="libx264", audio_path=str(wav), audio_codec="aac"
    )
    writer.send(None)
    for i in range(n):
        writer.send(np.ascontiguousarray(frame(mouth[i])))
    writer.close()
    return path, env


@pytest.mark.skipif(not PORTRAIT.is_file(), reason="shared portrait not available")
def test_rendered_mouth_following_the_envelope(tmp_path):
    path, env = _render(tmp_path, delay=0)
    r = evaluate_video(path, source_image=PORTRAIT)
    assert r.face_found_fraction == 1.0
    assert np.corrcoef(r.track.mouth_open, env)[0, 1] > 0.7  # the tracker follows the paint
    assert r.lipsync_r0 > 0.6 and r.lipsync_best_lag == 0
    assert r.blink_count == 0
    assert r.yaw_std < 1 and r.pitch_std < 2
    assert r.background_psnr > 30  # nothing but the mouth changes
    c = r.container
    assert (c["video_codec"], c["pixel_format"], c["audio_codec"]) == ("h264", "yuv420p", "aac")
    assert abs(r.av_duration_diff_frames) <= 1.0


@pytest.mark.skipif(not PORTRAIT.is_file(), reason="shared portrait not available")
def test_rendered_mouth_three_frames_late(tmp_path):
    path, _ = _render(tmp_path, delay=3)
    r = evaluate_video(path)
    assert r.lipsync_best_lag == 3
    assert r.lipsync_r_best > 0.6 > r.lipsync_r0


def test_identity_with_eyes_open_leaves_out_blink_frames():
    """dlib's descriptor moves ~0.2 when a face closes its eyes; the open-eye mean skips
    the described frames where either eye's aspect ratio drops under 3/4 of its median."""
    from avatar.eval.metrics import _open_eye_mean
    from avatar.eval.tracker import FaceTrack

    n = 20
    nan = np.full(n, np.nan)
    ear = np.full(n, 0.3)
    ear_left = ear.copy()
    ear_left[8] = 0.05  # a blink of the left eye at frame 8
    track = FaceTrack(
        fps=25.0, width=64, height=64, found=np.ones(n, bool), mouth_open=nan, jaw_open=nan,
        ear_left=ear_left, ear_right=ear, yaw=nan, pitch=nan, roll=nan,
        center=np.zeros((n, 2)), face_width=np.full(n, 30.0), interocular=nan,
        stable=np.zeros((n, 16, 2), np.float32), stable_fit=np.zeros((n, 16, 2), np.float32),
    )  # fmt: skip
    frames, distances = [0, 4, 8, 12], [0.2, 0.3, 0.5, 0.1]
    assert _open_eye_mean(frames, distances, track) == pytest.approx(0.2)
    assert np.isnan(_open_eye_mean([], [], track))
