"""`make demo`: start the local mesh, run real productions end to end, check what they made.

It starts Triton, the gateway and every family service (state in $VIPRO_HOME, default the
checkout's .vipro), uploads product pictures as assets, and then:

- the general production: each product picture designed into four banner sizes with copy
  (generation.GenerateBanner, the product cut out by segmentation.SegmentObject);
- a resize as a job, following its progress;
- the enhance production (super-resolution on Triton);
- a product cut-out (RGBA, on white, cropped), its label read (segmentation.DetectText, with
  a glyph-stroke mask), and the label erased by the edit production (and no longer read);
- the assemble production: banners in six sizes, English and Chinese copy, a logo, a layered
  PSD per English banner;
- the imitate production: the English 1200x628 banner as a reference, re-made with other
  products and copy in two sizes (full and low fidelity);
- a contact sheet of every design;
- productions whose capabilities are not served yet (they must answer FAILED_PRECONDITION
  naming what is missing).

Everything goes to demo-output/ (emptied first), each file named with the extension of its
content. Then every output is checked: it exists, decodes, and has the expected size. A failed
step or check is printed and the demo exits 1. The mesh keeps running afterwards: `vipro caps`,
`vipro status`, `make down`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import grpc
import numpy as np
from google.protobuf import any_pb2

from common import video
from common.client import AssetClient, connect
from common.errors import ServiceError
from common.mesh import Mesh
from common.outputs import OutputFolder, contact_sheet
from vipro.v1 import (
    common_pb2,
    editing_pb2,
    enhancement_pb2,
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
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov"}
BANNER_SIZES = [(1200, 628), (1080, 1080), (300, 250), (728, 90)]
DESIGN_SIZES = [(1200, 628), (1080, 1080), (300, 250), (728, 90), (160, 600), (1080, 1920)]
BANNER_COPY = {
    "en": ("Summer Sale on every bottle", "Up to 50% off this week only", "Shop now"),
    "zh": ("夏季大促，全场五折起", "仅限本周，先到先得。", "立即抢购"),
}
IMITATION_COPY = ("Fresh picks for autumn", "New arrivals every week", "See more")
PRODUCT_SIZE = 1024


def synthetic_product(width: int = PRODUCT_SIZE, height: int = PRODUCT_SIZE) -> np.ndarray:
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


def png(pixels: np.ndarray) -> bytes:
    """RGB or RGBA pixels as PNG bytes."""
    order = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
    return cv2.imencode(".png", cv2.cvtColor(pixels, order))[1].tobytes()


def copy_materials(copy: tuple[str, str, str]) -> list[production_pb2.Material]:
    """Headline, subline and call to action as text materials with those roles."""
    return [
        production_pb2.Material(name=role, role=role, text=text)
        for role, text in zip(("headline", "subline", "call_to_action"), copy, strict=True)
    ]


def demo_logo() -> np.ndarray:
    """A brand logo with alpha: an orange disc and a word mark on a transparent ground."""
    logo = np.zeros((120, 330, 4), np.uint8)
    cv2.circle(logo, (60, 60), 52, (235, 95, 35, 255), -1, cv2.LINE_AA)
    cv2.putText(
        logo, "ACME", (128, 84), cv2.FONT_HERSHEY_DUPLEX, 2.0, (35, 35, 35, 255), 4, cv2.LINE_AA
    )
    return logo


@dataclass
class Expected:
    """An output file and what it must be: (width, height) and channels, when known."""

    path: Path
    size: tuple[int, int] | None = None
    channels: int | None = None

    def problem(self) -> str:
        """What is wrong with the file, or "" when it is as expected."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return "missing or empty"
        if self.path.suffix in VIDEO_SUFFIXES:
            return self._video_problem()
        pixels = cv2.imread(str(self.path), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            return "does not decode"
        height, width = pixels.shape[:2]
        channels = 1 if pixels.ndim == 2 else pixels.shape[2]
        if self.size and (width, height) != self.size:
            return f"is {width}x{height}, expected {self.size[0]}x{self.size[1]}"
        if self.channels and channels != self.channels:
            return f"has {channels} channels, expected {self.channels}"
        return ""

    def _video_problem(self) -> str:
        try:
            with video.VideoReader(str(self.path)) as reader:
                frames = sum(1 for _ in reader.frames())
                info = reader.info
        except ServiceError as err:
            return f"does not decode ({err.message})"
        if self.size and (info.width, info.height) != self.size:
            return f"is {info.width}x{info.height}, expected {self.size[0]}x{self.size[1]}"
        return "" if frames else "has no frame"


class Demo:
    """The demo's calls against a running mesh, writing into `out`."""

    def __init__(self, mesh: Mesh, out: Path):
        self.channel = connect(mesh.gateway_address, mesh.api_key)
        self.assets = AssetClient(self.channel)
        self.producer = production_pb2_grpc.ProductionServiceStub(self.channel)
        self.segmentation = segmentation_pb2_grpc.SegmentationServiceStub(self.channel)
        self.out = out
        self.materials: list[production_pb2.Material] = []
        self.expected: list[Expected] = []
        self.designs: list[np.ndarray] = []  # every banner and imitation, for the contact sheet
        self.summary: dict = {"gateway": mesh.gateway_address}

    def save(
        self,
        stem: str,
        image: common_pb2.Image,
        size: tuple[int, int] | None = None,
        channels: int | None = None,
        folder: str = "",
    ) -> Path:
        """Write an output image (inline or asset) and record what it must be."""
        target = OutputFolder(self.out / folder)
        if image.WhichOneof("source") == "inline":
            path = target.write_bytes(stem, image.inline)
        else:
            path = target.write_with(stem, lambda p: self.assets.download_to(image.asset_id, p))
        self.expected.append(Expected(path, size, channels))
        return path

    def product_materials(self) -> list[production_pb2.Material]:
        """The demo's product pictures as uploaded assets: a synthetic bottle, plus two of the
        smoke set when ../shared/data is present."""
        inputs = self.out / "inputs"
        inputs.mkdir(parents=True, exist_ok=True)
        bottle = inputs / "bottle.png"
        bottle.write_bytes(png(synthetic_product()))
        extra = sorted(p for p in SMOKE.glob("*.png") if not p.name.endswith("_mask.png"))
        materials = []
        for path in [bottle, *extra[:2]]:
            info = self.assets.upload(path, media_type="image/png")
            materials.append(
                production_pb2.Material(
                    name=path.stem[:12],
                    role="product",
                    image=common_pb2.Image(asset_id=info.asset_id),
                )
            )
        return materials

    # Steps: each makes outputs and returns a one-line report -------------------------------
    def general(self) -> str:
        """The general production: each product picture in a designed banner of four sizes,
        with English copy given as text materials."""
        request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_GENERAL)
        request.params.update({"sizes": [{"width": w, "height": h} for w, h in BANNER_SIZES]})
        request.materials.extend(self.materials)
        request.materials.extend(copy_materials(BANNER_COPY["en"]))
        t0 = time.perf_counter()
        reply = self.producer.Produce(request, timeout=300)
        ms = (time.perf_counter() - t0) * 1000
        for material in reply.materials:
            width, height = material.name.rsplit("-", 1)[1].split("x")
            self.save(material.name, material.image, (int(width), int(height)), folder="general")
        expected = len(BANNER_SIZES) * len(self.materials)
        if len(reply.materials) != expected:
            raise RuntimeError(f"{len(reply.materials)} banners, expected {expected}")
        self.summary["general"] = {
            "case_id": reply.case.case_id,
            "calls": len(reply.case.steps),
            "milliseconds": round(ms, 1),
        }
        return f"{len(reply.materials)} banners in {ms:.0f} ms"

    def run_job(self, method: str, request, response):
        """Run ``request`` as a job of ``method`` (printing its states), and unpack its result
        into ``response``.

        Raises:
            RuntimeError: the job did not succeed.
        """
        jobs = jobs_pb2_grpc.JobServiceStub(self.channel)
        packed = any_pb2.Any()
        packed.Pack(request)
        job = jobs.SubmitJob(
            jobs_pb2.SubmitJobRequest(method=method, request=packed), timeout=10
        ).job
        for update in jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=job.job_id), timeout=300):
            job = update.job
            print(f"  job {job.job_id[:8]}: {jobs_pb2.JobState.Name(job.state)}", flush=True)
        if job.state != jobs_pb2.JOB_STATE_SUCCEEDED:
            raise RuntimeError(f"job ended {jobs_pb2.JobState.Name(job.state)}: {job.error}")
        job.result.Unpack(response)
        return job.job_id

    def job(self) -> str:
        request = editing_pb2.ConvertImageRequest(
            image=self.materials[0].image,
            width=2048,
            output=common_pb2.OutputOptions(format=common_pb2.IMAGE_FORMAT_JPEG, quality=92),
        )
        result = editing_pb2.ConvertImageResponse()
        job_id = self.run_job("editing.ConvertImage", request, result)
        self.save("job-upscaled", result.image, (2048, 2048), 3)
        self.summary["job"] = {"job_id": job_id, "size": [result.width, result.height]}
        return f"resized to {result.width}x{result.height} as job {job_id[:8]}"

    def enhance(self) -> str:
        """The product picture at a quarter size, upscaled 2x by the SR model on Triton."""
        small = cv2.resize(synthetic_product(), (256, 256), interpolation=cv2.INTER_AREA)
        request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_ENHANCE)
        request.params.update({"scale": 2})
        request.materials.add(
            name="bottle-small", role="product", image=common_pb2.Image(inline=png(small))
        )
        t0 = time.perf_counter()
        reply = self.producer.Produce(request, timeout=300)
        ms = (time.perf_counter() - t0) * 1000
        for material in reply.materials:
            self.save("enhanced-512", material.image, (512, 512))
        self.summary["enhance"] = {"milliseconds": round(ms, 1)}
        return f"256 -> 512 px in {ms:.0f} ms"

    def cutout(self) -> str:
        """The product as a transparent PNG, on white, and cropped with a 5 % margin."""
        forms = [
            segmentation_pb2.CUTOUT_FORM_RGBA,
            segmentation_pb2.CUTOUT_FORM_ON_BACKGROUND,
            segmentation_pb2.CUTOUT_FORM_CROP,
        ]
        request = segmentation_pb2.SegmentObjectRequest(
            image=common_pb2.Image(inline=png(synthetic_product())),
            mode=segmentation_pb2.SEGMENT_OBJECT_MODE_COMMODITY,
            cutout=segmentation_pb2.CutoutOptions(forms=forms, crop_margin_fraction=0.05),
        )
        t0 = time.perf_counter()
        reply = self.segmentation.SegmentObject(request, timeout=120)
        ms = (time.perf_counter() - t0) * 1000
        full = (PRODUCT_SIZE, PRODUCT_SIZE)
        self.save("cutout-rgba", reply.cutout.rgba, full, 4)
        self.save("cutout-on-white", reply.cutout.on_background, full, 3)
        self.save("cutout-crop", reply.cutout.crop)
        self.summary["cutout"] = {"milliseconds": round(ms, 1), "score": reply.objects[0].score}
        return f"{PRODUCT_SIZE}x{PRODUCT_SIZE} in {ms:.0f} ms (RGBA, on white, crop)"

    def text(self) -> str:
        """Read the product's label and keep a glyph-stroke mask (what an eraser would fill)."""
        request = segmentation_pb2.DetectTextRequest(
            image=common_pb2.Image(inline=png(synthetic_product())),
            recognize=True,
            mask_mode=segmentation_pb2.TEXT_MASK_MODE_STROKES,
        )
        found = self.segmentation.DetectText(request, timeout=60)
        self.save("text-strokes", found.mask.image, (PRODUCT_SIZE, PRODUCT_SIZE), 1)
        words = [r.text for r in found.regions]
        if not any("vipro" in w.lower() for w in words):
            raise RuntimeError(f"the label 'ViPro' was not read (read {words})")
        self.summary["text"] = words
        return f"read {words} (stroke mask written)"

    def edit(self) -> str:
        """The edit production erases the bottle's label; the label must no longer be read."""
        request = production_pb2.ProduceRequest(
            type=production_pb2.PRODUCTION_TYPE_EDIT, materials=self.materials[:1]
        )
        t0 = time.perf_counter()
        reply = self.producer.Produce(request, timeout=120)
        ms = (time.perf_counter() - t0) * 1000
        (material,) = reply.materials
        path = self.save(material.name, material.image, (PRODUCT_SIZE, PRODUCT_SIZE), folder="edit")
        check = segmentation_pb2.DetectTextRequest(
            image=common_pb2.Image(inline=path.read_bytes()), recognize=True
        )
        left = [r.text for r in self.segmentation.DetectText(check, timeout=60).regions]
        if any("vipro" in w.lower() for w in left):
            raise RuntimeError(f"the label is still read after erasing: {left}")
        self.summary["edit"] = {"case_id": reply.case.case_id, "milliseconds": round(ms, 1)}
        return f"label erased in {ms:.0f} ms (text read afterwards: {left or 'none'})"

    def banners(self) -> str:
        """The assemble production in six sizes, English and Chinese copy: the products cut
        out by SegmentObject, a logo, a layered PSD per English banner."""
        logo = production_pb2.Material(
            name="logo", role="logo", image=common_pb2.Image(inline=png(demo_logo()))
        )
        t0, psds = time.perf_counter(), 0
        for language, copy in BANNER_COPY.items():
            request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_ASSEMBLE)
            request.materials.extend([*self.materials[:2], logo, *copy_materials(copy)])
            request.params.update(
                {
                    "sizes": [{"width": w, "height": h} for w, h in DESIGN_SIZES],
                    "layered_psd": language == "en",
                    "seed": 11,
                }
            )
            reply = self.producer.Produce(request, timeout=300)
            for material in reply.materials:
                stem = f"{language}-{material.name}"
                size = tuple(int(v) for v in material.name.split("-")[1].split("x"))
                path = self.save(stem, material.image, size, 3, folder="banners")
                self.designs.append(cv2.imread(str(path))[..., ::-1])
                if psd := material.labels.get("psd_asset_id"):
                    target = OutputFolder(self.out / "banners")
                    target.write_with(stem, lambda p, a=psd: self.assets.download_to(a, p))
                    psds += 1
        ms = (time.perf_counter() - t0) * 1000
        self.summary["banners"] = {
            "designs": len(self.designs),
            "psd": psds,
            "milliseconds": round(ms),
        }
        return f"{len(self.designs)} banners and {psds} layered PSDs in {ms:.0f} ms"

    def imitate(self) -> str:
        """The imitate production: the English 1200x628 banner as the reference, new
        products and copy, re-flowed into two other sizes at full and low fidelity."""
        (reference,) = (self.out / "banners").glob("en-banner-1200x628-0.[jp]*g")
        material = production_pb2.Material(
            name="reference",
            role="reference",
            image=common_pb2.Image(inline=reference.read_bytes()),
        )
        products = self.materials[1:] or self.materials
        t0, made = time.perf_counter(), 0
        for (width, height), fidelity in (((1080, 1080), 1.0), ((1200, 628), 0.3)):
            request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_IMITATE)
            request.materials.extend([material, *products, *copy_materials(IMITATION_COPY)])
            request.params.update(
                {"size": {"width": width, "height": height}, "fidelity": fidelity, "seed": 5}
            )
            reply = self.producer.Produce(request, timeout=300)
            for design in reply.materials:
                stem = f"{design.name}-fidelity-{fidelity:g}"
                path = self.save(stem, design.image, (width, height), 3, folder="imitate")
                self.designs.append(cv2.imread(str(path))[..., ::-1])
                made += 1
        ms = (time.perf_counter() - t0) * 1000
        self.summary["imitate"] = {"designs": made, "milliseconds": round(ms)}
        return f"{made} imitations of {reference.name} in {ms:.0f} ms"

    def sheet(self) -> str:
        """A contact sheet of every banner and imitation made, for people to look at."""
        path = OutputFolder(self.out).write_bytes("contact-sheet", png(contact_sheet(self.designs)))
        self.expected.append(Expected(path))
        return f"{len(self.designs)} designs in {path.relative_to(self.out)}"

    def summary_production(self) -> str:
        """The summary production on a video the demo edits itself (the shot bench's clip:
        cuts, a dissolve and a fade, a flash inside a shot, a tone for sound): storyboard,
        keyframes and a skim."""
        from bench.shot_scenes import edited_clip
        from bench.video_scenes import encode

        transitions = ("cut", "dissolve", "cut", "fade", "cut")
        clip = edited_clip(seed=2, size=(360, 640), transitions=transitions, hazards=("flash",))
        source = encode(clip.frames, clip.fps, audio=True, crf=23)
        OutputFolder(self.out / "summary").write_bytes("source", source)
        asset = self.assets.upload(source, media_type="video/mp4")
        request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_SUMMARY)
        request.materials.add(name="clip", video=common_pb2.Video(asset_id=asset.asset_id))
        t0 = time.perf_counter()
        reply = self.producer.Produce(request, timeout=300)
        ms = (time.perf_counter() - t0) * 1000
        for material in reply.materials:
            kind = material.WhichOneof("content")
            size = (640, 360) if material.role in ("keyframe", "skim") else None
            self.save(material.name, getattr(material, kind), size, folder="summary")
        keyframes = sum(m.role == "keyframe" for m in reply.materials)
        self.summary["summary"] = {
            "case_id": reply.case.case_id,
            "keyframes": keyframes,
            "shots_made": len(transitions) + 1,
            "milliseconds": round(ms),
        }
        frames = len(clip.frames)
        return (
            f"storyboard, {keyframes} keyframes and a skim of a {frames}-frame clip in {ms:.0f} ms"
        )

    def interpolation(self) -> str:
        """A 25 fps pan under a still caption (the interpolation bench's clip, rendered at
        50 fps) made 50 fps by InterpolateFrames as a job; beside the result, a picture of one
        made frame between the true one and the plain blend of its neighbours."""
        from bench.interpolation_scenes import caption
        from bench.video_scenes import encode

        clip = caption(size=(360, 640), frames=25)
        source = encode(list(clip.inputs), 25.0, audio=True, crf=16)
        folder = OutputFolder(self.out / "interpolate")
        folder.write_bytes("clip-25fps", source)
        request = enhancement_pb2.InterpolateFramesRequest(
            video=common_pb2.Video(inline=source), factor=2
        )
        result = enhancement_pb2.InterpolateFramesResponse()
        t0 = time.perf_counter()
        self.run_job("enhancement.InterpolateFrames", request, result)
        ms = (time.perf_counter() - t0) * 1000
        path = self.save("clip-50fps", result.video, (640, 360), folder="interpolate")
        with video.VideoReader(str(path)) as reader:
            made = [f.rgb for f in reader.frames()]
        k = len(clip.truth) // 2
        blend = ((clip.inputs[k].astype(np.uint16) + clip.inputs[k + 1]) // 2).astype(np.uint8)
        row = np.concatenate([blend, made[2 * k + 1], clip.truth[k]], axis=1)
        self.expected.append(Expected(folder.write_bytes("blend-vipro-truth", png(row))))
        self.summary["interpolation"] = {
            "frames": result.frames,
            "fps": result.fps,
            "milliseconds": round(ms),
        }
        made_at = f"{result.frames} at {result.fps:g} fps"
        return f"{len(clip.inputs)} frames at 25 fps -> {made_at} in {ms:.0f} ms"

    def not_yet_served(self) -> str:
        """Productions whose capabilities are not built yet must say what is missing."""
        answers = {}
        for kind in ("EXTEND",):
            request = production_pb2.ProduceRequest(
                type=production_pb2.ProductionType.Value(f"PRODUCTION_TYPE_{kind}"),
                materials=self.materials[:1],
            )
            try:
                self.producer.Produce(request, timeout=30)
                raise RuntimeError(f"{kind.lower()} succeeded: update the demo to show it")
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    raise
                answers[kind.lower()] = f"{err.code().name}: {err.details()}"
        self.summary["not_yet_served"] = answers
        return "; ".join(f"{k}: {v}" for k, v in answers.items())


def run_step(name: str, step: Callable[[], str], failures: list[str]) -> None:
    """Run one demo step, printing its report or its failure (recorded, not raised)."""
    try:
        print(f"{name}: {step()}", flush=True)
    except grpc.RpcError as err:
        failures.append(f"{name}: {err.code().name}: {err.details()}")
        print(f"{name}: FAILED {failures[-1]}", flush=True)
    except (RuntimeError, OSError, ValueError) as err:
        failures.append(f"{name}: {err}")
        print(f"{name}: FAILED {err}", flush=True)


def main(home: Path | None = None, out: Path = REPO / "demo-output") -> int:
    """Run the demo; returns the exit status (0 when every step and check passed)."""
    home = home or Path(os.environ.get("VIPRO_HOME") or REPO / ".vipro")
    t0 = time.perf_counter()
    print(f"starting the mesh in {home} ...", flush=True)
    mesh = Mesh(home)
    mesh.up()
    print(f"mesh up in {time.perf_counter() - t0:.1f} s, gateway {mesh.gateway_address}")
    shutil.rmtree(out, ignore_errors=True)
    demo = Demo(mesh, out)
    catalog = gateway_pb2_grpc.GatewayServiceStub(demo.channel).ListCapabilities(
        gateway_pb2.ListCapabilitiesRequest(), timeout=10
    )
    demo.summary["capabilities"] = [c.name for c in catalog.capabilities]
    print("capabilities served:", ", ".join(demo.summary["capabilities"]))
    demo.materials = demo.product_materials()

    failures: list[str] = []
    for name, step in (
        ("general production", demo.general),
        ("resize job", demo.job),
        ("enhance production", demo.enhance),
        ("product cut-out", demo.cutout),
        ("text on the product", demo.text),
        ("edit production", demo.edit),
        ("banners", demo.banners),
        ("imitation", demo.imitate),
        ("contact sheet", demo.sheet),
        ("summary production", demo.summary_production),
        ("frame interpolation job", demo.interpolation),
        ("productions not served yet", demo.not_yet_served),
    ):
        run_step(name, step, failures)

    for expected in demo.expected:
        if problem := expected.problem():
            failures.append(f"{expected.path.relative_to(out)} {problem}")
    demo.summary["outputs"] = [str(e.path.relative_to(out)) for e in demo.expected]
    demo.summary["failures"] = failures
    (out / "summary.json").write_text(json.dumps(demo.summary, indent=2))
    print(f"outputs in {out}/: {len(demo.expected)} files checked (exist, decode, size)")
    print("the mesh keeps running: `.venv/bin/vipro caps`, `.venv/bin/vipro status`, `make down`")
    if failures:
        print(f"demo FAILED ({len(failures)}):", *failures, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*(Path(a) for a in sys.argv[1:3])))
