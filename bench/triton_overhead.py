"""Triton hosting overhead: each model on Triton vs the same runner in-process, one run.

The in-process side is the very runner class Triton's Python backend runs for the model
(``common.triton_models``), initialised outside Triton with the configuration Triton reports
for the model, so the only difference measured is the hosting: request serialisation, gRPC or
system shared memory, the server's scheduler and the backend stub's IPC.

For each model and input: p50 latency at concurrency 1 (the paths interleaved over 3 rounds so a
drift of the machine's speed hits them alike), and throughput at concurrency 1 and 4. For a model
whose config batches, throughput at concurrency 4 is also measured with the other
dynamic-batching choice (the model reloaded through the repository API with a config override).
Goal: at most 10% overhead for inputs of 256x256 and larger.
"""

from __future__ import annotations

import importlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import report
from bench.timing import latencies, throughput
from common.inference import Inference
from common.mesh import Mesh
from common.triton import MODEL_REPOSITORY


@dataclass
class Case:
    """One model and the input it is measured on.

    Attributes:
        model: Triton model name (a folder of deploy/triton/models).
        inputs: config input name -> array (float32 inputs are random in 0..1).
        outputs: output names requested.
        calls: calls per path for the p50 (a slow model gets fewer).
    """

    model: str
    inputs: dict[str, np.ndarray]
    outputs: list[str]
    calls: int = 45
    size: str = field(init=False)

    def __post_init__(self) -> None:
        first = next(iter(self.inputs.values()))
        self.size = "x".join(str(s) for s in first.shape[1:])


def _image(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).random(shape, dtype=np.float32)


CASES = [
    Case("ppocr_det", {"image": _image(1, 3, 640, 640)}, ["probability"], calls=30),
    Case("ppocr_rec", {"lines": _image(1, 3, 48, 320)}, ["text", "confidence"]),
    Case("selfie_segmentation", {"image": _image(1, 256, 256, 3)}, ["mask"]),
    Case("selfie_segmentation_landscape", {"image": _image(1, 144, 256, 3)}, ["mask"]),
    Case("face_detection_short", {"image": _image(1, 128, 128, 3)}, ["regressors", "scores"]),
    Case("face_detection_full", {"image": _image(1, 192, 192, 3)}, ["regressors", "scores"]),
    Case(
        "vipro_sr",
        {"luma": _image(1, 1, 256, 256), "scale": np.array([2], np.int32)},
        ["upscaled"],
    ),
    Case(
        "vipro_denoise",
        {"image": _image(1, 1, 256, 256), "sigma": np.array([25 / 255], np.float32)},
        ["denoised"],
        calls=30,
    ),
    Case("realesr_animevideov3_x4", {"image": _image(1, 3, 256, 256)}, ["upscaled"], calls=9),
    Case("realesrgan_x4plus_anime", {"image": _image(1, 3, 64, 64)}, ["upscaled"], calls=9),
    Case("realesrgan_x4plus", {"image": _image(1, 3, 64, 64)}, ["upscaled"], calls=6),
    Case(
        "transnetv2",
        {"frames": np.random.default_rng(0).integers(0, 256, (1, 100, 27, 48, 3), np.uint8)},
        ["single", "many"],
        calls=15,
    ),
]


def interleaved_p50(calls: list, n: int, rounds: int = 3) -> list[float]:
    """Median milliseconds of each call, the calls taking turns over `rounds` rounds."""
    samples: list[list[np.ndarray]] = [[] for _ in calls]
    for _ in range(rounds):
        for i, call in enumerate(calls):
            samples[i].append(latencies(call, max(n // rounds, 2), warmup=1))
    return [float(np.median(np.concatenate(s)) * 1000) for s in samples]


def in_process_runner(model: str, config: dict):
    """The model's Triton runner (named in its ``1/model.py``) initialised outside Triton."""
    source = (MODEL_REPOSITORY / model / "1" / "model.py").read_text()
    name = re.search(r"import (\w+) as TritonPythonModel", source).group(1)
    runner = getattr(importlib.import_module("common.triton_models"), name)()
    runner.initialize(
        {
            "model_config": json.dumps(config),
            "model_repository": str(MODEL_REPOSITORY / model),
            "model_version": "1",
        }
    )
    return runner


def _ratio(a: float, b: float) -> str:
    return f"{(a / b - 1) * 100:+.1f}%"


def measure(case: Case, address: str, seconds: float) -> list:
    """One table row for `case` (see the module docstring)."""
    plain = Inference(address)
    shared = Inference(address, shm_threshold=1 << 20)
    config = plain._client.get_model_config(case.model, as_json=True)["config"]
    runner = in_process_runner(case.model, config)
    arrays = list(case.inputs.values())

    def local() -> object:
        return runner.run(arrays)

    def via(client: Inference):
        return lambda: client.infer(case.model, case.inputs, case.outputs)

    p_local, p_grpc, p_shm = interleaved_p50([local, via(plain), via(shared)], case.calls)
    window = max(seconds, 6 * p_local / 1000)
    local_1 = throughput([local], window)
    triton_1 = throughput([via(plain)], window)
    clients = [Inference(address) for _ in range(4)]
    triton_4 = throughput([via(c) for c in clients], window)
    toggled = ""
    if int(config.get("max_batch_size", 0)) > 0:
        other = dict(config)
        shipped = "dynamic_batching" in other
        if shipped:
            other.pop("dynamic_batching")
        else:
            other["dynamic_batching"] = {"max_queue_delay_microseconds": 2000}
        plain._client.load_model(case.model, config=json.dumps(other))
        rate = throughput([via(c) for c in clients], window)
        toggled = f"{rate:.3g} ({'without' if shipped else 'with'})"
        plain._client.load_model(case.model)
    for c in (plain, shared, *clients):
        c.close()
    if hasattr(runner, "finalize"):
        runner.finalize()
    return [
        case.model,
        case.size,
        p_local,
        p_grpc,
        p_shm,
        _ratio(p_grpc, p_local),
        _ratio(p_shm, p_local),
        local_1,
        triton_1,
        triton_4,
        toggled,
    ]


def main(seconds: float = 5.0, models: list[str] | None = None) -> Path:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        mesh = Mesh(Path(tmp), gateway_port=0, metrics_port=0)
        mesh.write_config()
        mesh.start_triton()
        try:
            for case in CASES:
                if models is None or case.model in models:
                    rows.append(measure(case, mesh.triton_address, seconds))
                    print(rows[-1], flush=True)
        finally:
            mesh.down()
    notes = (
        "p50 at concurrency 1 in milliseconds; throughput in calls per second. In-process runs "
        "the model's own Triton runner class (same runtime, same threads) outside Triton. "
        "'shm' sends and receives tensors of 1 MiB or more through system shared memory. The "
        "last column reloads the model with the other dynamic-batching choice than the shipped "
        "config. Goal: <= 10% overhead for inputs of 256x256 and larger."
    )
    return report.write(
        "triton_overhead",
        "Triton hosting vs the same runner in-process",
        [
            "model",
            "input",
            "in-process p50",
            "Triton gRPC p50",
            "Triton shm p50",
            "gRPC overhead",
            "shm overhead",
            "in-process c1/s",
            "Triton c1/s",
            "Triton c4/s",
            "Triton c4/s, other batching choice",
        ],
        rows,
        {"notes": notes},
    )


if __name__ == "__main__":
    print(main().read_text())
