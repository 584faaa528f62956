"""Video erasure quality and speed.

``python -m bench erase`` writes ``bench/results/erase.{json,md}`` with:

1. **Filling, exact masks** (in-process, synthetic clips of :mod:`bench.video_scenes`, 360x640,
   60 frames at 30 fps; the clean frames are the truth): PSNR and SSIM inside the mask, and
   flicker (mean absolute error of the frame-to-frame change inside the mask, against the
   truth's own change), for ViPro's temporal fill, per-frame PatchMatch, per-frame OpenCV
   Telea and ffmpeg's ``delogo`` on the mask's bounding box.
2. **Through the service, captions found automatically** (real gateway, Triton, segmentation
   and editing processes): 720p synthetic clips with Latin and Chinese captions: PSNR inside
   the true caption pixels against per-frame Telea on the same masks, caption re-detection
   rate (DetectText on every 5th frame: text found after erasure lying mostly within the
   captions found before, beside text found elsewhere after, which is the detector reacting
   to the scene), erase fps beside the
   decode+encode-only fps of the same clip, and the editing process's peak memory. The real
   clip in ../shared/data/subtitle_video, when present: re-detection before and after, fps,
   and a before/after frame written to ``bench/results/local/`` (not committed: the
   footage's copyright is unknown).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from bench import report
from bench.video_scenes import CJK_FONTS, encode, make_clip
from common.video import Encoding, VideoReader, VideoWriter
from services.editing import erase, inpaint, video_fill

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LOCAL = report.RESULTS / "local"


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    error = np.mean((a.astype(float) - b.astype(float))[region] ** 2)
    return float(10 * np.log10(255**2 / max(error, 1e-9)))


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two ``uint8`` RGB images (grey, Gaussian window sigma 1.5)."""
    x = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))


def flicker(out: list[np.ndarray], clean: np.ndarray, holes: list[np.ndarray]) -> float:
    """Mean |(o_t - o_t-1) - (c_t - c_t-1)| over pixels in the hole at t (grey levels)."""
    errors = []
    for t in range(1, len(out)):
        change = out[t].astype(float) - out[t - 1].astype(float)
        truth = clean[t].astype(float) - clean[t - 1].astype(float)
        errors.append(np.abs(change - truth)[holes[t]].mean())
    return float(np.mean(errors))


def temporal(frames: np.ndarray, holes: list[np.ndarray], fps: float) -> list[np.ndarray]:
    motion = video_fill.MotionEstimator()
    filler = video_fill.TemporalFiller(round(fps))
    to_shot, done = np.eye(3), []
    for i, (rgb, hole) in enumerate(zip(frames, holes, strict=True)):
        step, cut = motion.update(rgb, hole)
        to_shot = np.eye(3) if cut else to_shot @ np.linalg.inv(step)
        done += filler.push(video_fill.Slot(rgb, hole, to_shot.copy(), 0, i))
    done += filler.flush()
    return [s.filled for s in done]


def delogo(frames: np.ndarray, fps: float, holes: list[np.ndarray]) -> list[np.ndarray]:
    """ffmpeg's delogo over the bounding box of every frame's hole (lossless round trip)."""
    ys, xs = np.nonzero(np.logical_or.reduce(holes))
    h, w = frames.shape[1:3]
    x0, y0 = max(1, xs.min()), max(1, ys.min())
    x1, y1 = min(w - 2, xs.max()), min(h - 2, ys.max())
    raw = frames.tobytes()
    command = [
        "ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
        "-r", str(fps), "-i", "-", "-vf", f"delogo=x={x0}:y={y0}:w={x1 - x0}:h={y1 - y0}",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
    ]  # fmt: skip
    done = subprocess.run(command, input=raw, capture_output=True, check=True).stdout
    return list(np.frombuffer(done, np.uint8).reshape(frames.shape))


