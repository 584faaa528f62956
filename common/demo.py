"""`make demo`: start the local mesh and run real productions end to end.

It starts Triton, the gateway and every family service (state in .vipro), uploads product
pictures as assets, runs the general production (every picture laid into four banner sizes),
runs a resize as a job and follows its progress, runs the enhance production (super-resolution
on Triton), cuts the product out (segmentation.SegmentObject: RGBA, on white, cropped), reads its
label (segmentation.DetectText, with a glyph-stroke mask), asks
for productions whose capabilities are not served yet (they answer FAILED_PRECONDITION naming
what is missing), and writes everything to demo-output/.
The mesh keeps running afterwards: `vipro caps`, `vipro status`, `make down`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
import grpc
import numpy as np
from google.protobuf import any_pb2

from common.client import AssetClient, connect
from common.mesh import Mesh
from vipro.v1 import (
    common_pb2,
    editing_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    production_pb2,
    production_pb2_grpc,
    segmentation_pb2,
    segmentation_pb2_grpc,
)

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO.parent / "shared" / "data" / "product_mask_smoke"
BANNER_SIZES = [(1200, 628), (1080, 1080), (300, 250), (728, 90)]


def synthetic_product(width: int = 1024, height: int = 1024) -> np.ndarray:
    """A studio-style product shot: a shaded bottle with a label on a soft grey gradient."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    background = 235 - 25 * (y / height)
    cx = width // 2
    shadow = np.zeros((height, width), np.float32)  # soft contact shadow under the bottle
    cv2.ellipse(shadow, (cx, int(height * 0.78)), (int(width * 0.17), 24), 0, 0, 360, 1.0, -1)
    background *= 1.0 - 0.3 * cv2.GaussianBlur(shadow, (0, 0), 12)
    image = np.repeat(background[:, :, None], 3, axis=2).astype(np.uint8)
    body = np.zeros((height, width), np.uint8)
    cv2.rectangle(body, (cx - 150, 330), (cx + 150, 800), 255, -1)
    cv2.ellipse(body, (cx, 330), (150, 70), 0, 180, 360, 255, -1)
    cv2.rectangle(body, (cx - 45, 160), (cx + 45, 280), 255, -1)
    shade = np.clip(1.0 - np.abs(x - cx) / 200.0, 0.35, 1.0)
    color = np.stack([40 * shade, 110 * shade, 200 * shade], axis=2)
    image[body > 0] = color[body > 0].astype(np.uint8)
    cv2.rectangle(image, (cx - 150, 480), (cx + 150, 640), (245, 240, 225), -1)
    cv2.putText(image, "ViPro", (cx - 105, 585), cv2.FONT_HERSHEY_DUPLEX, 2.2, (30, 30, 30), 3)
    return image


def product_files(out: Path) -> list[Path]:
    """The demo's product pictures: a synthetic one, plus the smoke set when present."""
    synthetic = out / "inputs" / "bottle.png"
    synthetic.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(synthetic), cv2.cvtColor(synthetic_product(), cv2.COLOR_RGB2BGR))
    extra = sorted(p for p in SMOKE.glob("*.png") if not p.name.endswith("_mask.png"))
    return [synthetic, *extra[:2]]


