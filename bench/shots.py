"""Shot-transition detection on edited clips with exact truth, beside PySceneDetect and
TransNetV2 as its authors run it.

``python -m bench shots`` makes edited clips (bench/shot_scenes.py: cuts, dissolves, fades
through black, wipes; inside shots flashes, fast pans, a crossing object and a change of light)
and scores every detector on them: precision, recall and F1 of transitions (a detection matches
an unmatched truth transition when it lies within ``TOLERANCE`` frames of it; cuts and gradual
transitions also apart), false transitions near the hazards, and frames per second. The
network runs in-process (the same module Triton serves, ``tests/test_triton_models.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode

from bench import report
from bench.shot_scenes import EditedClip, edited_clip
from common import shots, transnetv2
from common.triton import MODEL_REPOSITORY

SEEDS = range(6)
HELD_OUT = range(24, 36)
"""Seeds not looked at while the detectors were tuned (on seeds 0-11; 12-23 were looked at
when choosing the inside-a-transition threshold)."""
TOLERANCE = 2
"""Frames a detection may lie outside a truth transition and still match it."""
SERVED = "ViPro TransNetV2 + flash filter + CutDetector + WipeDetector"
"""The detectors SummarizeVideo serves."""
TRANSITION_FRAMES = (10, 30)
"""Shortest and longest dissolve, fade and wipe, frames."""


COLUMNS = [
    "method",
    "precision",
    "recall",
    "F1",
    "cut recall",
    "gradual recall",
    "false at hazards",
    "frames/s",
]


def edited_clips(seeds: range = SEEDS) -> list[EditedClip]:
    """The benchmark's edited clips, one per seed."""
    return [edited_clip(seed, transition_frames=TRANSITION_FRAMES) for seed in seeds]


def pyscenedetect(make: Callable[[], object]) -> Callable[[EditedClip], list[shots.Transition]]:
    """A PySceneDetect detector run frame by frame (BGR, as it reads video); each scene start
    it reports becomes a cut."""

    def run(clip: EditedClip) -> list[shots.Transition]:
        detector = make()
        found = []
        for i, rgb in enumerate(clip.frames):
            found += detector.process_frame(FrameTimecode(i, clip.fps), rgb[..., ::-1].copy())
        found += detector.post_process(FrameTimecode(len(clip.frames), clip.fps))
        return [shots.Transition(t.frame_num, t.frame_num, "cut") for t in found]

    return run


def ours(make: Callable[[], list[shots.Detector]]) -> Callable[[EditedClip], list]:
    return lambda clip: shots.detect(clip.frames, make())


def matches(found: list[shots.Transition], truth: list[shots.Transition]) -> list[bool]:
    """For each truth transition, whether a detection (each used once) lies within
    :data:`TOLERANCE` frames of it."""
    left = list(found)
    hit = []
    for t in truth:
        near = [f for f in left if f.start <= t.end + TOLERANCE and t.start - TOLERANCE <= f.end]
        if near:
            left.remove(near[0])
        hit.append(bool(near))
    return hit


def measure(detect: Callable[[EditedClip], list], clips: list[EditedClip]) -> dict[str, float]:
    """Precision, recall, F1 (all and by kind), false detections near hazards, frames/s."""
    counts = {"found": 0, "true": 0, "cut": [], "gradual": [], "hazard": 0}
    seconds, frames = 0.0, 0
    for clip in clips:
        t0 = time.perf_counter()
        found = detect(clip)
        seconds += time.perf_counter() - t0
        frames += len(clip.frames)
        hit = matches(found, clip.truth)
        counts["found"] += len(found)
        counts["true"] += sum(hit)
        for t, h in zip(clip.truth, hit, strict=True):
            counts["cut" if t.kind == "cut" else "gradual"].append(h)
        truths = [(t.start - TOLERANCE, t.end + TOLERANCE) for t in clip.truth]
        for f in found:
            near = any(abs(f.start - frame) <= 3 for frame, _ in clip.hazards)
            counts["hazard"] += near and not any(a <= f.start <= b for a, b in truths)
    truth = len(counts["cut"]) + len(counts["gradual"])
    precision = counts["true"] / counts["found"] if counts["found"] else 0.0
    recall = counts["true"] / truth
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "cuts": float(np.mean(counts["cut"])),
        "gradual": float(np.mean(counts["gradual"])),
        "hazards": counts["hazard"],
        "fps": frames / seconds,
    }


