"""Frame interpolation (25 to 50 fps) on synthetic clips with exact in-between frames, beside
frame repeat, frame blending, FFmpeg's minterpolate and a naive DIS-flow warp.

``python -m bench interpolation`` renders the clips of bench/interpolation_scenes.py at 50 fps,
gives every method the even frames and scores its in-between frames against the odd ones:
PSNR and SSIM on Y (BT.601 luma), flicker inside the static caption box (mean absolute
difference between consecutive output frames there, grey levels; lower is steadier), and
speed at 1280x720 (interpolated frames per second, all methods in this process, OpenCV's
default threads). minterpolate runs through the FFmpeg libraries bundled in PyAV
(``av.filter.Graph``), its even output frames checked against the input. SSIM is
:func:`services.enhancement.quality.ssim` (Wang et al.'s 11x11 Gaussian window).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from bench import report
from bench.interpolation_scenes import InterpolationClip, clips, speed_clip
from services.enhancement import interpolation, quality

Method = Callable[[np.ndarray], Iterator[np.ndarray]]
"""Input frames (N x H x W x 3 ``uint8`` RGB) -> the N - 1 frames halfway between them."""

MCI = "mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"
BILATERAL = "mi_mode=mci:mc_mode=aobmc:me_mode=bilat:vsbmc=1"


def vipro(frames: np.ndarray) -> Iterator[np.ndarray]:
    """As InterpolateFrames runs it: still detail from the last frames (StillDetail)."""
    still = interpolation.StillDetail()
    still.push(frames[0])
    for a, b in itertools.pairwise(frames):
        still.push(b)
        yield interpolation.PairInterpolator(a, b, still.mask()).at(0.5)


def repeat(frames: np.ndarray) -> Iterator[np.ndarray]:
    yield from frames[:-1]


def blend(frames: np.ndarray) -> Iterator[np.ndarray]:
    for a, b in itertools.pairwise(frames):
        yield ((a.astype(np.uint16) + b + 1) // 2).astype(np.uint8)


def dis_warp(frames: np.ndarray) -> Iterator[np.ndarray]:
    """Flow a->b (DIS, medium preset, on luma), both frames warped half way along it and
    averaged; no occlusion handling."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    h, w = frames.shape[1:3]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    for a, b in itertools.pairwise(frames):
        flow = dis.calc(interpolation.grey(a), interpolation.grey(b), None) / 2
        fa = cv2.remap(
            a,
            xs - flow[..., 0],
            ys - flow[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        fb = cv2.remap(
            b,
            xs + flow[..., 0],
            ys + flow[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        yield ((fa.astype(np.uint16) + fb + 1) // 2).astype(np.uint8)


def minterpolate(options: str) -> Method:
    """FFmpeg's minterpolate filter (``options``) asked for 50 fps from 25 fps frames, through
    yuv444p; yields its odd output frames after checking that its even ones are the input."""

    def run(frames: np.ndarray) -> Iterator[np.ndarray]:
        h, w = frames.shape[1:3]
        graph = av.filter.Graph()
        chain = [
            graph.add_buffer(width=w, height=h, format="rgb24", time_base=Fraction(1, 25)),
            graph.add("format", "yuv444p"),
            graph.add("minterpolate", f"fps=50:{options}"),
            graph.add("format", "rgb24"),
            graph.add("buffersink"),
        ]
        for source, sink in itertools.pairwise(chain):
            source.link_to(sink)
        graph.configure()
        # The filter holds back its last in-between frame until it sees one more input, so
        # the last frame goes in twice.
        for i, rgb in enumerate([*frames, frames[-1], None]):
            if rgb is None:
                graph.vpush(None)
            else:
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, 25)
                graph.vpush(frame)
            while True:
                try:
                    out = graph.vpull()
                except (av.BlockingIOError, av.EOFError):
                    break
                # Output pts count 50 fps frames: even ones are inputs, odd ones in between.
                pixels = out.to_ndarray(format="rgb24")
                if out.pts % 2:
                    if out.pts // 2 < len(frames) - 1:
                        yield pixels
                else:
                    drift = np.abs(pixels.astype(int) - frames[out.pts // 2]).mean()
                    if drift > 2:
                        raise RuntimeError(
                            f"minterpolate frame {out.pts} is not input frame "
                            f"{out.pts // 2} (mean difference {drift:.1f})"
                        )

    return run


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma (float64, 0..255) of ``uint8`` RGB."""
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return quality.psnr(luma(a), luma(b))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    return quality.ssim(luma(a), luma(b))


def steadiness(woven: np.ndarray, overlay: np.ndarray) -> tuple[float, float]:
    """Over the ``overlay`` pixels (still captions and logos) of the 50 fps ``woven`` frames:
    mean absolute change between consecutive frames (grey levels; the truth has 0), and the
    share of in-between frames' overlay pixels equal to the input's."""
    still = luma(woven[:, overlay])
    kept = np.all(woven[1::2, overlay] == woven[:-1:2, overlay], axis=-1)
    return float(np.abs(np.diff(still, axis=0)).mean()), float(kept.mean())


def score(method: Method, clip: InterpolationClip) -> dict[str, float]:
    """Mean PSNR and SSIM on Y over the in-between frames; with an overlay, its
    :func:`steadiness` in the 50 fps result (input and interpolated frames interleaved)."""
    made = np.stack(list(method(clip.inputs)))
    pairs = list(zip(made, clip.truth, strict=True))
    result = {
        "psnr": float(np.mean([psnr(m, t) for m, t in pairs])),
        "ssim": float(np.mean([ssim(m, t) for m, t in pairs])),
    }
    if clip.overlay is not None:
        woven = clip.frames.copy()
        woven[1::2] = made
        result["flicker"], result["kept"] = steadiness(woven, clip.overlay)
    return result


def speeds(methods: dict[str, Method], clip: InterpolationClip, rounds: int = 2) -> dict:
    """Interpolated frames per second of each method on ``clip``'s input, the best of
    ``rounds`` rounds that take the methods in turn (so a busy spell on the machine hits all)."""
    best = dict.fromkeys(methods, 0.0)
    for _ in range(rounds):
        for name, method in methods.items():
            t0 = time.perf_counter()
            count = sum(1 for _ in method(clip.inputs))
            best[name] = max(best[name], count / (time.perf_counter() - t0))
    return best


MCI_NAME = "minterpolate mci aobmc"
METHODS: dict[str, Method] = {
    "ViPro interpolate": vipro,
    "frame repeat": repeat,
    "frame blend": blend,
    MCI_NAME: minterpolate(MCI),
    "minterpolate mci aobmc bilat": minterpolate(BILATERAL),
    "DIS warp (no occlusion)": dis_warp,
}


def main() -> Path:
    scenes = clips()
    scores = {name: {c.name: score(m, c) for c in scenes} for name, m in METHODS.items()}
    for name, s in scores.items():
        print(name, s, flush=True)
    columns = ["method"]
    for c in scenes:
        columns += [f"{c.name} PSNR", f"{c.name} SSIM"]
    columns += ["caption flicker", "caption kept"]
    rows = []
    for name, by_clip in scores.items():
        row = [name]
        for c in scenes:
            row += [by_clip[c.name]["psnr"], by_clip[c.name]["ssim"]]
        rows.append([*row, by_clip["caption"]["flicker"], by_clip["caption"]["kept"]])

    fast = speed_clip()
    timed = {n: METHODS[n] for n in ("ViPro interpolate", MCI_NAME, "DIS warp (no occlusion)")}
    rates = speeds(timed, fast)
    big = {name: score(method, fast) for name, method in timed.items()}
    speed_rows = [
        [n, rates[n], rates[n] / rates[MCI_NAME], big[n]["psnr"], big[n]["ssim"]] for n in timed
    ]

    others = [n for n in METHODS if n != "ViPro interpolate"]
    margins = {
        c.name: scores["ViPro interpolate"][c.name]["psnr"]
        - max(scores[n][c.name]["psnr"] for n in others)
        for c in scenes
    }
    h, w = scenes[0].frames.shape[1:3]
    notes = (
        f"{len(scenes)} clips of {w}x{h} rendered at 50 fps (bench/interpolation_scenes.py, "
        f"{len(scenes[0].truth)} in-between frames each); every method gets the even frames "
        "(25 fps) and is scored on the odd ones. PSNR (dB) and SSIM on Y (BT.601), mean over "
        "frames. Caption flicker: mean |change| between consecutive 50 fps frames over the "
        f"{int(scenes[2].overlay.sum())} caption and logo pixels that never change in the truth "
        "(grey levels, truth 0); caption kept: share of those pixels in the in-between frames "
        "equal to the input's. caption H.264: the caption clip's input through x264 (crf 20) "
        "and back, as real videos come, scored against the exact truth. ViPro's margin over "
        "the best other method, dB: "
        + ", ".join(f"{c} {m:+.2f}" for c, m in margins.items())
        + f". minterpolate: libavfilter {'.'.join(map(str, av.library_versions['libavfilter']))}"
        " as bundled with PyAV, through yuv444p; it holds back its last in-between frame until "
        "one more input arrives, so the last input is given twice. With me_mode=bidir its "
        "output is bit-identical for mc_mode=obmc and aobmc and for vsbmc=0 and 1."
    )
    return report.write(
        "interpolation",
        "Frame interpolation 25 to 50 fps: PSNR/SSIM on Y of the in-between frames",
        columns,
        rows,
        {
            "scores": scores,
            "speed": rates,
            "speed_quality": big,
            "margins": margins,
            "notes": notes,
        },
        tables=[
            (
                f"Speed at 1280x720, 25 to 50 fps ({len(fast.truth)} frames, about 70 px of "
                "motion between inputs; best of 2 alternating rounds, OpenCV default threads)",
                ["method", "frames/s", "x minterpolate", "PSNR", "SSIM"],
                speed_rows,
            )
        ],
    )
