"""generation.SummarizeVideo: shots, keyframes, storyboard and skim — the plain functions on
known numbers, then the capability through the gateway on edited clips with exact truth
(TransNetV2 on a real Triton), bad input, and jobs."""

from __future__ import annotations

import io

import av
import grpc
import numpy as np
import pytest

from bench.shot_scenes import edited_clip
from bench.video_scenes import encode
from common import shots
from common.client import AssetClient, connect
from services.generation import summary
from tests.helpers import BAD_VIDEO_IDS, BAD_VIDEOS, Job, decoded
from vipro.v1 import (
    common_pb2,
    generation_pb2,
    jobs_pb2,
    production_pb2,
    production_pb2_grpc,
)

Mode = generation_pb2.SummaryMode
FPS = 25.0


def measures_of(count: int, seed: int = 0) -> summary.FrameMeasures:
    rng = np.random.default_rng(seed)
    return summary.FrameMeasures(
        seconds=list(np.arange(count) / FPS),
        sharpness=list(rng.uniform(50, 150, count)),
        exposure=list(rng.uniform(0.8, 1.0, count)),
        motion=list(rng.uniform(0, 10, count)),
        brightness=[120.0] * count,
    )


def test_shots_tile_the_video_and_keep_transitions_out_of_their_clean_part():
    found = summary.split(
        [shots.Transition(50, 50, "cut"), shots.Transition(100, 116, "gradual")], 200, 10
    )
    assert [(s.first, s.end) for s in found] == [(0, 50), (50, 108), (108, 200)]
    assert found[0].clean == range(0, 48)
    assert found[1].clean == range(52, 90)  # a gradual transition's margin: 2 + half its length
    assert found[2].clean == range(126, 200)


def test_a_fade_reported_as_a_cut_stays_out_of_the_clean_part():
    brightness = [120.0] * 100
    brightness[40:50] = [120.0 - 11 * k for k in range(10)]  # darkening to the cut at 50
    found = summary.without_fades(
        summary.split([shots.Transition(50, 50, "cut")], 100, 10), brightness
    )
    assert found[0].clean == range(0, 43)  # below 0.8 x 120 = 96 from frame 43 (87) on
    assert found[1].clean == range(52, 100)


def test_a_short_shot_between_transitions_becomes_part_of_one():
    cuts = [shots.Transition(k, k, "cut") for k in (50, 55, 150)]
    found = summary.split(cuts, 200, 10)
    assert [(s.first, s.end) for s in found] == [(0, 52), (52, 150), (150, 200)]
    assert found[0].clean.stop <= 50 and found[1].clean.start >= 55
    assert [(s.first, s.end) for s in summary.split(cuts[:1], 54, 10)] == [(0, 54)]


@pytest.mark.parametrize("target", [3.0, 8.0, 15.0, 40.0])
def test_a_skim_is_within_10_percent_of_its_target_and_pieces_stay_inside_shots(target):
    cuts = [shots.Transition(k, k, "cut") for k in (120, 300, 410, 700, 980, 1300, 1500)]
    measures = measures_of(1800)
    found = summary.split(cuts, 1800, 12)
    scores = np.linspace(0.2, 0.9, len(found))[::-1]
    pieces = summary.skim_pieces(measures, found, scores, target, FPS)
    lengths = [b - a for a, b in pieces]
    assert abs(sum(lengths) - target) <= 0.1 * target
    assert min(lengths) >= summary.MIN_PIECE - 1e-9
    assert pieces == sorted(pieces)
    for a, b in pieces:
        inside = [s for s in found if s.clean.start / FPS <= a and b <= s.clean.stop / FPS]
        assert len(inside) == 1, (a, b)
        assert a == pytest.approx(inside[0].clean.start / FPS)  # starts on the shot boundary


def test_the_skim_of_a_video_shorter_than_its_target_is_the_whole_video():
    found = summary.split([], 50, 12)
    pieces = summary.skim_pieces(measures_of(50), found, np.ones(1), 5.0, FPS)
    assert pieces == [(0.0, 2.0)]


def test_long_shots_offer_more_keyframe_candidates_after_their_first():
    found = summary.split([shots.Transition(50, 50, "cut")], 300, 12)
    offered = summary.candidates(measures_of(300), found)
    assert [(c.shot, c.extra) for c in offered] == [(0, False), (1, False), (1, True)]
    assert all(found[c.shot].clean.start <= c.index < found[c.shot].clean.stop for c in offered)


