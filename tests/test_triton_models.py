"""Every model of the repository on a real Triton server, checked against its reference runtime
and against known answers (text the test draws)."""

from __future__ import annotations

import signal
import time

import cv2
import numpy as np
import pytest

from common import triton
from common.errors import FailedPrecondition, Unavailable
from common.inference import Inference
from common.mesh import Mesh
from services.segmentation import text

REPOSITORY = triton.MODEL_REPOSITORY


@pytest.fixture(scope="module")
def triton_mesh(tmp_path_factory):
    """A mesh running only Triton on the model repository."""
    mesh = Mesh(tmp_path_factory.mktemp("triton"), gateway_port=0, metrics_port=0)
    mesh.write_config()
    mesh.start_triton()
    yield mesh
    mesh.down()


@pytest.fixture(scope="module")
def inference(triton_mesh):
    client = Inference(triton_mesh.triton_address)
    yield client
    client.close()


def litert(model: str, batch: np.ndarray) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(REPOSITORY / model / "1" / "model.tflite"))
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    outs = [[] for _ in interpreter.get_output_details()]
    for item in batch:
        interpreter.set_tensor(inp["index"], item[None])
        interpreter.invoke()
        for k, detail in enumerate(interpreter.get_output_details()):
            outs[k].append(interpreter.get_tensor(detail["index"]))
    return [np.concatenate(o) for o in outs]


