"""The web app's limits, read once from the environment (``AVATAR_APP_*``).

A Space owner sets them without touching the code; a value that is not a
number keeps the default rather than stopping the app.
"""

from __future__ import annotations

import os


def env_float(name: str, default: float) -> float:
    """``float(os.environ[name])``, or ``default`` when unset or not a number."""
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


#: Longest voice-over the web app accepts (seconds); the CLI allows 10 minutes.
MAX_AUDIO_SECONDS = env_float("AVATAR_APP_MAX_AUDIO_SECONDS", 300.0)


#: Largest upload gradio accepts, in its own size syntax.
MAX_FILE_SIZE = os.environ.get("AVATAR_APP_MAX_FILE_SIZE", "100mb")


#: Requests waiting in the queue before new ones are turned away.
QUEUE_SIZE = int(env_float("AVATAR_APP_QUEUE_SIZE", 16))


def default_concurrency() -> int:
    """Videos rendered at once: one per two CPU cores (renders are CPU-bound)."""
    env = os.environ.get("AVATAR_APP_CONCURRENCY")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    return max(1, (os.cpu_count() or 2) // 2)