def looks(value: int, seed: int) -> shots.Features:
    rng = np.random.default_rng(seed)
    return shots.features(value, rng.integers(0, 255, (54, 96, 3), dtype=np.uint8))


def test_near_duplicate_keyframes_give_way_to_other_views():
    a, b = looks(0, 1), looks(1, 2)
    same_as_a = shots.Features(2, a.hsv, a.grey, a.thumb)
    offered = [summary.Candidate(k, k, 0.5, False) for k in range(3)]
    views = {0: a, 1: b, 2: same_as_a}
    scores = np.array([0.5, 0.4, 0.9])
    chosen = summary.choose_keyframes(offered, scores, views, 2)
    assert [c.index for c in chosen] == [1, 2]  # 2 outscores 0, its twin
    assert len(summary.choose_keyframes(offered, scores, views, 3)) == 3


def test_storyboard_grid_and_times():
    tiles = [np.full((90, 160, 3), 40 * k, np.uint8) for k in range(5)]
    sheet = summary.storyboard(tiles, [summary.timestamp(k * 61.25) for k in range(5)], 3)
    cell = 90 + summary.LABEL_HEIGHT + 4
    assert sheet.shape == (2 * cell + 4, 3 * 164 + 4, 3)
    assert summary.timestamp(61.25) == "01:01.2"
    assert summary.timestamp(3725.0) == "1:02:05.0"


# Through the gateway ------------------------------------------------------------------------


def summarize(stub, data: bytes, **fields) -> generation_pb2.SummarizeVideoResponse:
    return stub.SummarizeVideo(
        generation_pb2.SummarizeVideoRequest(video=common_pb2.Video(inline=data), **fields),
        timeout=240,
    )


@pytest.fixture(scope="module")
def cut_clip():
    clip = edited_clip(seed=3, transitions=("cut", "dissolve", "cut", "cut"), hazards=("flash",))
    return clip, encode(clip.frames, clip.fps, audio=True, crf=18)


@pytest.fixture(scope="module")
def full_summary(vision_generation, cut_clip):
    return summarize(vision_generation, cut_clip[1], mode=Mode.SUMMARY_MODE_FULL)


