from __future__ import annotations

import numpy as np
import pytest

from avatar.motion.types import CHANNEL_INDEX, CHANNELS, frame_vector


def test_frame_vector_sets_named_channels_and_refuses_unknown_ones():
    v = frame_vector(jaw_open=0.7, yaw=-12.0)
    assert v.shape == (len(CHANNELS),) and v.dtype == np.float32
    assert v[CHANNEL_INDEX["jaw_open"]] == pytest.approx(0.7)
    assert v[CHANNEL_INDEX["yaw"]] == -12.0
    assert np.count_nonzero(v) == 2
    with pytest.raises(KeyError, match="Unknown motion channel 'jaw'"):
        frame_vector(jaw=1.0)
