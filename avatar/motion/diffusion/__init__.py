"""Audio-conditioned motion diffusion: a small transformer denoiser over Motion windows.

Importing this package does not import torch; the model and sampler modules do.
"""

from avatar.motion.diffusion.conditioning import COND_DIM, MODEL_CHANNELS

__all__ = ["COND_DIM", "MODEL_CHANNELS"]