def onnx(model: str, array: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(
        str(REPOSITORY / model / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: array})[0]


@pytest.mark.parametrize(
    ("model", "shape"),
    [("selfie_segmentation", (256, 256)), ("selfie_segmentation_landscape", (144, 256))],
)
def test_selfie_segmentation_equals_litert(inference, model, shape):
    batch = np.random.default_rng(0).random((3, *shape, 3), dtype=np.float32)
    served = inference.infer(model, {"image": batch}, ["mask"])["mask"]
    (reference,) = litert(model, batch)
    assert served.shape == (3, *shape, 1)
    np.testing.assert_allclose(served, reference, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("model", "size"), [("face_detection_short", 128), ("face_detection_full", 192)]
)
def test_face_detection_equals_litert(inference, model, size):
    batch = np.random.default_rng(1).uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
    served = inference.infer(model, {"image": batch}, ["regressors", "scores"])
    regressors, scores = litert(model, batch)
    np.testing.assert_allclose(served["regressors"], regressors, rtol=0, atol=1e-5)
    np.testing.assert_allclose(served["scores"], scores, rtol=0, atol=1e-5)


def drawn_text(words: str = "VISUAL 2026") -> tuple[np.ndarray, np.ndarray]:
    """An image with `words` printed on a textured background, and the words' box corners."""
    rng = np.random.default_rng(2)
    image = np.full((360, 640, 3), 235, np.uint8)
    image += rng.integers(0, 12, image.shape, dtype=np.uint8)
    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 2.0, 5
    (w, h), base = cv2.getTextSize(words, font, scale, thickness)
    x, y = 120, 200
    cv2.putText(image, words, (x, y), font, scale, (20, 20, 20), thickness, cv2.LINE_AA)
    box = np.array([[x, y - h], [x + w, y - h], [x + w, y + base], [x, y + base]], np.float32)
    return image, box


def test_text_detection_finds_the_drawn_words(inference):
    image, truth = drawn_text()
    tensor, sx, sy = text.detection_input(image)
    probability = inference.infer("ppocr_det", {"image": tensor}, ["probability"])["probability"]
    np.testing.assert_allclose(probability, onnx("ppocr_det", tensor), rtol=0, atol=1e-4)
    found = text.detection_boxes(probability, sx, sy)
    assert found, "no text found"
    best = max(text.polygon_iou(corners, truth) for corners, _ in found)
    assert best >= 0.6, best
    # A blank image has no text.
    blank = np.full_like(image, 235)
    tensor, sx, sy = text.detection_input(blank)
    probability = inference.infer("ppocr_det", {"image": tensor}, ["probability"])["probability"]
    assert text.detection_boxes(probability, sx, sy) == []


def test_text_recognition_reads_the_drawn_words(inference):
    image, truth = drawn_text("VISUAL 2026")
    other, other_truth = drawn_text("HELLO 42")
    lines = [text.line_crop(image, truth), text.line_crop(other, other_truth)]
    batch = text.recognition_input(lines)
    out = inference.infer("ppocr_rec", {"lines": batch}, ["text", "confidence"])
    words = [t.decode().strip() for t in out["text"].ravel()]
    assert words == ["VISUAL 2026", "HELLO 42"]
    assert (out["confidence"].ravel() > 0.8).all()


def test_missing_model_is_failed_precondition_naming_it(inference):
    with pytest.raises(FailedPrecondition, match="no_such_model"):
        inference.infer("no_such_model", {"image": np.zeros((1, 1), np.float32)}, ["x"])


def test_unload_and_load_through_the_repository_api(inference):
    inference.unload("face_detection_full")
    with pytest.raises(FailedPrecondition, match="face_detection_full"):
        inference.require("face_detection_full")
    states = {m["name"]: m["state"] for m in inference.models()}
    assert states["face_detection_full"] != "READY" and states["ppocr_det"] == "READY"
    inference.load("face_detection_full")
    inference.require("face_detection_full")


def test_shared_memory_gives_the_same_answer(triton_mesh):
    batch = np.random.default_rng(3).random((4, 256, 256, 3), dtype=np.float32)  # 3 MiB
    plain = Inference(triton_mesh.triton_address)
    shared = Inference(triton_mesh.triton_address, shm_threshold=1 << 20)
    try:
        a = plain.infer("selfie_segmentation", {"image": batch}, ["mask"])["mask"]
        b = shared.infer(
            "selfie_segmentation", {"image": batch}, ["mask"], output_bytes={"mask": a.nbytes}
        )["mask"]
        np.testing.assert_array_equal(a, b)
    finally:
        plain.close()
        shared.close()


def test_triton_down_is_unavailable_promptly_and_recovers(triton_mesh, inference):
    batch = np.zeros((1, 256, 256, 3), np.float32)
    inference.infer("selfie_segmentation", {"image": batch}, ["mask"])
    before = triton_mesh.processes["triton"]
    triton_mesh.stop("triton", sig=signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(Unavailable):
        inference.infer("selfie_segmentation", {"image": batch}, ["mask"], timeout=10)
    assert time.monotonic() - t0 < 3.0
    triton_mesh.start_triton(before.http_port, before.port, before.metrics_port)
    # The same client (as a running service holds it) works again within its reconnect backoff
    # (at most 2 s), no restart needed.
    deadline = time.monotonic() + 5.0
    while True:
        try:
            out = inference.infer("selfie_segmentation", {"image": batch}, ["mask"], timeout=5)
            break
        except Unavailable:
            assert time.monotonic() < deadline, "Triton is back but the client cannot reach it"
            time.sleep(0.2)
    assert out["mask"].shape == (1, 256, 256, 1)


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("realesrgan_x4plus", "realesrgan-x4plus"),
        ("realesrgan_x4plus_anime", "realesrgan-x4plus-anime"),
        ("realesr_animevideov3_x2", "realesr-animevideov3-x2"),
        ("realesr_animevideov3_x3", "realesr-animevideov3-x3"),
        ("realesr_animevideov3_x4", "realesr-animevideov3-x4"),
    ],
)
def test_real_esrgan_on_triton_equals_the_port_in_process(inference, model, name):
    from services.enhancement import realesrgan

    x = np.random.default_rng(4).random((1, 3, 20, 24), dtype=np.float32)
    served = inference.infer(model, {"image": x}, ["upscaled"], timeout=120)["upscaled"]
    module, scale = realesrgan.build_model(name, REPOSITORY / model / "1")
    local = realesrgan.torch_network(module)(x)
    assert served.shape == (1, 3, 20 * scale, 24 * scale)
    np.testing.assert_allclose(served, local, rtol=0, atol=1e-4)


def test_transnetv2_on_triton_equals_the_network_in_process(inference):
    from common import transnetv2

    frames = np.random.default_rng(5).integers(0, 256, (1, 100, 27, 48, 3), dtype=np.uint8)
    frames[0, 50:] = frames[0, 50:] // 4  # a cut: something to score
    served = inference.infer("transnetv2", {"frames": frames}, ["single", "many"], timeout=120)
    single, many = transnetv2.in_process(REPOSITORY / "transnetv2" / "1")(frames)
    assert served["single"].shape == served["many"].shape == (1, 100)
    np.testing.assert_allclose(served["single"], single, rtol=0, atol=1e-5)
    np.testing.assert_allclose(served["many"], many, rtol=0, atol=1e-5)