def filling_rows() -> list[list]:
    """Table 1: methods on exact masks."""
    clips = {
        "Latin captions, panning camera": make_clip(7, (360, 640), 60, 30, (2.0, 0.6), logo=False)
    }
    if CJK_FONTS:
        clips["Chinese captions, panning camera"] = make_clip(
            8, (360, 640), 60, 30, (-1.5, 0.8), chinese=True, logo=False
        )
    clips["logo, panning camera"] = make_clip(9, (360, 640), 60, 30, (2.5, 0.0))
    rows = []
    for name, clip in clips.items():
        truth = clip.logo if name.startswith("logo") else clip.captions
        holes = [erase.grow(m, 3) for m in truth]
        methods = {
            "ViPro temporal fill": lambda c=clip, h=holes: temporal(c.frames, h, c.fps),
            "PatchMatch per frame": lambda c=clip, h=holes: [
                inpaint.fill_patchmatch(f, m) for f, m in zip(c.frames, h, strict=True)
            ],
            "OpenCV Telea per frame": lambda c=clip, h=holes: [
                inpaint.fill_telea(f, m) for f, m in zip(c.frames, h, strict=True)
            ],
            "ffmpeg delogo (box)": lambda c=clip, h=holes: delogo(c.frames, c.fps, h),
        }
        for method, run in methods.items():
            t0 = time.perf_counter()
            out = run()
            ms = (time.perf_counter() - t0) * 1000 / len(out)
            rows.append(
                [
                    name,
                    method,
                    np.mean(
                        [psnr(o, c, h) for o, c, h in zip(out, clip.clean, holes, strict=True)]
                    ),
                    np.mean(
                        [
                            ssim_map(o, c)[h].mean()
                            for o, c, h in zip(out, clip.clean, holes, strict=True)
                        ]
                    ),
                    flicker(out, clip.clean, holes),
                    ms,
                ]
            )
    return rows


def decode_encode_fps(data: bytes) -> float:
    """Frames per second of decoding and re-encoding ``data`` with nothing in between."""
    with tempfile.TemporaryDirectory() as tmp, VideoReader(data) as reader:
        writer = VideoWriter(str(Path(tmp) / "out.mp4"), reader, Encoding())
        t0, n = time.perf_counter(), 0
        for frame in reader.frames(on_audio=writer.mux_audio):
            writer.write(frame.rgb, frame.pts)
            n += 1
        writer.close()
        return n / (time.perf_counter() - t0)


