"""Random LivePortrait checkpoints in the released files' exact format.

No real weights may be downloaded in tests or CI, yet loading and rendering
must be exercised end to end: ``write_random_checkpoints`` writes the five
files with the official key names, dtypes and containers (plain state dicts
for F/M/W/G; for the retargeting file a dict of three ``module.``-prefixed
state dicts). Values are random but well-conditioned (BatchNorm statistics
set, spectral-norm vectors settled by power iteration) so outputs are not
degenerate.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from avatar.render.liveportrait.checkpoint import FILES, RETARGETING_ENTRIES, build_liveportrait
from avatar.render.liveportrait.config import LivePortraitDims
from avatar.render.liveportrait.motion_extractor import GRN


@torch.no_grad()
def randomize_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Give BatchNorm statistics and GRN parameters non-default values.

    (Spectral-norm u, v are already settled by ``SpectralConv2d`` itself.)
    """
    for sub in module.modules():
        if isinstance(sub, nn.modules.batchnorm._BatchNorm):
            n = sub.num_features
            sub.weight.copy_(0.5 + torch.rand(n, generator=generator))
            sub.bias.copy_(0.1 * torch.randn(n, generator=generator))
            sub.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
            sub.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            sub.num_batches_tracked.fill_(int(torch.randint(1, 10_000, (1,), generator=generator)))
        elif isinstance(sub, GRN):
            sub.gamma.copy_(0.1 * torch.randn(sub.gamma.shape, generator=generator))
            sub.beta.copy_(0.1 * torch.randn(sub.beta.shape, generator=generator))
    return module


def write_random_checkpoints(
    folder: str | Path, dims: LivePortraitDims | None = None, seed: int = 0
) -> Path:
    """Write the five files under ``folder`` (Hugging Face layout); returns ``folder``.

    The global RNG is left untouched. Real sizes write about 520 MB.
    """
    root = Path(folder)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        models = build_liveportrait(dims)
    for role in ("appearance", "motion", "warping", "generator"):
        module = randomize_(getattr(models, role), generator)
        _save(module.state_dict(), root / FILES[role])
    bundle = {
        entry: OrderedDict(
            (f"module.{k}", v) for k, v in getattr(models, role).state_dict().items()
        )
        for role, entry in RETARGETING_ENTRIES.items()
    }
    _save(bundle, root / FILES["retargeting"])
    return root


def _save(obj: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
