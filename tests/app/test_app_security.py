"""Security of the web app on localhost: uploads judged by content, only the app's own
files served, no public link unless asked for."""

from __future__ import annotations

import ast
import io
import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

from avatar.video import probe_video  # noqa: E402


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _error(client, **kwargs) -> str:
    with pytest.raises(gradio_client.exceptions.AppError) as info:
        client.predict(api_name="/generate", preset="fast", **kwargs)
    message = str(info.value)
    assert "Traceback" not in message and len(message.splitlines()) == 1, message
    return message


def test_uploads_are_judged_by_content_not_by_name(client, bad_inputs, tmp_path):
    speech = bad_inputs["speech"]
    portrait = bad_inputs["portrait"]
    mp3 = tmp_path / "voice.mp3"
    from imageio_ffmpeg import get_ffmpeg_exe

    subprocess.run(
        [get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(speech), str(mp3)],
        check=True,
    )
    mp3_as_png = tmp_path / "photo.png"
    mp3_as_png.write_bytes(mp3.read_bytes())
    zip_as_png = tmp_path / "archive.png"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "not a photo")
    zip_as_png.write_bytes(buf.getvalue())
    elf_as_png = tmp_path / "program.png"
    elf_as_png.write_bytes(Path("/bin/true").read_bytes()[:200_000])

    for fake in (mp3_as_png, zip_as_png, elf_as_png):
        message = _error(client, image=handle_file(str(fake)), audio=handle_file(str(speech)))
        assert message.startswith("The portrait is not an image file that can be read"), message
    for fake in (zip_as_png, elf_as_png):
        message = _error(client, image=handle_file(str(portrait)), audio=handle_file(str(fake)))
        assert "not an audio file" in message or "contains no sound" in message, message
    # A real voice-over with the wrong extension is recognised by its content and used.
    video, _, _ = client.predict(
        image=handle_file(str(portrait)),
        audio=handle_file(str(mp3_as_png)),
        preset="fast",
        api_name="/generate",
    )
    assert abs(probe_video(video).audio_duration - 1.0) < 0.1


@pytest.mark.parametrize(
    "target",
    [
        "/etc/passwd",
        "../../../../../../etc/passwd",
        "%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "..%2f..%2f..%2f..%2fetc%2fpasswd",
        str(REPO / "app.py"),
        str(REPO / "pyproject.toml"),
    ],
)
def test_only_the_apps_own_files_are_served(app_server, target):
    for prefix in ("gradio_api/file=", "file=", "gradio_api/file/"):
        status, body = _get(app_server.url + prefix + target)
        assert status in (403, 404), (prefix, target, status, body[:200])
        assert b"root:" not in body and b"gradio.Blocks" not in body


def test_file_parameters_cannot_point_at_server_files(app_server, client):
    """The raw API with a FileData naming a file on the server, not an upload: refused."""
    params = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    defaults = [p.get("parameter_default") for p in params["/generate"]["parameters"]]
    image = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
    audio = {
        "path": str(REPO / "examples" / "voiceover.flac"),
        "meta": {"_type": "gradio.FileData"},
    }
    log_start = len(app_server.log())
    request = urllib.request.Request(
        app_server.url + "gradio_api/call/generate",
        data=json.dumps({"data": [image, audio, *defaults[2:]]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            event_id = json.loads(response.read())["event_id"]
    except urllib.error.HTTPError as exc:  # refused before it is queued
        assert exc.code in (400, 403, 422), exc.code
        return
    status, body = _get(app_server.url + f"gradio_api/call/generate/{event_id}")
    text = body.decode(errors="replace")
    assert "event: error" in text, text[:500]
    assert "root:" not in text
    assert "not uploaded by a user" in app_server.log()[log_start:]  # refused for its path


def test_no_public_link_by_default(app_server):
    tree = ast.parse((REPO / "app.py").read_text())
    share_args = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", "") == "add_argument"
        and any(isinstance(a, ast.Constant) and a.value == "--share" for a in node.args)
    ]
    assert len(share_args) == 1
    kwargs = {k.arg: k.value for k in share_args[0].keywords}
    assert kwargs["action"].value == "store_true" and "default" not in kwargs
    launches = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "launch"
    ]
    assert launches and all(
        ast.unparse(k.value) == "args.share"
        for n in launches
        for k in n.keywords
        if k.arg == "share"
    )
    log = app_server.log()
    assert "ready on http://127.0.0.1:" in log  # bound to localhost only
    assert "gradio.live" not in log and "Public link" not in log
