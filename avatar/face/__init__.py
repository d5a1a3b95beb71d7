"""Face stage: portrait -> FaceRig (landmarks, depth, pose, framing)."""

from avatar.face import regions
from avatar.face.detect import analyze_portrait, detect_faces, estimate_pose
from avatar.face.image import load_image, use_own_pixel_limits
from avatar.face.rig import FaceRig

__all__ = [
    "FaceRig",
    "analyze_portrait",
    "detect_faces",
    "estimate_pose",
    "load_image",
    "regions",
    "use_own_pixel_limits",
]
