"""Triton hosting overhead: each model on Triton vs the same runtime in-process, one run.

For each model and input: p50 latency at concurrency 1 and throughput at concurrency 1 and 4,
in-process (onnxruntime / LiteRT / torch called directly, 2 threads) and through Triton (plain
gRPC, and system shared memory for tensors of 1 MiB or more). For a batching model, throughput
at concurrency 4 is also measured with the other dynamic-batching choice than the shipped
config (the model reloaded through the repository API with a config override). Goal: at most
10% overhead for inputs of 256x256 and larger.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from bench import report
from bench.timing import latencies, throughput
from common.inference import Inference
from common.mesh import Mesh
from common.triton import MODEL_REPOSITORY


def interleaved_p50(calls: list, n: int, rounds: int = 3) -> list[float]:
    """Median milliseconds of each call, the calls taking turns over `rounds` rounds so a drift
    of the machine's speed affects them alike."""
    samples: list[list[np.ndarray]] = [[] for _ in calls]
    for _ in range(rounds):
        for i, call in enumerate(calls):
            samples[i].append(latencies(call, max(n // rounds, 5), warmup=2))
    return [float(np.median(np.concatenate(s)) * 1000) for s in samples]


def each(make_call, workers: int) -> list:
    """`workers` calls, one per thread, each from its own `make_call()` (own client)."""
    return [make_call() for _ in range(workers)]


def onnx_runner(model: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(MODEL_REPOSITORY / model / "1" / "model.onnx"),
        options,
        providers=["CPUExecutionProvider"],
    )
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})


def litert_runner(model: str):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(
        model_path=str(MODEL_REPOSITORY / model / "1" / "model.tflite"), num_threads=2
    )
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    outputs = [d["index"] for d in interpreter.get_output_details()]

    def run(x):
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        return [interpreter.get_tensor(i) for i in outputs]

    return run


CASES = [
    # model, input name, output names, input array, in-process runner factory, batching?
    ("ppocr_det", "image", ["probability"], (1, 3, 640, 640), onnx_runner, False),
    ("selfie_segmentation", "image", ["mask"], (1, 256, 256, 3), litert_runner, True),
    (
        "face_detection_full",
        "image",
        ["regressors", "scores"],
        (1, 192, 192, 3),
        litert_runner,
        True,
    ),
]


def main(n: int = 60, seconds: float = 6.0) -> Path:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        mesh = Mesh(Path(tmp), gateway_port=0, metrics_port=0)
        mesh.write_config()
        mesh.start_triton()
        address = mesh.triton_address
        try:
            for model, input_name, outputs, shape, factory, batching in CASES:
                x = np.random.default_rng(0).random(shape, dtype=np.float32)
                local = factory(model)
                plain = Inference(address)
                shared = Inference(address, shm_threshold=1 << 20)

                def via(client, x=x, model=model, input_name=input_name, outputs=outputs):
                    return lambda: client.infer(model, {input_name: x}, outputs)

                size = "x".join(str(s) for s in shape[1:])
                paths = [lambda x=x, local=local: local(x), via(plain), via(shared)]
                in_process, over_grpc, over_shm = interleaved_p50(paths, n)
                tput_local_1 = throughput([lambda x=x, local=local: local(x)], seconds)
                tput_triton_1 = throughput([via(plain)], seconds)
                tput_triton_4 = throughput(each(lambda: via(Inference(address)), 4), seconds)
                rows.append(
                    [
                        model,
                        size,
                        in_process,
                        over_grpc,
                        over_shm,
                        f"{(over_grpc / in_process - 1) * 100:+.1f}%",
                        f"{(over_shm / in_process - 1) * 100:+.1f}%",
                        tput_local_1,
                        tput_triton_1,
                        tput_triton_4,
                        "",
                    ]
                )
                if batching:
                    # The other batching choice, loaded through the repository API.
                    config = plain._client.get_model_config(model, as_json=True)["config"]
                    shipped = "dynamic_batching" in config
                    if shipped:
                        config.pop("dynamic_batching")
                    else:
                        config["dynamic_batching"] = {"max_queue_delay_microseconds": 2000}
                    plain._client.load_model(model, config=json.dumps(config))
                    toggled = throughput(each(lambda: via(Inference(address)), 4), seconds)
                    rows[-1][-1] = f"{toggled:.1f} ({'without' if shipped else 'with'})"
                    plain._client.load_model(model)
                plain.close()
                shared.close()
        finally:
            mesh.down()
    notes = (
        "p50 at concurrency 1 in milliseconds; throughput in calls per second. In-process runs "
        "the same runtime with the same 2 threads. The last column reloads the model with the "
        "other dynamic-batching choice than the shipped config (repository API, config "
        "override). Goal: <= 10% overhead for inputs "
        "of 256x256 and larger."
    )
    return report.write(
        "triton_overhead",
        "Triton hosting vs the same runtime in-process",
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
