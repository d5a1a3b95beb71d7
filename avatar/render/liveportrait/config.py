"""Sizes of the LivePortrait (human) networks.

The defaults are the sizes of the released checkpoints (KwaiVGI/LivePortrait,
``src/config/models.yaml`` plus the code defaults it leaves out), so a module
built with ``LivePortraitDims()`` loads the official files key for key.
``LivePortraitDims.tiny()`` keeps every layer and every interface the driving
code relies on (21 keypoints, 66 pose bins, the three MLP input/output sizes)
but shrinks the channel counts so tests run in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AppearanceDims:
    """F: image -> 3-D appearance feature volume."""

    image_channel: int = 3
    block_expansion: int = 64
    num_down_blocks: int = 2
    max_features: int = 512  # channels of `second`; reshaped to reshape_channel x reshape_depth
    reshape_channel: int = 32
    reshape_depth: int = 16
    num_resblocks: int = 6


@dataclass(frozen=True)
class MotionDims:
    """M: ConvNeXt-V2 backbone plus the pose/expression/keypoint heads."""

    num_kp: int = 21
    num_bins: int = 66
    in_chans: int = 3
    depths: tuple[int, ...] = (3, 3, 9, 3)
    dims: tuple[int, ...] = (96, 192, 384, 768)


@dataclass(frozen=True)
class WarpingDims:
    """W: dense motion network (hourglass over 3-D volumes) plus the 2-D warp head."""

    num_kp: int = 21
    block_expansion: int = 64
    max_features: int = 512  # = feature_channel * reshape_depth, the input of `third`
    num_down_blocks: int = 2  # `third`/`fourth` width = block_expansion * 2**num_down_blocks
    feature_channel: int = 32  # channels of F's volume (models.yaml: reshape_channel)
    reshape_depth: int = 16
    dense_block_expansion: int = 32
    dense_max_features: int = 1024
    dense_num_blocks: int = 5
    compress: int = 4
    kp_variance: float = 0.01  # Gaussian heatmap variance in normalised coordinates

    @property
    def out_channels(self) -> int:
        return self.block_expansion * 2**self.num_down_blocks


@dataclass(frozen=True)
class GeneratorDims:
    """G: SPADE decoder from W's 64x64 output to the RGB image."""

    upscale: int = 2  # final PixelShuffle factor (256 -> 512)
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    out_channels: int = 64
    num_middle_blocks: int = 6
    spade_hidden: int = 128

    @property
    def in_channels(self) -> int:
        return min(self.max_features, self.block_expansion * 2**self.num_down_blocks)


@dataclass(frozen=True)
class MLPDims:
    """One stitching/retargeting MLP: Linear-ReLU-...-Linear."""

    input_size: int
    hidden_sizes: tuple[int, ...]
    output_size: int


@dataclass(frozen=True)
class LivePortraitDims:
    """Every size of the seven human networks; defaults equal the released checkpoints."""

    appearance: AppearanceDims = field(default_factory=AppearanceDims)
    motion: MotionDims = field(default_factory=MotionDims)
    warping: WarpingDims = field(default_factory=WarpingDims)
    generator: GeneratorDims = field(default_factory=GeneratorDims)
    stitching: MLPDims = field(default_factory=lambda: MLPDims(126, (128, 128, 64), 65))
    lip: MLPDims = field(default_factory=lambda: MLPDims(65, (128, 128, 64), 63))
    eye: MLPDims = field(default_factory=lambda: MLPDims(66, (256, 256, 128, 128, 64), 63))

    @classmethod
    def tiny(cls) -> LivePortraitDims:
        """Same layers and interfaces, a few channels and a depth of 4: for fast tests.

        Feed it 128x128 images (the hourglass needs a 32x32 volume for its 5 levels).
        """
        return cls(
            appearance=AppearanceDims(
                block_expansion=8, max_features=16, reshape_channel=4, reshape_depth=4
            ),
            motion=MotionDims(dims=(8, 16, 24, 32)),
            warping=WarpingDims(
                block_expansion=8,
                max_features=16,
                feature_channel=4,
                reshape_depth=4,
                dense_block_expansion=4,
                dense_max_features=32,
                compress=2,
            ),
            generator=GeneratorDims(
                block_expansion=8, max_features=64, out_channels=8, spade_hidden=16
            ),
            stitching=MLPDims(126, (16, 16, 8), 65),
            lip=MLPDims(65, (16, 16, 8), 63),
            eye=MLPDims(66, (16, 16, 16, 16, 8), 63),
        )

    def __post_init__(self) -> None:
        a, w, g = self.appearance, self.warping, self.generator
        if a.max_features != a.reshape_channel * a.reshape_depth:
            raise ValueError("appearance.max_features must equal reshape_channel * reshape_depth")
        if (w.feature_channel, w.reshape_depth) != (a.reshape_channel, a.reshape_depth):
            raise ValueError("warping must take the appearance volume's channels and depth")
        if w.max_features != w.feature_channel * w.reshape_depth:
            raise ValueError("warping.max_features must equal feature_channel * reshape_depth")
        if w.out_channels != g.in_channels:
            raise ValueError("the generator's input width must equal the warping output width")
        if self.motion.num_kp != w.num_kp:
            raise ValueError("motion and warping must use the same number of keypoints")
