"""The Wav2Lip generator, written for this project and key-compatible with the official weights.

``Wav2Lip()`` has exactly the parameter and buffer names and shapes of the
released ``wav2lip.pth`` / ``wav2lip_gan.pth`` generators (352 state-dict
entries, 36,298,035 learnable parameters), so ``load_state_dict`` works on
them once a ``module.`` prefix is stripped (see ``avatar.refine.checkpoint``).

The layout is an encoder-decoder U-Net over a 6-channel 96×96 face (masked
frame + reference frame, BGR in [0, 1]) with an audio encoder over an 80×16
mel window whose 512-d embedding seeds the decoder. ``Wav2LipDims`` holds the
channel widths, so tests can build a tiny model with the same structure and
key names.

For inference, ``Wav2Lip.fused()`` returns a copy with every batch-norm folded
into its convolution (same outputs, fewer passes over memory).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Wav2Lip", "Wav2LipDims", "count_parameters"]


@dataclass(frozen=True)
class Wav2LipDims:
    """Channel widths of the generator; the defaults are the released model's."""

    face: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 512)  # encoder block outputs, 96² … 1²
    audio: tuple[int, ...] = (32, 64, 128, 256, 512)  # audio encoder stage widths
    decoder: tuple[int, ...] = (512, 512, 512, 384, 256, 128, 64)  # decoder block outputs, 1² … 96²
    head: int = 32  # hidden width of the output block
    img_size: int = 96
    n_mels: int = 80
    mel_steps: int = 16

    def __post_init__(self) -> None:
        if len(self.face) != 7 or len(self.decoder) != 7 or len(self.audio) != 5:
            raise ValueError("Wav2LipDims needs 7 face, 5 audio and 7 decoder widths")

    @classmethod
    def tiny(cls) -> Wav2LipDims:
        """Same structure and key names, 1/8 of the widths: for fast tests."""
        return cls(
            face=(2, 4, 8, 16, 32, 64, 64),
            audio=(4, 8, 16, 32, 64),
            decoder=(64, 64, 64, 48, 32, 16, 8),
            head=4,
        )


class ConvBlock(nn.Module):
    """Conv2d + BatchNorm2d (+ input when ``residual``), then ReLU.

    The residual is added before the activation; residual blocks keep the
    channel count and resolution.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int = 0,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout)
        )
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class ConvTransposeBlock(nn.Module):
    """ConvTranspose2d + BatchNorm2d, then ReLU (an upsampling step of the decoder)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel_size: int,
        stride: int,
        padding: int,
        output_padding: int = 0,
    ) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding),
            nn.BatchNorm2d(cout),
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


def _res(c: int) -> ConvBlock:
    return ConvBlock(c, c, 3, 1, 1, residual=True)


def _down(cin: int, cout: int, n_res: int, stride=2) -> nn.Sequential:
    return nn.Sequential(ConvBlock(cin, cout, 3, stride, 1), *(_res(cout) for _ in range(n_res)))


def _up(cin: int, cout: int, n_res: int, *, first: bool = False) -> nn.Sequential:
    up = (
        ConvTransposeBlock(cin, cout, 3, 1, 0)  # 1×1 -> 3×3
        if first
        else ConvTransposeBlock(cin, cout, 3, 2, 1, output_padding=1)  # doubles the size
    )
    return nn.Sequential(up, *(_res(cout) for _ in range(n_res)))


