"""Triton Python-backend models of the repository in deploy/triton/models.

Each model folder's `1/model.py` is one line, ``from common.triton_models import X as
TritonPythonModel``: the runners below are shared. They follow the Python backend's layout
(`initialize`, `execute`, `finalize`) and read everything model-specific from config.pbtxt:

* tensors: config inputs and outputs map, in order, onto the network's own inputs and outputs;
* ``parameters { key: "file" ... }``: the weights file in the version folder;
* ``parameters { key: "threads" ... }``: CPU threads of the runtime (default 2).

With dynamic batching, requests of the same shape are stacked and run as one batch. The same
folders run unchanged on NVIDIA's Triton container when the vipro package is installed there.
"""

from __future__ import annotations

import abc
import json
from pathlib import Path

import numpy as np

try:  # Present only inside Triton's Python backend stub.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - importing this module outside Triton (docs, lint)
    pb_utils = None


class _Runner(abc.ABC):
    """Shared plumbing: config parsing, request batching, error answers."""

    def initialize(self, args: dict) -> None:
        self.config = json.loads(args["model_config"])
        self.folder = Path(args["model_repository"]) / args["model_version"]
        params = {k: v["string_value"] for k, v in self.config.get("parameters", {}).items()}
        self.params = params
        self.threads = int(params.get("threads", "2"))
        self.inputs = [i["name"] for i in self.config["input"]]
        self.outputs = [o["name"] for o in self.config["output"]]
        self.batched = int(self.config.get("max_batch_size", 0)) > 0
        self.load(self.folder / params.get("file", "model"))

    @abc.abstractmethod
    def load(self, path: Path) -> None:
        """Load the network from its weights file."""

    @abc.abstractmethod
    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Network inputs (config order) -> outputs (config order)."""

    def execute(self, requests):
        arrays = [
            [pb_utils.get_input_tensor_by_name(r, name).as_numpy() for name in self.inputs]
            for r in requests
        ]
        responses = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for index, request_arrays in enumerate(arrays):
            key = tuple(a.shape[1:] if self.batched else (index,) for a in request_arrays)
            groups.setdefault(key, []).append(index)
        for indices in groups.values():
            try:
                if self.batched and len(indices) > 1:
                    stacked = [
                        np.concatenate([arrays[i][k] for i in indices])
                        for k in range(len(self.inputs))
                    ]
                    outs = self.run(stacked)
                    sizes = np.cumsum([arrays[i][0].shape[0] for i in indices])[:-1]
                    parts = [np.split(o, sizes) for o in outs]
                    for j, i in enumerate(indices):
                        responses[i] = self._respond([p[j] for p in parts])
                else:
                    for i in indices:
                        responses[i] = self._respond(self.run(arrays[i]))
            except Exception as exc:  # answered as an error, the model stays up
                for i in indices:
                    responses[i] = pb_utils.InferenceResponse(
                        error=pb_utils.TritonError(f"{type(exc).__name__}: {exc}")
                    )
        return responses

    def _respond(self, outs: list[np.ndarray]):
        tensors = [
            pb_utils.Tensor(name, np.ascontiguousarray(out))
            for name, out in zip(self.outputs, outs, strict=True)
        ]
        return pb_utils.InferenceResponse(output_tensors=tensors)


class OnnxModel(_Runner):
    """An ONNX network run by onnxruntime on CPU."""

    def load(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        feed = dict(zip(self.input_names, arrays, strict=True))
        return self.session.run(self.output_names, feed)


class CtcRecognizer(OnnxModel):
    """A CTC text recogniser (PP-OCR rec): network probabilities decoded into text.

    The character table comes from the ONNX file's metadata ("character"), so the decoding
    always matches the network. Outputs: TEXT (BYTES, utf-8) and CONFIDENCE (mean probability
    of the kept characters).
    """

    def load(self, path: Path) -> None:
        super().load(path)
        table = self.session.get_modelmeta().custom_metadata_map["character"].splitlines()
        self.characters = ["", *table, " "]  # index 0 is CTC blank; PaddleOCR appends a space

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        (probabilities,) = self.session.run(self.output_names[:1], {self.input_names[0]: arrays[0]})
        texts, confidences = [], []
        for row in probabilities:
            best = row.argmax(axis=1)
            keep = np.ones_like(best, dtype=bool)
            keep[1:] = best[1:] != best[:-1]
            keep &= best != 0
            texts.append("".join(self.characters[i] for i in best[keep]).encode())
            scores = row.max(axis=1)[keep]
            confidences.append(float(scores.mean()) if scores.size else 0.0)
        return [np.array(texts, dtype=object), np.array(confidences, dtype=np.float32)]


class LiteRTModel(_Runner):
    """A TensorFlow Lite network run by ai-edge-litert (batches run item by item)."""

    def load(self, path: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=self.threads)
        self.interpreter.allocate_tensors()
        self.input_details = self.interpreter.get_input_details()
        self.output_details = self.interpreter.get_output_details()

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        batch = arrays[0].shape[0]
        outs: list[list[np.ndarray]] = [[] for _ in self.output_details]
        for b in range(batch):
            for detail, array in zip(self.input_details, arrays, strict=True):
                self.interpreter.set_tensor(detail["index"], array[b : b + 1])
            self.interpreter.invoke()
            for k, detail in enumerate(self.output_details):
                outs[k].append(self.interpreter.get_tensor(detail["index"]))
        return [np.concatenate(o) for o in outs]


class TorchModel(_Runner):
    """A PyTorch module, built by the function named in the ``builder`` parameter
    ("package.module:function", called with the version folder and the JSON ``builder_args``).
    The module takes the config's inputs in order and returns its outputs (a tensor or a
    tuple). Runs on the GPU when Triton placed the instance on one."""

    def load(self, path: Path) -> None:
        import importlib

        import torch

        torch.set_num_threads(self.threads)
        module_name, _, function = self.params["builder"].partition(":")
        builder = getattr(importlib.import_module(module_name), function)
        kwargs = json.loads(self.params.get("builder_args", "{}"))
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.module = builder(self.folder, **kwargs).eval().to(self.device)

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        with torch.inference_mode():
            tensors = [torch.from_numpy(a).to(self.device) for a in arrays]
            outs = self.module(*tensors)
        outs = outs if isinstance(outs, tuple) else (outs,)
        return [o.float().cpu().numpy() for o in outs]
