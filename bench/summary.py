"""Video summaries (generation.SummarizeVideo's pipeline) on edited clips with exact truth,
beside the summary a user might make without it.

``python -m bench summary`` makes edited clips (bench/shot_scenes.py: cuts, dissolves, fades
through black, wipes; flashes, fast pans, a crossing object and a change of light inside
shots) and runs the capability's pipeline on them in-process, with its default request: the
analysis pass (:class:`summarize_video.Analysis` over the detectors
:func:`summarize_video.detectors` builds, the network in-process instead of on Triton), then
:func:`summary.split`, :func:`summary.candidates`, :func:`summary.shot_scores`,
:func:`summary.choose_keyframes`, :func:`summary.storyboard` and :func:`summary.skim_pieces`.
Each result is scored against the truth: true shots with a keyframe (and with exactly one),
keyframes inside transitions, the skim's length against its target, skim spans that cross a
true shot boundary or are shorter than :data:`summary.MIN_PIECE`, shot boundaries (precision
and recall as in ``bench/shots.py``) and time. The baseline in the same run: as many keyframes
at uniform times, and the first part of the video as the skim.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from statistics import median
from types import SimpleNamespace

import numpy as np

from bench import report
from bench.shot_scenes import EditedClip, edited_clip
from bench.shots import SEEDS, TOLERANCE, edited_clips, matches
from common import shots, transnetv2, video
from common.triton import MODEL_REPOSITORY
from services.generation import summarize_video, summary

SKIM_TOLERANCE = 0.10
"""Relative error of a skim's length against its target that still meets the goal."""


def capability_detectors(score) -> list[shots.Detector]:
    """:func:`summarize_video.detectors` at the default threshold, its Triton call answered by
    ``score`` (the same network, in-process)."""

    def infer(model, inputs, outputs, timeout=None):
        single, many = score(inputs["frames"])
        return {"single": single, "many": many}

    ctx = SimpleNamespace(
        stage=lambda name: contextlib.nullcontext(),
        remaining=lambda: None,
        inference=SimpleNamespace(infer=infer),
    )
    return summarize_video.detectors(ctx, 0.0)


def vipro(clip: EditedClip, score) -> dict:
    """The capability's pipeline with its default request (faces and text: no evidence)."""
    analysis = summarize_video.Analysis(capability_detectors(score))
    for i, rgb in enumerate(clip.frames):
        analysis.push(video.Frame(i, i / clip.fps, rgb, i), True)
    analysis.flush()
    measures, fps = analysis.measures, clip.fps
    min_frames = max(1, math.ceil(summarize_video.DEFAULT_MIN_SHOT_SECONDS * fps - 1e-9))
    found = summary.without_fades(
        summary.split(analysis.transitions, len(measures), min_frames), measures.brightness
    )
    most = summarize_video.DEFAULT_MAX_KEYFRAMES
    offered = summary.candidates(measures, found)
    looks = {c.index: shots.features(c.index, clip.frames[c.index]) for c in offered}
    scores = summary.shot_scores(measures, found, [summary.Evidence()] * len(found))
    chosen = summary.choose_keyframes(offered, scores, looks, most)
    tiles = [clip.frames[c.index] for c in chosen]
    summary.storyboard(tiles, [summary.timestamp(measures.seconds[c.index]) for c in chosen])
    times = [*measures.seconds, measures.end_seconds(fps)]
    target = min(summarize_video.SKIM_SHARE * (times[-1] - times[0]), summarize_video.SKIM_LONGEST)
    pieces = summary.skim_pieces(measures, found, scores, target, fps)
    return {
        "keyframes": [c.index for c in chosen],
        "pieces": pieces,
        "target": target,
        "boundaries": [shots.Transition(s.first, s.first, "cut") for s in found[1:]],
        "detected": analysis.transitions,
        "shots": found,
    }


def uniform(clip: EditedClip, count: int) -> dict:
    """``count`` keyframes one every duration / ``count`` seconds (the middle of each
    interval) and the first :data:`summarize_video.SKIM_SHARE` of the video as the skim."""
    duration = len(clip.frames) / clip.fps
    step = duration / max(1, count)
    keyframes = [int((k + 0.5) * step * clip.fps) for k in range(count)]
    target = min(summarize_video.SKIM_SHARE * duration, summarize_video.SKIM_LONGEST)
    return {"keyframes": keyframes, "pieces": [(0.0, target)], "target": target}


def true_shots(clip: EditedClip) -> list[range]:
    """The frames of each true shot: between one transition's end and the next one's start."""
    starts = [0] + [t.end for t in clip.truth]
    ends = [t.start for t in clip.truth] + [len(clip.frames)]
    return [range(a, b) for a, b in zip(starts, ends, strict=True)]