def main() -> Path:
    clips = edited_clips()
    score = transnetv2.in_process(MODEL_REPOSITORY / "transnetv2" / "1")
    methods = {
        "PySceneDetect ContentDetector (threshold 27)": pyscenedetect(ContentDetector),
        "PySceneDetect AdaptiveDetector": pyscenedetect(AdaptiveDetector),
        "TransNetV2 as its authors run it": ours(
            lambda: [shots.TransNetDetector(score, flash_frames=0, gradual_threshold=1.0)]
        ),
        "ViPro CutDetector (classical)": ours(lambda: [shots.CutDetector()]),
        "ViPro TransNetV2 + flash filter": ours(lambda: [shots.TransNetDetector(score)]),
        "ViPro TransNetV2 + flash filter + CutDetector": ours(
            lambda: [shots.TransNetDetector(score), shots.CutDetector()]
        ),
        SERVED: ours(
            lambda: [shots.TransNetDetector(score), shots.CutDetector(), shots.WipeDetector()]
        ),
    }
    rows = []
    for name, detect in methods.items():
        m = measure(detect, clips)
        rows.append([name, *m.values()])
        print(rows[-1], flush=True)
    hazards = sum(len(c.hazards) for c in clips)
    notes = (
        f"{len(clips)} edited clips (bench/shot_scenes.py, seeds {SEEDS.start}-{SEEDS.stop - 1}, "
        f"160x90, 25 fps, {sum(len(c.frames) for c in clips)} frames, "
        f"{sum(len(c.truth) for c in clips)} transitions: cuts, and dissolves, fades through "
        f"black and wipes of {TRANSITION_FRAMES[0]}-{TRANSITION_FRAMES[1]} frames; {hazards} "
        "hazards inside shots: flashes, fast pans, a crossing object, a change of light). A "
        f"detection matches an unmatched truth transition within {TOLERANCE} frames; cuts "
        "and gradual: recall by kind. Hazards: detections within 3 frames of a hazard and of "
        "no transition. Frames/s: detection alone on 2 CPUs (the network in-process, "
        "PySceneDetect on decoded frames)."
    )
    speed = speed_720p(score)
    held_out = edited_clips(HELD_OUT)
    unseen = [
        [name, *measure(methods[name], held_out).values()]
        for name in ("TransNetV2 as its authors run it", SERVED)
    ]
    return report.write(
        "shots",
        "Shot transitions on edited clips with known truth",
        COLUMNS,
        rows,
        {"notes": notes},
        tables=[
            (
                f"Held out: seeds {HELD_OUT.start}-{HELD_OUT.stop - 1}, not looked at while "
                "tuning (same measures)",
                COLUMNS,
                unseen,
            ),
            (
                "Speed at 1280x720 (one edited clip of three shots, detection alone, frames/s)",
                ["method", "frames/s", "x ContentDetector"],
                speed,
            ),
        ],
    )


def speed_720p(score: shots.Scorer) -> list[list]:
    """Frames per second at 1280x720 of PySceneDetect's ContentDetector and of the detectors
    SummarizeVideo serves (the network in-process), on the same decoded frames."""
    clip = edited_clip(0, size=(720, 1280), transitions=("cut", "dissolve"), hazards=("none",))
    served = ours(
        lambda: [shots.TransNetDetector(score), shots.CutDetector(), shots.WipeDetector()]
    )
    rates = {}
    for name, detect in (
        ("PySceneDetect ContentDetector (threshold 27)", pyscenedetect(ContentDetector)),
        (SERVED, served),
    ):
        t0 = time.perf_counter()
        detect(clip)
        rates[name] = len(clip.frames) / (time.perf_counter() - t0)
    base = rates["PySceneDetect ContentDetector (threshold 27)"]
    return [[name, rate, rate / base] for name, rate in rates.items()]
