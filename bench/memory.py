"""Memory cost of each image capability, per input pixel: what `@capability(memory=...)`
declares and the admission control (common/admission.py) reserves.

``python -m bench memory`` (~3 min) starts a mesh (Triton, gateway, segmentation, editing,
enhancement; budgets lifted so nothing is refused), then, for each capability, calls it once on
a small picture (warm-up: lazy imports, model sessions) and once each on 1 MP and 4 MP
versions of a product shot. Before each measured call the peak resident memory (VmHWM) of the
service process, and of Triton's model processes, is reset (``/proc/<pid>/clear_refs``, Linux,
root); after it, the peak minus the resident memory before the call is that call's cost.

The services run with ``MALLOC_MMAP_THRESHOLD_=131072`` so large arrays are unmapped when
freed and one call's peak does not hide in memory an earlier call left mapped.

Writes ``bench/results/memory.{json,md}``: measured bytes per pixel at 1 MP and 4 MP (the cost
divided by the input's pixels, the output's for SuperResolve: the fixed part included, so the
4 MP figure is the tighter one),
the declared figure beside it, and Triton's model-process peak.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from bench import report
from common import triton
from common.client import AssetClient, connect
from common.demo import synthetic_product
from common.mesh import Mesh
from services.editing import server as editing
from services.enhancement import server as enhancement
from services.segmentation import server as segmentation
from vipro.v1 import (
    common_pb2,
    editing_pb2,
    enhancement_pb2,
    segmentation_pb2,
)

SIDES = (1024, 2048)
"""Square inputs measured: 1 MP and 4 MP."""

COST_PIXELS_PER_INPUT_PIXEL = {"enhancement.SuperResolve": 4}
"""Declared costs are per output pixel for the upscaler (x2 here), per input pixel otherwise."""


def image_capabilities() -> dict:
    """The capabilities measured, by name."""
    families = (editing.CAPABILITIES, segmentation.CAPABILITIES, enhancement.CAPABILITIES)
    return {c.name: c for capabilities in families for c in capabilities}


def product(side: int) -> np.ndarray:
    """The demo's product shot at `side` x `side`, with a caption drawn across the bottom."""
    image = cv2.resize(synthetic_product(), (side, side), interpolation=cv2.INTER_AREA)
    scale = side / 1024
    cv2.putText(
        image, "SUMMER SALE 50%", (int(200 * scale), int(950 * scale)),
        cv2.FONT_HERSHEY_DUPLEX, 2.0 * scale, (20, 20, 20), max(1, int(3 * scale)),
    )  # fmt: skip
    return image