def detected(result: dict, truth: shots.Transition) -> str:
    """What the pipeline made of ``truth``: the detections near it and the shot split there."""
    if "detected" not in result:
        return ""
    near = [
        t for t in result["detected"]
        if t.start <= truth.end + TOLERANCE and truth.start - TOLERANCE <= t.end
    ]  # fmt: skip
    found = ", ".join(f"{t.kind} {t.start}-{t.end}" for t in near) or "nothing"
    split = [
        f"shot {s.first}-{s.end - 1} clean {s.clean.start}-{s.clean.stop - 1}"
        for s in result["shots"]
        if s.first <= truth.end and truth.start <= s.end
    ]
    return f" (detected: {found}; {', '.join(split)})"


def score_clip(clip: EditedClip, result: dict, seed: int) -> dict:
    """The measures of one summary of ``clip`` against its truth, and what went wrong where."""
    spans = true_shots(clip)
    keyframes = result["keyframes"]
    per_shot = [sum(f in span for f in keyframes) for span in spans]
    inside = [
        (f, t) for f in keyframes for t in clip.truth if t.start - 1 <= f <= t.end
    ]  # fmt: skip
    pieces = result["pieces"]
    length = sum(b - a for a, b in pieces)
    crossing, short = [], []
    for a, b in pieces:
        first, stop = round(a * clip.fps), round(b * clip.fps)
        if not any(s.start <= first and stop <= s.stop for s in spans):
            cut = [t for t in clip.truth if first < t.end and t.start < stop]
            crossing.append((first, stop, cut))
        if b - a < summary.MIN_PIECE - 1e-9:
            short.append((first, stop))
    out = {
        "shots": len(spans),
        "keyframes": len(keyframes),
        "covered": sum(n >= 1 for n in per_shot),
        "once": sum(n == 1 for n in per_shot),
        "inside": len(inside),
        "skim": length,
        "target": result["target"],
        "error": (length - result["target"]) / result["target"],
        "pieces": len(pieces),
        "crossing": len(crossing),
        "short": len(short),
        "problems": [],
    }
    for f, t in inside:
        out["problems"].append(
            f"seed {seed}: keyframe at frame {f} inside truth {t.kind} {t.start}-{t.end}"
            f"{detected(result, t)}"
        )
    for first, stop, cut in crossing:
        where = ", ".join(f"{t.kind} {t.start}-{t.end}{detected(result, t)}" for t in cut)
        out["problems"].append(
            f"seed {seed}: skim span frames {first}-{stop - 1} crosses truth {where}"
        )
    for first, stop in short:
        out["problems"].append(
            f"seed {seed}: skim span frames {first}-{stop - 1} is {(stop - first) / clip.fps:.2f} s"
        )
    if abs(out["error"]) > SKIM_TOLERANCE:
        out["problems"].append(
            f"seed {seed}: skim {length:.2f} s for a target of {result['target']:.2f} s "
            f"({out['error']:+.1%}) in {len(pieces)} pieces"
        )
    if "boundaries" in result:
        hit = matches(result["boundaries"], clip.truth)
        out["truth"], out["hit"] = len(clip.truth), sum(hit)
        out["found"] = len(result["boundaries"])
        for t, h in zip(clip.truth, hit, strict=True):
            if not h:
                out["problems"].append(
                    f"seed {seed}: truth {t.kind} {t.start}-{t.end} is no shot boundary"
                    f"{detected(result, t)}"
                )
        for b in result["boundaries"]:
            if not any(t.start - TOLERANCE <= b.start <= t.end + TOLERANCE for t in clip.truth):
                out["problems"].append(f"seed {seed}: shot boundary at {b.start} is no transition")
    return out


def row(name: str, scored: list[dict], timing: tuple[float, float] | None) -> list:
    """One table row from the per-clip measures of ``scored`` and ``timing`` (seconds a clip,
    frames/s)."""
    total = {k: sum(s[k] for s in scored) for k in ("shots", "covered", "once", "inside")}
    errors = [s["error"] for s in scored]
    precision = recall = "–"
    if "hit" in scored[0]:
        precision = sum(s["hit"] for s in scored) / max(1, sum(s["found"] for s in scored))
        recall = sum(s["hit"] for s in scored) / max(1, sum(s["truth"] for s in scored))
    return [
        name,
        sum(s["keyframes"] for s in scored),
        total["covered"] / total["shots"],
        total["once"] / total["shots"],
        total["inside"],
        float(np.mean(np.abs(errors))),
        max(errors, key=abs),
        sum(s["pieces"] for s in scored),
        sum(s["crossing"] for s in scored),
        sum(s["short"] for s in scored),
        precision,
        recall,
        *(timing or ("–", "–")),
    ]


