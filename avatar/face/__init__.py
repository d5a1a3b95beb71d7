"""Face stage: portrait -> FaceRig (landmarks, depth, pose, framing)."""

from avatar.face.detect import analyze_portrait, detect_faces, estimate_pose
from avatar.face.image import load_image
from avatar.face.rig import FaceRig

__all__ = ["FaceRig", "analyze_portrait", "detect_faces", "estimate_pose", "load_image"]