def service_rows() -> tuple[list[list], dict]:
    """Table 2: automatic caption erase through the mesh."""
    from common.client import connect
    from common.mesh import Mesh
    from vipro.v1 import (
        common_pb2,
        editing_pb2,
        editing_pb2_grpc,
        segmentation_pb2,
        segmentation_pb2_grpc,
    )

    def text_boxes(rgb: np.ndarray, stub) -> list[erase.Rect]:
        data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()
        reply = stub.DetectText(
            segmentation_pb2.DetectTextRequest(image=common_pb2.Image(inline=data)), timeout=60
        )
        shape = rgb.shape[:2]
        return [
            erase.clip_box(r.box.x, r.box.y, r.box.width, r.box.height, shape)
            for r in reply.regions
        ]

    def redetection(source: list[np.ndarray], out: list[np.ndarray], stub) -> tuple[int, ...]:
        """On every 5th frame: (captions before, of them still found after, other text before,
        other text after)."""
        before = after = other = elsewhere = 0
        for src, res in zip(source[::5], out[::5], strict=True):
            shape = src.shape[:2]
            found = text_boxes(src, stub)
            captions = [b for b in found if erase.is_caption(b, shape)]
            other += len(found) - len(captions)
            # Residue of a caption lies around it; text found elsewhere after erasure is the
            # detector reacting to the scene once the caption is gone.
            zone = erase.grow(erase.box_mask(captions, shape), 10)
            before += len(captions)
            for b in text_boxes(res, stub):
                inside = zone[b.y0 : b.y1, b.x0 : b.x1].mean() if not b.empty else 0.0
                after += inside >= 0.5
                elsewhere += inside < 0.5
        return before, after, other, elsewhere

    clips = {"720p, Latin captions": make_clip(11, (720, 1280), 90, 30, (3.0, 1.0), logo=False)}
    if CJK_FONTS:
        clips["720p, Chinese captions"] = make_clip(
            12, (720, 1280), 90, 30, (-2.0, 1.0), chinese=True, logo=False
        )
    rows, extra = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        mesh = Mesh(Path(tmp), gateway_port=0, metrics_port=0)
        mesh.write_config()
        try:
            mesh.start_triton()
            mesh.start_gateway()
            mesh.start_service("segmentation")
            editing_process = mesh.start_service("editing")
            channel = connect(mesh.gateway_address, mesh.api_key)
            editor = editing_pb2_grpc.EditingServiceStub(channel)
            detector = segmentation_pb2_grpc.SegmentationServiceStub(channel)
            inputs = {name: (encode(c.frames, c.fps, crf=16), c) for name, c in clips.items()}
            real = DATA / "subtitle_video" / "test2.mp4"
            if real.exists():
                inputs["subtitle_video/test2.mp4 (real, 720p)"] = (real.read_bytes(), None)
            for name, (data, clip) in inputs.items():
                request = editing_pb2.EraseVideoRequest(
                    video=common_pb2.Video(inline=data),
                    region=editing_pb2.EraseRegion(targets=[editing_pb2.ERASE_TARGET_SUBTITLE]),
                    return_mask_video=clip is not None,
                )
                t0 = time.perf_counter()
                reply = editor.EraseVideo(request, timeout=1800)
                seconds = time.perf_counter() - t0
                with VideoReader(reply.video.inline or data) as reader:
                    out = [f.rgb for f in reader.frames()]
                with VideoReader(data) as reader:
                    source = [f.rgb for f in reader.frames()]
                before, after, other, elsewhere = redetection(source, out, detector)
                ours = telea = float("nan")
                if clip is not None:
                    with VideoReader(reply.mask_video.inline) as reader:
                        masks = [f.rgb[..., 0] > 127 for f in reader.frames()]
                    truth = [erase.grow(c, 2) for c in clip.captions]
                    ours = np.mean(
                        [psnr(o, c, t) for o, c, t in zip(out, clip.clean, truth, strict=True)]
                    )
                    telea = np.mean(
                        [
                            psnr(inpaint.fill_telea(s, m), c, t)
                            for s, m, c, t in zip(source, masks, clip.clean, truth, strict=True)
                        ]
                    )
                else:
                    LOCAL.mkdir(parents=True, exist_ok=True)
                    i = len(out) // 4
                    pair = np.concatenate([source[i], out[i]], axis=0)
                    cv2.imwrite(str(LOCAL / "subtitle_video_before_after.jpg"), pair[..., ::-1])
                rows.append(
                    [
                        name,
                        ours,
                        telea,
                        f"{before} -> {after}",
                        f"{100 * after / max(before, 1):.1f} %",
                        f"{other} -> {elsewhere}",
                        reply.frames / seconds,
                        decode_encode_fps(data),
                    ]
                )
            extra["editing_peak_rss_mb"] = peak_rss_mb(editing_process.pid)
        finally:
            mesh.down()
    return rows, extra


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> Path:
    filling = filling_rows()
    served, extra = service_rows()
    notes = (
        "Table 1: masks are the overlay pixels grown by 3 px; PSNR/SSIM inside them against the "
        "clean frames; flicker in grey levels (lower is better); ms per frame on 2 cores. "
        f"Table 2: editing service peak RSS {extra['editing_peak_rss_mb']:.0f} MiB; fps is the "
        "whole EraseVideo call (decode, detection on 1 frame in 6, fill, encode), client side."
    )
    return report.write(
        "erase",
        "Video filling with exact masks (synthetic 360x640 clips, 60 frames)",
        ["clip", "method", "PSNR dB", "SSIM", "flicker", "ms / frame"],
        filling,
        {"notes": notes, **extra},
        tables=[
            (
                "Captions found and erased by EraseVideo (through the mesh)",
                [
                    "clip",
                    "PSNR in captions",
                    "Telea, same masks",
                    "captions detected before -> after",
                    "re-detection",
                    "other text before -> after",
                    "erase fps",
                    "decode+encode fps",
                ],
                served,
            )
        ],
    )


if __name__ == "__main__":
    print(main().read_text())