def test_shots_start_at_the_cuts_and_every_shot_has_a_clean_keyframe(full_summary, cut_clip):
    clip, _ = cut_clip
    reply = full_summary
    starts = [round(s.range.start_seconds * clip.fps) for s in reply.shots]
    truth = [0] + [(t.start + t.end) // 2 for t in clip.truth]
    assert len(starts) == len(truth)
    assert all(abs(a - b) <= 2 for a, b in zip(starts, truth, strict=True)), (starts, truth)
    assert reply.duration_seconds == pytest.approx(len(clip.frames) / clip.fps, abs=0.05)
    assert sorted(k.shot_index for k in reply.keyframes) == list(range(len(truth)))
    for k in reply.keyframes:
        frame = round(k.time_seconds * clip.fps)
        assert not any(t.start - 1 <= frame <= t.end for t in clip.truth), frame
        assert decoded(k.image).shape == clip.frames[0].shape
        assert 0 <= k.score <= 1
    assert all(0 <= s.score <= 1 for s in reply.shots)


def test_the_storyboard_is_a_grid_of_the_keyframes(full_summary):
    sheet = decoded(full_summary.storyboard)
    columns = round(np.sqrt(len(full_summary.keyframes) * (90 + summary.LABEL_HEIGHT) / 160))
    assert sheet.shape[1] == columns * 164 + 4


def test_the_skim_plays_its_ranges_with_audio(full_summary, cut_clip, tmp_path):
    clip, _ = cut_clip
    reply = full_summary
    ranges = [(r.start_seconds, r.end_seconds) for r in reply.skim_ranges]
    length = sum(b - a for a, b in ranges)
    target = 0.15 * len(clip.frames) / clip.fps
    assert abs(length - target) <= 0.1 * target
    assert all(b - a >= summary.MIN_PIECE for a, b in ranges)
    shot_spans = [(s.range.start_seconds, s.range.end_seconds) for s in reply.shots]
    assert all(any(s <= a and b <= e for s, e in shot_spans) for a, b in ranges)
    path = tmp_path / "skim.mp4"
    path.write_bytes(reply.skim.inline)
    with av.open(str(path)) as container:
        picture, sound = container.streams.video[0], container.streams.audio[0]
        frames = sum(1 for _ in container.decode(picture))
        assert frames == pytest.approx(length * clip.fps, abs=1)
        assert float(sound.duration * sound.time_base) == pytest.approx(length, abs=0.1)


def test_modes_time_range_and_keyframe_budget(vision_generation, cut_clip):
    clip, data = cut_clip
    second_shot = clip.truth[0].start / clip.fps, clip.truth[1].start / clip.fps
    reply = summarize(
        vision_generation,
        data,
        time_range=common_pb2.TimeRange(start_seconds=0.0, end_seconds=second_shot[1]),
        max_keyframes=1,
    )
    assert not reply.HasField("storyboard") and not reply.HasField("skim")
    assert len(reply.shots) == 2 and len(reply.keyframes) == 1
    assert reply.shots[-1].range.end_seconds <= second_shot[1] + 0.05
    more = summarize(vision_generation, data, max_keyframes=12)
    assert len(more.keyframes) >= len(more.shots)


def test_a_one_frame_video_is_one_shot(vision_generation, cut_clip):
    clip, _ = cut_clip
    reply = summarize(
        vision_generation, encode(clip.frames[:1], clip.fps), mode=Mode.SUMMARY_MODE_FULL
    )
    assert len(reply.shots) == 1 and len(reply.keyframes) == 1
    assert len(reply.skim_ranges) == 1


def test_a_variable_frame_rate_keeps_source_times(vision_generation):
    clip = edited_clip(seed=5, transitions=("cut",), hazards=("none",))
    times = list(np.cumsum(np.where(np.arange(len(clip.frames)) % 2, 0.03, 0.05)))
    reply = summarize(vision_generation, encode(clip.frames, clip.fps, times=times))
    cut = clip.truth[0].start
    assert reply.shots[1].range.start_seconds == pytest.approx(times[cut], abs=0.11)


@pytest.mark.parametrize(("data", "needle"), BAD_VIDEOS, ids=BAD_VIDEO_IDS)
def test_bad_videos_are_invalid_argument(vision_generation, data, needle):
    with pytest.raises(grpc.RpcError) as err:
        summarize(vision_generation, data)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in err.value.details()


def test_a_time_range_past_the_end_is_invalid_argument(vision_generation, cut_clip):
    with pytest.raises(grpc.RpcError) as err:
        summarize(
            vision_generation, cut_clip[1], time_range=common_pb2.TimeRange(start_seconds=600)
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "time_range" in err.value.details()


def summary_job(vision_mesh, data: bytes) -> Job:
    channel = connect(vision_mesh.gateway_address, vision_mesh.api_key)
    video = common_pb2.Video(inline=data)
    request = generation_pb2.SummarizeVideoRequest(video=video, mode=Mode.SUMMARY_MODE_FULL)
    return Job(channel, "generation.SummarizeVideo", request)


def test_a_job_reports_progress_and_can_be_cancelled(vision_generation, vision_mesh, cut_clip):
    seen = summary_job(vision_mesh, cut_clip[1]).watch()
    assert any(0 < f < 1 for f in seen) and seen[-1] == pytest.approx(1.0)
    long = edited_clip(seed=8, size=(180, 320), shot_seconds=(6.0, 8.0))
    job = summary_job(vision_mesh, encode(long.frames, long.fps, crf=30))
    job.wait_started()
    assert job.cancel().state == jobs_pb2.JOB_STATE_CANCELLED


def test_the_summary_production_makes_a_storyboard_keyframes_and_a_skim(
    vision_generation, vision_mesh, cut_clip
):
    channel = connect(vision_mesh.gateway_address, vision_mesh.api_key)
    request = production_pb2.ProduceRequest(type=production_pb2.PRODUCTION_TYPE_SUMMARY)
    request.materials.add(name="clip", role="", video=common_pb2.Video(inline=cut_clip[1]))
    request.materials.add(name="note", text="an image or text material is not summarised")
    request.params.update({"max_keyframes": 3})
    reply = production_pb2_grpc.ProductionServiceStub(channel).Produce(request, timeout=300)
    roles = sorted(m.role for m in reply.materials)
    assert roles == ["keyframe"] * 3 + ["skim", "storyboard"]
    assert [s.capability for s in reply.case.steps] == ["generation.SummarizeVideo"]
    skim = next(m for m in reply.materials if m.role == "skim")
    with av.open(io.BytesIO(AssetClient(channel).download(skim.video.asset_id))) as container:
        assert container.streams.video and container.streams.audio
    keyframe = next(m for m in reply.materials if m.role == "keyframe")
    assert float(keyframe.labels["time_seconds"]) >= 0 and "shot_index" in keyframe.labels