def trimap(side: int) -> np.ndarray:
    """A trimap of the product's bottle: 255 inside, 128 on a band around its outline."""
    grey = cv2.cvtColor(product(side), cv2.COLOR_RGB2GRAY)
    inside = (grey < 150).astype(np.uint8) * 255
    band = max(3, side // 100)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    out = np.zeros_like(inside)
    out[cv2.dilate(inside, kernel) > 0] = 128
    out[cv2.erode(inside, kernel) > 0] = 255
    return out


def requests(image: common_pb2.Image, side: int, upload) -> dict[str, tuple[str, object]]:
    """(method, request) per capability for an uploaded `image` of `side` x `side`."""
    label = common_pb2.Box(x=0.35 * side, y=0.45 * side, width=0.3 * side, height=0.18 * side)
    forms = [segmentation_pb2.CUTOUT_FORM_RGBA]
    mask = common_pb2.Mask(image=upload(cv2.imencode(".png", trimap(side))[1].tobytes()))
    return {
        "editing.ConvertImage": editing_pb2.ConvertImageRequest(
            image=image,
            width=side // 2,
            output=common_pb2.OutputOptions(format=common_pb2.IMAGE_FORMAT_JPEG),
        ),
        "editing.EraseImage": editing_pb2.EraseImageRequest(
            image=image, region=editing_pb2.EraseRegion(boxes=[label])
        ),
        "segmentation.SegmentObject": segmentation_pb2.SegmentObjectRequest(
            image=image,
            mode=segmentation_pb2.SEGMENT_OBJECT_MODE_COMMODITY,
            cutout=segmentation_pb2.CutoutOptions(forms=forms),
        ),
        "segmentation.SegmentPerson": segmentation_pb2.SegmentPersonRequest(image=image),
        "segmentation.DetectText": segmentation_pb2.DetectTextRequest(
            image=image, recognize=True, mask_mode=segmentation_pb2.TEXT_MASK_MODE_STROKES
        ),
        "segmentation.DetectFaces": segmentation_pb2.DetectFacesRequest(image=image),
        "segmentation.Matte": segmentation_pb2.MatteRequest(image=image, trimap=mask),
        "segmentation.DetectInsertionSlots": segmentation_pb2.DetectInsertionSlotsRequest(
            image=image
        ),
        "enhancement.SuperResolve": enhancement_pb2.SuperResolveRequest(image=image, scale=2),
        "enhancement.Denoise": enhancement_pb2.DenoiseRequest(image=image, sigma=15),
    }


def status(pid: int, key: str) -> int:
    """A /proc/<pid>/status figure in bytes (VmHWM, VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def reset_peak(pid: int) -> int:
    """Reset a process's peak resident memory to its current one; returns that."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return status(pid, "VmRSS")


def peak_growth(pids: list[int], call: Callable[[], object]) -> list[int]:
    """Peak resident memory growth (bytes) of each of `pids` while `call()` runs."""
    before = [reset_peak(pid) for pid in pids]
    call()
    return [status(pid, "VmHWM") - b for pid, b in zip(pids, before, strict=True)]


def main() -> Path:
    rows, data = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        mesh = Mesh(Path(tmp) / "state", gateway_port=0, metrics_port=0)
        env = {"VIPRO_MEMORY_BUDGET": "64G", "MALLOC_MMAP_THRESHOLD_": "131072"}
        mesh.write_config()
        mesh.start_triton()
        mesh.start_gateway()
        for family in ("segmentation", "editing", "enhancement"):
            mesh.start_service(family, env=env)
        try:
            channel = connect(mesh.gateway_address, mesh.api_key)
            assets = AssetClient(channel)

            def upload(data: bytes) -> common_pb2.Image:
                return common_pb2.Image(asset_id=assets.upload(data).asset_id)

            def image(side: int) -> common_pb2.Image:
                return upload(cv2.imencode(".png", product(side)[:, :, ::-1])[1].tobytes())

            warm = requests(image(512), 512, upload)
            sized = {side: requests(image(side), side, upload) for side in SIDES}
            models = triton.model_processes(mesh.triton_shm_prefix)
            for name, cap in image_capabilities().items():
                if name not in warm:
                    continue
                family = name.split(".")[0]
                service_pid = mesh.processes[family].pid
                pids = [service_pid, *(models[m] for m in cap.models if m in models)]
                stub = channel.unary_unary(
                    cap.method,
                    request_serializer=lambda m: m.SerializeToString(),
                    response_deserializer=None,
                )
                stub(warm[name], timeout=600)
                growth, seconds = {}, {}
                for side in SIDES:
                    t0 = time.perf_counter()
                    call = functools.partial(stub, sized[side][name], timeout=600)
                    growth[side] = peak_growth(pids, call)
                    seconds[side] = time.perf_counter() - t0
                factor = COST_PIXELS_PER_INPUT_PIXEL.get(name, 1)
                per_pixel = {side: growth[side][0] / (side**2 * factor) for side in SIDES}
                triton_peak = max((max(growth[s][1:], default=0) for s in SIDES), default=0)
                declared = cap.memory.per_pixel if cap.memory else None
                data[name] = {
                    "service_growth_bytes": {str(s): growth[s][0] for s in SIDES},
                    "bytes_per_pixel": {str(s): per_pixel[s] for s in SIDES},
                    "triton_model_growth_bytes": triton_peak,
                    "declared_bytes_per_pixel": declared,
                    "seconds": {str(s): seconds[s] for s in SIDES},
                }
                rows.append(
                    [
                        name,
                        f"{growth[SIDES[0]][0] / 2**20:.0f} MiB",
                        f"{growth[SIDES[1]][0] / 2**20:.0f} MiB",
                        f"{per_pixel[SIDES[0]]:.0f}",
                        f"{per_pixel[SIDES[1]]:.0f}",
                        "—" if declared is None else f"{declared:.0f}",
                        f"{triton_peak / 2**20:.0f} MiB" if cap.models else "—",
                    ]
                )
                print(*rows[-1], flush=True)
        finally:
            mesh.down()
    return report.write(
        "memory",
        "Memory cost per call: service peak growth, bytes per input pixel, declared cost",
        [
            "capability",
            "service peak, 1 MP",
            "service peak, 4 MP",
            "B/px at 1 MP",
            "B/px at 4 MP",
            "declared B/px",
            "Triton model peak (max)",
        ],
        rows,
        {"capabilities": data, "notes": __doc__.split("\n\n")[2].replace("\n", " ")},
    )


if __name__ == "__main__":
    print(main().read_text())
