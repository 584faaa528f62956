"""Segmentation quality and speed: matting, automatic cut-outs, end-to-end latency.

``python -m bench segmentation`` writes ``bench/results/segmentation.{json,md}`` with:

1. **Matting with the given trimaps** on ../shared/data/alphamatting_lowres (18 images x 2
   trimaps): SAD, MSE and gradient error of :func:`matting.estimate_alpha` beside pymatting's
   closed-form and KNN matting on the same trimaps, and the time each takes (same process, same
   threads, pymatting's numba code compiled before timing).
2. **Automatic pipeline** on the same images (no trimap: the product/salient cut-out makes the
   mask, the trimap and the matte): SAD over the whole image and IoU of alpha >= 0.5.
3. **Synthetic product photos** (bench/product_scenes.py, exact alpha): IoU and SAD per
   background kind; the three product smoke images: IoU.
4. **1024x1024 product cut-out through the gateway** (real processes): p50 latency with the
   service's own stage split (decode / segment / matte / foreground / encode).

Metrics (alphamatting.com conventions, alpha in 0..1): SAD = sum |a - gt| / 1000 and MSE = mean
(a - gt)^2 x 1000 over the trimap's unknown pixels (whole image for the automatic rows);
gradient error = sum (|grad a| - |grad gt|)^2 / 1000 over the same pixels, gradients by
first-order Gaussian derivative filters of sigma 1.4.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from bench import report
from bench.product_scenes import BACKGROUNDS, make_scene
from services.segmentation import commodity, matting
from services.segmentation.shared import matte_mask

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def gradient_magnitude(alpha: np.ndarray, sigma: float = 1.4) -> np.ndarray:
    """|grad alpha| by first-order Gaussian derivative filters."""
    radius = int(np.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * sigma**2))
    g /= g.sum()
    dg = -x / sigma**2 * g
    dg /= np.abs(dg).sum() / 2  # unit response to a unit ramp
    gx = cv2.sepFilter2D(alpha, cv2.CV_64F, dg, g)
    gy = cv2.sepFilter2D(alpha, cv2.CV_64F, g, dg)
    return np.hypot(gx, gy)


def errors(alpha: np.ndarray, truth: np.ndarray, region: np.ndarray) -> dict[str, float]:
    """SAD, MSE (x1000) and gradient error over ``region``."""
    diff = (alpha - truth)[region]
    grad = (gradient_magnitude(alpha) - gradient_magnitude(truth))[region]
    return {
        "sad": float(np.abs(diff).sum() / 1000),
        "mse": float((diff**2).mean() * 1000),
        "grad": float((grad**2).sum() / 1000),
    }


def load(name: str, trimap: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = DATA / "alphamatting_lowres"
    image = np.asarray(Image.open(d / "input" / f"{name}.png").convert("RGB"))
    truth = np.asarray(Image.open(d / "gt_alpha" / f"{name}.png").convert("L")) / 255.0
    tri = np.asarray(Image.open(d / trimap / f"{name}.png").convert("L"))
    return image, truth, tri


def timed(function, *args) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = function(*args)
    return out, time.perf_counter() - t0


def matting_rows() -> tuple[list[list], dict]:
    """Rows of table 1 (mean over images per trimap set and method) and per-image detail."""
    import pymatting

    tiny = np.random.default_rng(0).random((16, 16, 3))
    tiny_trimap = np.full((16, 16), 0.5)
    tiny_trimap[:4], tiny_trimap[-4:] = 0.0, 1.0
    pymatting.estimate_alpha_cf(tiny, tiny_trimap)  # compile numba code before timing
    pymatting.estimate_alpha_knn(tiny, tiny_trimap)
    matting.warm_up()
    methods = {
        "ViPro closed-form, CHOLMOD (cvxopt, opt-in)": lambda img, tri: matting.estimate_alpha(
            img, tri, solver="cholmod"
        ),
        "ViPro closed-form, SuperLU (default install)": lambda img, tri: matting.estimate_alpha(
            img, tri, solver="superlu"
        ),
        "pymatting closed-form": lambda img, tri: pymatting.estimate_alpha_cf(
            img / 255.0, matting.normalize_trimap(tri) / 255.0
        ),
        "pymatting KNN": lambda img, tri: pymatting.estimate_alpha_knn(
            img / 255.0, matting.normalize_trimap(tri) / 255.0
        ),
    }
    names = sorted(p.stem for p in (DATA / "alphamatting_lowres" / "input").glob("*.png"))
    rows, detail = [], {}
    for trimap in ("trimap1", "trimap2"):
        acc: dict[str, list] = {m: [] for m in methods}
        for name in names:
            image, truth, tri = load(name, trimap)
            region = matting.normalize_trimap(tri) == matting.UNKNOWN
            for method, run in methods.items():
                alpha, seconds = timed(run, image, tri)
                e = errors(np.clip(alpha, 0, 1), truth, region) | {"seconds": seconds}
                acc[method].append(e)
                detail.setdefault(f"{trimap}/{name}", {})[method] = e
        base = np.sum([e["seconds"] for e in acc["pymatting closed-form"]])
        for method, es in acc.items():
            total = float(np.sum([e["seconds"] for e in es]))
            rows.append(
                [
                    trimap,
                    method,
                    float(np.mean([e["sad"] for e in es])),
                    float(np.mean([e["mse"] for e in es])),
                    float(np.mean([e["grad"] for e in es])),
                    total,
                    f"{base / total:.2f}x",
                ]
            )
    return rows, detail


def cutout_alpha(image: np.ndarray) -> np.ndarray:
    """Full automatic pipeline: main object found, up-scaled, trimap, matte (as the service)."""
    segments, scale = commodity.segment_objects(image)
    h, w = image.shape[:2]
    if not segments:
        return np.zeros((h, w))
    up = cv2.resize(segments[0].mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    band = matting.default_band((h, w)) + int(np.ceil(1 / scale))
    return matte_mask(image, up >= 0.5, band)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def automatic_rows() -> list[list]:
    """Table 2 (alphamatting, automatic) and table 3 (synthetic products, smoke images)."""
    rows = []
    names = sorted(p.stem for p in (DATA / "alphamatting_lowres" / "input").glob("*.png"))
    sads, ious = [], []
    for name in names:
        image, truth, _ = load(name, "trimap1")
        alpha = cutout_alpha(image)
        sads.append(float(np.abs(alpha - truth).sum() / 1000))
        ious.append(iou(alpha >= 0.5, truth >= 0.5))
    rows.append(["alphamatting_lowres, automatic", len(names), np.mean(ious), np.mean(sads)])
    for kind in BACKGROUNDS:
        ious, sads = [], []
        for seed in range(5):
            scene = make_scene(kind, 100 + seed)
            alpha = cutout_alpha(scene.image)
            ious.append(iou(alpha >= 0.5, scene.alpha >= 0.5))
            sads.append(float(np.abs(alpha - scene.alpha).sum() / 1000))
        rows.append([f"synthetic, {kind}", 5, np.mean(ious), np.mean(sads)])
    smoke = DATA / "product_mask_smoke"
    ious = []
    for path in sorted(smoke.glob("*.png")):
        if path.stem.endswith("_mask"):
            continue
        image = np.asarray(Image.open(path).convert("RGB"))
        truth = np.asarray(Image.open(smoke / f"{path.stem}_mask.png").convert("L")) > 127
        ious.append(iou(cutout_alpha(image) >= 0.5, truth))
    rows.append(
        [
            "product smoke images",
            len(ious),
            np.mean(ious),
            "IoU each: " + ", ".join(f"{v:.3f}" for v in ious),
        ]
    )
    return rows


def gateway_rows(calls: int = 12) -> list[list]:
    """Table 4: a 1024x1024 product photo cut out through the gateway (every form)."""
    from common.client import connect
    from common.mesh import Mesh
    from vipro.v1 import common_pb2, segmentation_pb2, segmentation_pb2_grpc

    scene = make_scene("shadow", 7, size=(1024, 1024))
    data = cv2.imencode(".png", cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))[1].tobytes()
    forms = [segmentation_pb2.CutoutForm.Value(f) for f in ("CUTOUT_FORM_RGBA", "CUTOUT_FORM_MASK")]
    request = segmentation_pb2.SegmentObjectRequest(
        image=common_pb2.Image(inline=data),
        cutout=segmentation_pb2.CutoutOptions(forms=forms),
    )
    with tempfile.TemporaryDirectory() as tmp:
        mesh = Mesh(Path(tmp), gateway_port=0, metrics_port=0)
        mesh.write_config()
        mesh.start_gateway()
        try:
            mesh.start_service("segmentation")
            stub = segmentation_pb2_grpc.SegmentationServiceStub(
                connect(mesh.gateway_address, mesh.api_key)
            )
            stub.SegmentObject(request, timeout=120)
            totals, stages = [], []
            for _ in range(calls):
                t0 = time.perf_counter()
                reply = stub.SegmentObject(request, timeout=120)
                totals.append((time.perf_counter() - t0) * 1000)
                stages.append(dict(reply.metadata.stage_milliseconds))
        finally:
            mesh.down()
    p50 = float(np.median(totals))
    split = {k: float(np.median([s.get(k, 0.0) for s in stages])) for k in stages[0]}
    served = sum(split.values())
    rows = [["end to end (client)", p50]]
    rows += [[f"service stage: {k}", v] for k, v in split.items()]
    rows.append(["transport, gateway, response assembly", p50 - served])
    return rows


def main() -> Path:
    rows_m, detail = matting_rows()
    rows_a = automatic_rows()
    rows_g = gateway_rows()
    notes = (
        "SAD = sum |alpha - truth| / 1000, MSE x 1000 and gradient error / 1000 over the "
        "trimap's unknown pixels; alpha in 0..1. Time: all 18 images, one process, 2 threads; "
        "pymatting's numba code compiled before timing."
    )
    return report.write(
        "segmentation",
        "Matting with the given trimaps (alphamatting_lowres, 18 images)",
        ["trimap", "method", "SAD", "MSE x1000", "gradient", "total s", "speed vs pymatting cf"],
        rows_m,
        {"notes": notes, "per_image": detail},
        tables=[
            (
                "Automatic cut-out, no trimap (SAD over the whole image)",
                ["set", "images", "IoU", "SAD"],
                rows_a,
            ),
            (
                "1024x1024 product cut-out through the gateway (RGBA + mask)",
                ["part", "p50 ms"],
                rows_g,
            ),
        ],
    )


if __name__ == "__main__":
    print(main().read_text())