def main(home: Path = REPO / ".vipro", out: Path = REPO / "demo-output") -> None:
    t0 = time.perf_counter()
    mesh = Mesh(home)
    print(f"starting the mesh in {home} ...", flush=True)
    mesh.up()
    print(f"mesh up in {time.perf_counter() - t0:.1f} s, gateway {mesh.gateway_address}")
    channel = connect(mesh.gateway_address, mesh.api_key)
    assets = AssetClient(channel)
    summary: dict = {"gateway": mesh.gateway_address, "outputs": []}

    catalog = gateway_pb2_grpc.GatewayServiceStub(channel).ListCapabilities(
        gateway_pb2.ListCapabilitiesRequest(), timeout=10
    )
    summary["capabilities"] = [c.name for c in catalog.capabilities]
    print("capabilities served:", ", ".join(summary["capabilities"]))

    request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_GENERAL)
    request.params.update(
        {"sizes": [{"width": w, "height": h} for w, h in BANNER_SIZES], "fit": "FIT_MODE_PAD"}
    )
    for path in product_files(out):
        info = assets.upload(path)
        request.materials.add(
            name=path.stem[:12], role="product", image=common_pb2.Image(asset_id=info.asset_id)
        )
    producer = production_pb2_grpc.ProductionServiceStub(channel)
    t1 = time.perf_counter()
    reply = producer.Produce(request, timeout=120)
    produce_ms = (time.perf_counter() - t1) * 1000
    (out / "general").mkdir(parents=True, exist_ok=True)
    for material in reply.materials:
        image = material.image
        data = (
            image.inline
            if image.WhichOneof("source") == "inline"
            else assets.download(image.asset_id)
        )
        target = (
            out / "general" / f"{material.name}{'.png' if 'png' in image.media_type else '.jpg'}"
        )
        target.write_bytes(data)
        summary["outputs"].append(str(target.relative_to(out)))
    summary["general"] = {
        "case_id": reply.case.case_id,
        "calls": len(reply.case.steps),
        "milliseconds": round(produce_ms, 1),
    }
    print(f"general production: {len(reply.materials)} banners in {produce_ms:.0f} ms")

    jobs = jobs_pb2_grpc.JobServiceStub(channel)
    packed = any_pb2.Any()
    packed.Pack(
        editing_pb2.ConvertImageRequest(
            image=request.materials[0].image,
            width=2048,
            output=common_pb2.OutputOptions(format=common_pb2.IMAGE_FORMAT_JPEG, quality=92),
        )
    )
    job = jobs.SubmitJob(
        jobs_pb2.SubmitJobRequest(method="editing.ConvertImage", request=packed), timeout=10
    ).job
    for update in jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=job.job_id), timeout=120):
        job = update.job
        print(f"  job {job.job_id[:8]}: {jobs_pb2.JobState.Name(job.state)}")
    result = editing_pb2.ConvertImageResponse()
    job.result.Unpack(result)
    data = result.image.inline or assets.download(result.image.asset_id)
    (out / "job-upscaled.jpg").write_bytes(data)
    summary["job"] = {"job_id": job.job_id, "size": [result.width, result.height]}
    summary["outputs"].append("job-upscaled.jpg")

    # Enhance: the product picture at a quarter size, upscaled 2x by the SR model on Triton.
    small = cv2.resize(synthetic_product(), (256, 256), interpolation=cv2.INTER_AREA)
    enhance = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_ENHANCE)
    enhance.params.update({"scale": 2})
    enhance.materials.add(
        name="bottle-small",
        role="product",
        image=common_pb2.Image(inline=cv2.imencode(".png", small[:, :, ::-1])[1].tobytes()),
    )
    try:
        t2 = time.perf_counter()
        reply = producer.Produce(enhance, timeout=300)
        for material in reply.materials:
            data = assets.download(material.image.asset_id)
            (out / "enhanced-512.png").write_bytes(data)
        summary["enhance"] = {"milliseconds": round((time.perf_counter() - t2) * 1000, 1)}
        summary["outputs"].append("enhanced-512.png")
        print(f"enhance production: 256 -> 512 px in {summary['enhance']['milliseconds']:.0f} ms")
    except grpc.RpcError as err:
        summary["enhance"] = f"{err.code().name}: {err.details()}"
        print(f"enhance production: {summary['enhance']}")

    # Cut-out: the product picture as a transparent PNG and on white, with a 5% margin crop.
    forms = [
        segmentation_pb2.CUTOUT_FORM_RGBA,
        segmentation_pb2.CUTOUT_FORM_ON_BACKGROUND,
        segmentation_pb2.CUTOUT_FORM_CROP,
    ]
    cut = segmentation_pb2.SegmentObjectRequest(
        image=common_pb2.Image(
            inline=cv2.imencode(".png", synthetic_product()[:, :, ::-1])[1].tobytes()
        ),
        mode=segmentation_pb2.SEGMENT_OBJECT_MODE_COMMODITY,
        cutout=segmentation_pb2.CutoutOptions(forms=forms, crop_margin_fraction=0.05),
    )
    try:
        t3 = time.perf_counter()
        reply = segmentation_pb2_grpc.SegmentationServiceStub(channel).SegmentObject(
            cut, timeout=120
        )
        results = {
            "cutout-rgba.png": reply.cutout.rgba,
            "cutout-on-white.png": reply.cutout.on_background,
            "cutout-crop.png": reply.cutout.crop,
        }
        for name, image in results.items():
            data = image.inline or assets.download(image.asset_id)
            (out / name).write_bytes(data)
            summary["outputs"].append(name)
        ms = round((time.perf_counter() - t3) * 1000, 1)
        summary["cutout"] = {"milliseconds": ms, "score": round(reply.objects[0].score, 3)}
        print(f"product cut-out: 1024x1024 in {ms:.0f} ms (RGBA, on white, crop)")
    except grpc.RpcError as err:
        summary["cutout"] = f"{err.code().name}: {err.details()}"
        print(f"product cut-out: {summary['cutout']}")

    # Text: read the product's label and keep a glyph-stroke mask (what an eraser would fill).
    label = segmentation_pb2.DetectTextRequest(
        image=cut.image, recognize=True, mask_mode=segmentation_pb2.TEXT_MASK_MODE_STROKES
    )
    try:
        found = segmentation_pb2_grpc.SegmentationServiceStub(channel).DetectText(label, timeout=60)
        mask = found.mask.image
        (out / "text-strokes.png").write_bytes(mask.inline or assets.download(mask.asset_id))
        summary["outputs"].append("text-strokes.png")
        summary["text"] = [r.text for r in found.regions]
        print(f"text on the product: {summary['text']} (stroke mask written)")
    except grpc.RpcError as err:
        summary["text"] = f"{err.code().name}: {err.details()}"
        print(f"text detection: {summary['text']}")

    summary["not_yet_served"] = {}
    for kind in ("ASSEMBLE", "EDIT"):
        pending = production_pb2.ProduceRequest(
            type=production_pb2.ProductionType.Value(f"PRODUCTION_TYPE_{kind}"),
            materials=request.materials[:1],
        )
        try:
            producer.Produce(pending, timeout=30)
        except grpc.RpcError as err:
            summary["not_yet_served"][kind.lower()] = f"{err.code().name}: {err.details()}"
            print(f"{kind.lower()} production: {err.code().name}: {err.details()}")

    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"outputs in {out}/ ({len(summary['outputs'])} files); summary.json written")
    print("the mesh keeps running: `.venv/bin/vipro caps`, `.venv/bin/vipro status`, `make down`")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:3]))
