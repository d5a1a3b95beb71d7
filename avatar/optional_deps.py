"""One sentence instead of an ImportError when an optional package is missing."""

from __future__ import annotations

from avatar.errors import ModelError


def require_torch(feature: str) -> None:
    """Raise a one-sentence ``ModelError`` naming ``feature`` when PyTorch cannot be imported."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ModelError(
            f"{feature} needs PyTorch, which is not installed; install it with "
            '`pip install -e ".[refine]"`.'
        ) from exc
