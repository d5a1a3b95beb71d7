"""G: the SPADE decoder (warped features -> 512x512 RGB in [0, 1]).

The released convolutions inside the SPADE residual blocks were trained with
``torch.nn.utils.spectral_norm``, so their checkpoint entries are
``weight_orig`` plus the power-iteration vectors ``weight_u``/``weight_v`` and
there is no ``weight``. ``SpectralConv2d`` stores exactly those three tensors
and divides by sigma = u . (W v) on every call, which is what PyTorch does in
eval mode (no power iteration), so the checkpoint loads strictly and the
output matches without torch's deprecated hook machinery.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avatar.render.liveportrait.config import GeneratorDims


class SpectralConv2d(nn.Module):
    """Conv2d whose weight is ``weight_orig / sigma``, sigma from the stored u and v."""

    def __init__(
        self, cin: int, cout: int, kernel_size: int, padding: int = 0, bias: bool = True
    ) -> None:
        super().__init__()
        self.padding = padding
        # Registration order (bias, weight_orig, u, v) follows the released files' key order.
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.weight_orig = nn.Parameter(torch.empty(cout, cin, kernel_size, kernel_size))
        nn.init.kaiming_uniform_(self.weight_orig, a=5**0.5)
        self.register_buffer("weight_u", torch.empty(cout))
        self.register_buffer("weight_v", torch.empty(cin * kernel_size * kernel_size))
        self.settle_vectors_()

    @torch.no_grad()
    def settle_vectors_(self, steps: int = 15) -> None:
        """Set u, v by power iteration to W's top singular vectors, as training leaves them.

        Only for freshly initialised weights (a loaded checkpoint brings its own u, v):
        with random u, v sigma is arbitrary and the output saturates.
        """
        if self.weight_orig.is_meta:  # shapes only (counting, or about to be loaded)
            return
        mat = self.weight_orig.flatten(1)
        u = F.normalize(torch.randn_like(self.weight_u), dim=0, eps=1e-12)
        for _ in range(steps):
            v = F.normalize(mat.t() @ u, dim=0, eps=1e-12)
            u = F.normalize(mat @ v, dim=0, eps=1e-12)
        self.weight_u.copy_(u)
        self.weight_v.copy_(v)

    def effective_weight(self) -> torch.Tensor:
        """weight_orig / sigma, computed in float32 (sigma is a dot product of ~5k terms)."""
        w = self.weight_orig.float()
        sigma = torch.dot(self.weight_u.float(), w.flatten(1) @ self.weight_v.float())
        return (w / sigma).to(self.weight_orig.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.effective_weight(), self.bias, padding=self.padding)


class SPADE(nn.Module):
    """Instance norm (no affine) modulated by gamma/beta predicted from the segmap."""

    def __init__(self, norm_nc: int, label_nc: int, hidden: int = 128) -> None:
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, 3, padding=1)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        normalized = F.instance_norm(x, eps=1e-5)
        seg = F.interpolate(segmap, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(seg)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    """Two SPADE-norm + LeakyReLU(0.2) + spectral conv steps, plus a (learned) shortcut."""

    def __init__(self, fin: int, fout: int, label_nc: int, hidden: int = 128) -> None:
        super().__init__()
        fmid = min(fin, fout)
        self.learned_shortcut = fin != fout
        self.conv_0 = SpectralConv2d(fin, fmid, 3, padding=1)
        self.conv_1 = SpectralConv2d(fmid, fout, 3, padding=1)
        if self.learned_shortcut:
            self.conv_s = SpectralConv2d(fin, fout, 1, bias=False)
        self.norm_0 = SPADE(fin, label_nc, hidden)
        self.norm_1 = SPADE(fmid, label_nc, hidden)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, label_nc, hidden)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return shortcut + dx


class SPADEDecoder(nn.Module):
    """(B, 256, 64, 64) -> (B, 3, 512, 512) in [0, 1] with the released sizes."""

    def __init__(self, dims: GeneratorDims | None = None) -> None:
        super().__init__()
        d = dims or GeneratorDims()
        self.dims = d
        cin, hid = d.in_channels, d.spade_hidden
        self.fc = nn.Conv2d(cin, 2 * cin, 3, padding=1)
        for i in range(d.num_middle_blocks):
            # attribute names G_middle_i are the checkpoint's key prefixes
            setattr(self, f"G_middle_{i}", SPADEResnetBlock(2 * cin, 2 * cin, cin, hid))
        self.up_0 = SPADEResnetBlock(2 * cin, cin, cin, hid)
        self.up_1 = SPADEResnetBlock(cin, d.out_channels, cin, hid)
        if d.upscale > 1:
            self.conv_img = nn.Sequential(
                nn.Conv2d(d.out_channels, 3 * d.upscale**2, 3, padding=1),
                nn.PixelShuffle(d.upscale),
            )
        else:
            self.conv_img = nn.Conv2d(d.out_channels, 3, 3, padding=1)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        seg = feature
        x = self.fc(feature)
        for i in range(self.dims.num_middle_blocks):
            x = getattr(self, f"G_middle_{i}")(x, seg)
        x = self.up_0(F.interpolate(x, scale_factor=2.0, mode="nearest"), seg)
        x = self.up_1(F.interpolate(x, scale_factor=2.0, mode="nearest"), seg)
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, 0.2)))
