"""User-facing errors.

Every error a user can cause is an ``AvatarError`` whose message is one clear
sentence; the CLI prints it and exits non-zero, the app shows it as
``gr.Error``. Raise them at the boundary that knows the cause.
"""

from __future__ import annotations

__all__ = [
    "AudioError",
    "AudioTooLongError",
    "AvatarError",
    "ExtremePoseError",
    "FaceCutError",
    "FaceIndexError",
    "FaceNotFoundError",
    "FaceTooSmallError",
    "ImageError",
    "ModelError",
    "OutputError",
]


class AvatarError(Exception):
    """Base class for errors caused by the user's input or environment."""

    exit_code = 2


class ImageError(AvatarError):
    """The portrait cannot be read or used."""


class FaceNotFoundError(ImageError):
    """No face was detected in the portrait."""


class FaceTooSmallError(ImageError):
    """The face is smaller than the renderer can animate."""


class ExtremePoseError(ImageError):
    """The head is turned too far from the camera to animate."""


class FaceCutError(ImageError):
    """Too much of the face lies outside the photo to animate it."""


class FaceIndexError(ImageError):
    """``face_index`` names a face that does not exist."""


class AudioError(AvatarError):
    """The voice-over cannot be read or used."""


class AudioTooLongError(AudioError):
    """The voice-over is longer than the configured limit."""


class OutputError(AvatarError):
    """The output file cannot be written."""


class ModelError(AvatarError):
    """A model file is missing, corrupt or incompatible."""