COLUMNS = [
    "method",
    "keyframes",
    "shots with a keyframe",
    "shots with exactly one",
    "keyframes in transitions",
    "skim length error, mean abs.",
    "skim length error, worst",
    "skim spans",
    "spans crossing a boundary",
    "spans < 1.5 s",
    "boundary precision",
    "boundary recall",
    "s / clip",
    "frames/s",
]


def main() -> Path:
    clips = edited_clips()
    score = transnetv2.in_process(MODEL_REPOSITORY / "transnetv2" / "1")
    vipro(edited_clip(0, transitions=("cut",)), score)  # warm-up: the network's first call
    ours, theirs, seconds, clip_rows, problems = [], [], [], [], []
    for seed, clip in zip(SEEDS, clips, strict=True):
        t0 = time.perf_counter()
        result = vipro(clip, score)
        seconds.append(time.perf_counter() - t0)
        ours.append(score_clip(clip, result, seed))
        theirs.append(score_clip(clip, uniform(clip, len(result["keyframes"])), seed))
        problems += ours[-1]["problems"]
        for name, s, t in (("ViPro", ours[-1], seconds[-1]), ("uniform", theirs[-1], None)):
            per_clip = row(name, [s], t and (t, len(clip.frames) / t))
            clip_rows.append([seed, len(clip.frames), s["shots"], f"{s['target']:.2f}", *per_clip])
        print(clip_rows[-2], clip_rows[-1], sep="\n", flush=True)
    frames = sum(len(c.frames) for c in clips)
    speeds = [len(c.frames) / t for c, t in zip(clips, seconds, strict=True)]
    rows = [
        row("ViPro SummarizeVideo pipeline (defaults)", ours, (median(seconds), median(speeds))),
        row("uniform keyframes + first 15 % as skim", theirs, None),
    ]
    for r in rows:
        print(r)
    print("\n".join(problems))
    transitions = sum(len(c.truth) for c in clips)
    detector_names = " + ".join(type(d).__name__ for d in capability_detectors(score))
    notes = (
        f"{len(clips)} edited clips (bench/shot_scenes.py, seeds {SEEDS.start}-{SEEDS.stop - 1}, "
        f"160x90, 25 fps, {frames} frames, {transitions} transitions: cuts, dissolves, fades "
        f"through black, wipes; so {len(clips) + transitions} true shots, with flashes, fast "
        "pans, a crossing object and a change of light inside them). ViPro: the capability's "
        "pipeline in-process with its default request (scene threshold 27, min shot "
        f"{summarize_video.DEFAULT_MIN_SHOT_SECONDS} s, one keyframe per shot up to "
        f"{summarize_video.DEFAULT_MAX_KEYFRAMES}, skim {summarize_video.SKIM_SHARE:.0%} of the "
        f"video up to {summarize_video.SKIM_LONGEST:.0f} s): Analysis over the detectors "
        f"summarize_video.detectors builds ({detector_names}; TransNetV2 in-process, not on "
        "Triton), then split, candidates, shot_scores, choose_keyframes, storyboard and "
        "skim_pieces. Faces and text are not looked for (no segmentation "
        "service): every shot's evidence is summary.Evidence() (zeros), so shot scores rest on "
        "motion, sharpness and exposure only. Keyframe pictures are taken from the clip's "
        "frames, not decoded again, and the skim is not spliced or encoded; time is the "
        "analysis and the summary functions, after one warm-up call; the first table gives the "
        "median over clips (this VM is shared: a job starting mid-run slows single clips). "
        "Baseline: as many "
        "keyframes as ViPro chose, at the middle of equal intervals (one every duration / "
        "count seconds), and the first 15 % of the video as the skim. A true shot runs from "
        "one transition's end to the next one's start; a keyframe is in a transition when it "
        "lies within [start - 1, end] of one; a skim span crosses a boundary when its frames "
        "are not all of one true shot. Skim length error: (skim - target) / target, goal within "
        f"{SKIM_TOLERANCE:.0%}. Boundaries: the returned shots' starts, matched to truth within "
        f"{TOLERANCE} frames (bench/shots.py)."
    )
    clip_columns = ["seed", "frames", "true shots", "skim target, s", *COLUMNS]
    return report.write(
        "summary",
        "Video summaries on edited clips with known truth",
        COLUMNS,
        rows,
        {"notes": notes, "problems": problems},
        tables=[
            ("Per clip", clip_columns, clip_rows),
            (
                "What went wrong in ViPro's summaries (frames of the clip)",
                ["clip", "problem"],
                [p.split(": ", 1) for p in problems],
            ),
        ],
    )