class Wav2Lip(nn.Module):
    """Mel window (B, 1, 80, 16) + face pair (B, 6, 96, 96) -> mouth-synced face (B, 3, 96, 96).

    Inputs and output follow the reference convention: BGR channel order,
    values in [0, 1]; channels 0-2 of the face input are the target frame
    with its lower half zeroed, channels 3-5 the reference frame. 5-D
    training-style inputs (B, T, 1, 80, 16) and (B, 6, T, 96, 96) are
    accepted too and give (B, 3, T, 96, 96).
    """

    def __init__(self, dims: Wav2LipDims | None = None) -> None:
        super().__init__()
        d = dims or Wav2LipDims()
        self.dims = d
        f, a, dec = d.face, d.audio, d.decoder

        self.face_encoder_blocks = nn.ModuleList(
            [
                nn.Sequential(ConvBlock(6, f[0], 7, 1, 3)),  # 96²
                _down(f[0], f[1], 2),  # 48²
                _down(f[1], f[2], 3),  # 24²
                _down(f[2], f[3], 2),  # 12²
                _down(f[3], f[4], 2),  # 6²
                _down(f[4], f[5], 1),  # 3²
                nn.Sequential(ConvBlock(f[5], f[6], 3, 1, 0), ConvBlock(f[6], f[6], 1, 1, 0)),  # 1²
            ]
        )

        self.audio_encoder = nn.Sequential(
            ConvBlock(1, a[0], 3, 1, 1),
            _res(a[0]),
            _res(a[0]),
            ConvBlock(a[0], a[1], 3, (3, 1), 1),  # 80×16 -> 27×16
            _res(a[1]),
            _res(a[1]),
            ConvBlock(a[1], a[2], 3, 3, 1),  # -> 9×6
            _res(a[2]),
            _res(a[2]),
            ConvBlock(a[2], a[3], 3, (3, 2), 1),  # -> 3×3
            _res(a[3]),
            ConvBlock(a[3], a[4], 3, 1, 0),  # -> 1×1
            ConvBlock(a[4], a[4], 1, 1, 0),
        )

        # Each decoder block's output is concatenated with the encoder output of the same size.
        self.face_decoder_blocks = nn.ModuleList(
            [
                nn.Sequential(ConvBlock(a[4], dec[0], 1, 1, 0)),  # 1²
                _up(dec[0] + f[6], dec[1], 1, first=True),  # 3²
                _up(dec[1] + f[5], dec[2], 2),  # 6²
                _up(dec[2] + f[4], dec[3], 2),  # 12²
                _up(dec[3] + f[3], dec[4], 2),  # 24²
                _up(dec[4] + f[2], dec[5], 2),  # 48²
                _up(dec[5] + f[1], dec[6], 2),  # 96²
            ]
        )

        self.output_block = nn.Sequential(
            ConvBlock(dec[6] + f[0], d.head, 3, 1, 1),
            nn.Conv2d(d.head, 3, kernel_size=1, stride=1, padding=0),
            nn.Sigmoid(),
        )

    def forward(self, audio: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        if face.dim() == 5:  # training layout: flatten time into the batch, time-major
            b, t = face.shape[0], face.shape[2]
            audio = audio.transpose(0, 1).reshape(b * t, *audio.shape[2:])
            face = face.permute(2, 0, 1, 3, 4).reshape(b * t, *face.shape[1:2], *face.shape[3:])
            out = self._forward(audio, face)
            return out.reshape(t, b, *out.shape[1:]).permute(1, 2, 0, 3, 4)
        return self._forward(audio, face)

    def _forward(self, audio: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        x = self.audio_encoder(audio)
        skips = []
        y = face
        for block in self.face_encoder_blocks:
            y = block(y)
            skips.append(y)
        for block in self.face_decoder_blocks:
            x = torch.cat((block(x), skips.pop()), dim=1)
        return self.output_block(x)

    @torch.no_grad()
    def fused(self) -> Wav2Lip:
        """An inference copy with each batch-norm folded into its convolution (eval mode)."""
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        model = copy.deepcopy(self).eval()
        for module in model.modules():
            if isinstance(module, ConvBlock | ConvTransposeBlock):
                conv, bn = module.conv_block[0], module.conv_block[1]
                fused = fuse_conv_bn_eval(
                    conv, bn, transpose=isinstance(module, ConvTransposeBlock)
                )
                module.conv_block = nn.Sequential(fused)
        return model


def count_parameters(model: nn.Module) -> int:
    """Learnable parameters (buffers such as batch-norm statistics excluded)."""
    return sum(p.numel() for p in model.parameters())
