"""Fixtures for the refinement tests: random Wav2Lip models saved as the official files are.

Nothing is downloaded and no weights are committed: checkpoints are built with
torch at test time, in the reference's training-checkpoint format (a dict with
``state_dict`` under ``module.`` keys, an Adam ``optimizer`` state, step and
epoch), in the legacy pre-zip serialization the released files use.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def random_model(dims=None, seed: int = 0):
    """A Wav2Lip with random weights and non-trivial batch-norm statistics, in eval mode."""
    from avatar.refine.wav2lip_model import Wav2Lip

    torch.manual_seed(seed)
    model = Wav2Lip(dims)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0.0, 0.05)
                module.running_var.uniform_(0.5, 1.5)
                module.num_batches_tracked.fill_(1000)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_model():
    from avatar.refine.wav2lip_model import Wav2LipDims

    return random_model(Wav2LipDims.tiny())


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_model):
    """A tiny random Wav2Lip in the official checkpoint format (legacy pickle, module. keys)."""
    from avatar.refine.checkpoint import save_wav2lip_checkpoint

    path = tmp_path_factory.mktemp("w2l") / "wav2lip_tiny.pth"
    return save_wav2lip_checkpoint(tiny_model, path, legacy=True, global_step=42000)


@pytest.fixture(scope="session")
def short_voice(tmp_path_factory):
    """1.6 s of real speech (keeps the end-to-end runs short)."""
    from scipy.io import wavfile

    from tests.conftest import shared

    sr, x = wavfile.read(shared("speech/zh_female_aishell1_BAC009S0764W0121.wav"))
    path = tmp_path_factory.mktemp("voice") / "short.wav"
    wavfile.write(path, sr, x[int(0.4 * sr) : int(2.0 * sr)])
    return str(path)
