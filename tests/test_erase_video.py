"""editing.EraseVideo: temporal filling against exact truth, audio and timing kept, bad videos,
jobs with progress and cancellation, and captions found by themselves."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest

from bench.video_scenes import CJK_FONTS, encode, make_clip, walk
from common.video import VideoReader
from services.editing import erase, inpaint, video_fill
from tests.helpers import BAD_VIDEO_IDS, BAD_VIDEOS, Job, decoded, picture, png, psnr
from vipro.v1 import (
    common_pb2,
    editing_pb2,
    editing_pb2_grpc,
    jobs_pb2,
    segmentation_pb2,
)

Target = editing_pb2.EraseTarget


@pytest.fixture(scope="module")
def editing(channel) -> editing_pb2_grpc.EditingServiceStub:
    return editing_pb2_grpc.EditingServiceStub(channel)


def frames_of(data: bytes) -> list:
    with VideoReader(data) as reader:
        return list(reader.frames())


def request(data: bytes, **region) -> editing_pb2.EraseVideoRequest:
    extra = {k: region.pop(k) for k in ("time_range", "return_mask_video") if k in region}
    return editing_pb2.EraseVideoRequest(
        video=common_pb2.Video(inline=data), region=editing_pb2.EraseRegion(**region), **extra
    )


CAPTION_BOX = common_pb2.Box(x=0, y=140, width=320, height=40)


def test_filling_from_other_frames_beats_spatial_fill_by_3_db():
    # The algorithm alone, on exact frames: a panning camera shows behind the captions.
    clip = make_clip(seed=1, pan=(2.0, 0.5), frames=45, logo=False)
    holes = [erase.grow(c, 2) for c in clip.captions]
    motion, filler = video_fill.MotionEstimator(), video_fill.TemporalFiller(lookahead=15)
    to_shot, done = np.eye(3), []
    for i, (rgb, hole) in enumerate(zip(clip.frames, holes, strict=True)):
        step, _ = motion.update(rgb, hole)
        to_shot = to_shot @ np.linalg.inv(step)
        done += filler.push(video_fill.Slot(rgb, hole, to_shot.copy(), 0, i))
    done += filler.flush()
    assert [s.tag for s in done] == list(range(45))
    ours = np.mean([psnr(s.filled, clip.clean[s.tag], holes[s.tag]) for s in done])
    telea = np.mean(
        [
            psnr(inpaint.fill_telea(f, h), c, h)
            for f, h, c in zip(clip.frames, holes, clip.clean, strict=True)
        ]
    )
    assert ours >= telea + 3.0, (ours, telea)
    assert all((s.filled[~holes[s.tag]] == clip.frames[s.tag][~holes[s.tag]]).all() for s in done)


def test_holes_far_apart_are_filled_in_separate_windows():
    hole = np.zeros((360, 640), bool)
    hole[300:320, 200:210] = hole[300:320, 215:225] = True  # two letters of a caption
    hole[10:40, 600:630] = True  # a logo in the far corner
    groups = video_fill.hole_groups(hole)
    windows = sorted((rows.start, cols.start, rows.stop, cols.stop) for _, (rows, cols) in groups)
    assert windows == [(8, 598, 42, 632), (298, 198, 322, 227)]
    assert sum(int(part.sum()) for part, _ in groups) == int(hole.sum())


def test_motion_is_measured_to_a_fraction_of_a_pixel():
    clip = make_clip(seed=2, pan=(-3.0, 1.0), frames=6, logo=False)
    motion = video_fill.MotionEstimator()
    none = np.zeros(clip.frames.shape[1:3], bool)
    assert motion.update(clip.clean[0], none)[1]  # the first frame starts a shot
    for rgb in clip.clean[1:]:
        step, cut = motion.update(rgb, none)
        assert not cut
        assert np.allclose(step[:2, 2], [3.0, -1.0], atol=0.1)


def test_caller_box_erased_through_the_service_with_audio_and_timing_kept(editing):
    # A station-logo-sized box; the camera pans, so what it hides shows in other frames.
    clip = make_clip(seed=3, pan=(2.0, 0.5), frames=30, logo=False)
    data = encode(clip.frames, clip.fps, audio=True)
    logo_box = common_pb2.Box(x=240, y=12, width=40, height=24)
    reply = editing.EraseVideo(request(data, boxes=[logo_box]), timeout=120)
    assert reply.frames == 30 and reply.frames_edited == 30
    out = frames_of(reply.video.inline)
    source = frames_of(data)
    assert [f.seconds for f in out] == pytest.approx([f.seconds for f in source], abs=1e-3)
    with VideoReader(reply.video.inline) as reader:
        assert reader.info.has_audio and (reader.info.width, reader.info.height) == (320, 180)
    band = np.zeros((180, 320), bool)
    band[8:40, 236:284] = True  # the box grown by the default 4 pixels
    ours = np.mean([psnr(f.rgb, c, band) for f, c in zip(out, clip.clean, strict=True)])
    telea = np.mean(
        [
            psnr(inpaint.fill_telea(f.rgb, band), c, band)
            for f, c in zip(source, clip.clean, strict=True)
        ]
    )
    assert ours >= telea + 3.0, (ours, telea)
    # Outside the box only the re-encoding (crf 20) changes pixels.
    outside = ~erase.grow(band, 4)
    plain = frames_of(encode(np.stack([f.rgb for f in source]), clip.fps, crf=20))
    kept = np.mean([psnr(f.rgb, s.rgb, outside) for f, s in zip(out, source, strict=True)])
    floor = np.mean([psnr(f.rgb, s.rgb, outside) for f, s in zip(plain, source, strict=True)])
    assert kept >= floor - 0.5, (kept, floor)


def test_time_range_mask_video_odd_size_and_variable_frame_rate(editing):
    clip = make_clip(seed=4, pan=(1.0, 0.0), frames=8, logo=False, size=(91, 161))
    times = [0.0, 0.04, 0.2, 0.24, 0.5, 0.55, 0.9, 1.3]
    data = encode(clip.frames, 10, times=times)
    reply = editing.EraseVideo(
        request(
            data,
            boxes=[common_pb2.Box(x=10, y=10, width=30, height=20)],
            time_range=common_pb2.TimeRange(start_seconds=0.2, end_seconds=0.9),
            return_mask_video=True,
        ),
        timeout=120,
    )
    out = frames_of(reply.video.inline)
    assert [round(f.seconds, 3) for f in out] == times
    assert out[0].rgb.shape == (91, 161, 3)
    assert reply.frames_edited == 4  # 0.2, 0.24, 0.5, 0.55
    masks = [f.rgb[..., 0] > 127 for f in frames_of(reply.mask_video.inline)]
    assert [bool(m[15:25, 15:35].all()) for m in masks] == [
        False,
        False,
        True,
        True,
        True,
        True,
        False,
        False,
    ]


def test_boxes_outside_the_frame_edit_nothing(editing):
    clip = make_clip(seed=5, frames=5, logo=False)
    data = encode(clip.frames, clip.fps)
    reply = editing.EraseVideo(
        request(data, boxes=[common_pb2.Box(x=-100, y=-100, width=50, height=50)]), timeout=60
    )
    assert reply.frames == 5 and reply.frames_edited == 0


@pytest.mark.parametrize(("data", "needle"), BAD_VIDEOS, ids=BAD_VIDEO_IDS)
def test_bad_videos_are_invalid_argument(editing, data, needle):
    with pytest.raises(grpc.RpcError) as err:
        editing.EraseVideo(request(data, boxes=[CAPTION_BOX]), timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in err.value.details()


def test_a_region_naming_nothing_is_invalid_argument(editing):
    data = encode(make_clip(frames=3, logo=False).frames, 15)
    with pytest.raises(grpc.RpcError) as err:
        editing.EraseVideo(request(data), timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(("option", "value"), [("codec", "mpeg1"), ("preset", "bogus")])
def test_bad_encoding_is_invalid_argument(editing, option, value):
    data = encode(make_clip(frames=3, logo=False).frames, 15)
    bad = request(data, boxes=[CAPTION_BOX])
    setattr(bad.encoding, option, value)
    with pytest.raises(grpc.RpcError) as err:
        editing.EraseVideo(bad, timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "encoding" in err.value.details() and option in err.value.details()


def test_a_job_reports_progress_and_its_result(channel):
    clip = make_clip(seed=6, frames=60, logo=False)
    job = Job(
        channel, "editing.EraseVideo", request(encode(clip.frames, clip.fps), boxes=[CAPTION_BOX])
    )
    seen = job.watch()
    assert any(0 < f < 1 for f in seen) and seen[-1] == pytest.approx(1.0)
    assert job.result(editing_pb2.EraseVideoResponse()).frames == 60


def test_a_cancelled_job_stops_promptly(channel):
    clip = make_clip(seed=7, size=(360, 640), frames=400, logo=False)
    data = encode(clip.frames, clip.fps, crf=30)
    job = Job(channel, "editing.EraseVideo", request(data, boxes=[CAPTION_BOX]))
    job.wait_started()
    t0 = time.monotonic()
    assert job.cancel().state == jobs_pb2.JOB_STATE_CANCELLED
    assert time.monotonic() - t0 < 2.0


@pytest.mark.parametrize("chinese", [False, True], ids=["latin", "chinese"])
def test_captions_are_found_tracked_and_erased(vision_editing, segmentation, chinese):
    if chinese and not CJK_FONTS:
        pytest.skip("no CJK font installed (make sysdeps installs fonts-wqy-microhei)")
    clip = make_clip(
        seed=8, size=(360, 640), frames=45, pan=(2.0, 0.5), logo=False, chinese=chinese
    )
    data = encode(clip.frames, clip.fps)
    reply = vision_editing.EraseVideo(
        request(data, targets=[Target.ERASE_TARGET_SUBTITLE], return_mask_video=True),
        timeout=600,
    )
    out = frames_of(reply.video.inline)
    masks = [f.rgb[..., 0] > 127 for f in frames_of(reply.mask_video.inline)]
    source = frames_of(data)
    covered = np.mean([m[c].mean() for m, c in zip(masks, clip.captions, strict=True)])
    assert covered >= 0.97
    assert np.mean([m.mean() for m in masks]) < 0.1  # the captions, not the frame
    truth = [erase.grow(c, 2) for c in clip.captions]
    ours = np.mean([psnr(f.rgb, c, t) for f, c, t in zip(out, clip.clean, truth, strict=True)])
    telea = np.mean(
        [
            psnr(inpaint.fill_telea(f.rgb, m), c, t)
            for f, m, c, t in zip(source, masks, clip.clean, truth, strict=True)
        ]
    )
    # Latin lines leave gaps the sideways pan uncovers; a dense Chinese line hides the band
    # in every frame of this clip, so there the fill is mostly spatial: no worse than Telea.
    assert ours >= telea + (0.0 if chinese else 3.0), (ours, telea)
    found = 0
    for frame in out[::5]:
        again = segmentation.DetectText(
            segmentation_pb2.DetectTextRequest(image=common_pb2.Image(inline=png(frame.rgb))),
            timeout=60,
        )
        found += sum(r.box.y > 0.6 * 360 for r in again.regions)
    assert found == 0


def test_a_graphic_logo_is_found_and_erased(vision_editing):
    clip = make_clip(seed=10, size=(360, 640), frames=60, fps=30, pan=(2.5, 0.5), emblem=True)
    data = encode(clip.frames, clip.fps)
    reply = vision_editing.EraseVideo(
        request(data, targets=[Target.ERASE_TARGET_LOGO], return_mask_video=True), timeout=600
    )
    out = frames_of(reply.video.inline)
    masks = [f.rgb[..., 0] > 127 for f in frames_of(reply.mask_video.inline)]
    assert np.mean([m[t].mean() for m, t in zip(masks, clip.logo, strict=True)]) >= 0.99
    assert np.mean([m.mean() for m in masks]) < 0.02  # the logo, not the captions or the frame
    truth = erase.grow(clip.logo[0], 2)
    ours = np.mean([psnr(f.rgb, c, truth) for f, c in zip(out, clip.clean, strict=True)])
    telea = np.mean(
        [
            psnr(inpaint.fill_telea(f.rgb, m), c, truth)
            for f, m, c in zip(frames_of(data), masks, clip.clean, strict=True)
        ]
    )
    assert ours >= telea + 3.0, (ours, telea)


def walking_person(segmentation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames, clean frames, person pixels per frame): the astronaut photograph's person,
    cut out by SegmentPerson, walking right over a panning synthetic scene."""
    photo = picture("astronaut.png")
    cut = segmentation.SegmentPerson(
        segmentation_pb2.SegmentPersonRequest(
            image=common_pb2.Image(inline=png(photo)),
            cutout=segmentation_pb2.CutoutOptions(forms=[segmentation_pb2.CUTOUT_FORM_MASK]),
        ),
        timeout=60,
    )
    alpha = decoded(cut.cutout.mask.image) > 127
    clip = make_clip(seed=14, size=(360, 640), frames=45, pan=(1.5, 0.0), logo=False)
    # Half size: 256 px tall in a 360 px frame.
    frames, people = walk(clip.clean, photo[::2, ::2], alpha[::2, ::2])
    return frames, clip.clean, people


def test_a_walking_person_is_found_and_erased(vision_editing, segmentation):
    frames, clean, people = walking_person(segmentation)
    data = encode(frames, 15)
    reply = vision_editing.EraseVideo(
        request(data, targets=[Target.ERASE_TARGET_PERSON], return_mask_video=True), timeout=600
    )
    out = frames_of(reply.video.inline)
    masks = [f.rgb[..., 0] > 127 for f in frames_of(reply.mask_video.inline)]
    assert np.mean([m[p].mean() for m, p in zip(masks, people, strict=True)]) >= 0.97
    truth = [erase.grow(p, 2) for p in people]
    ours = np.mean([psnr(f.rgb, c, t) for f, c, t in zip(out, clean, truth, strict=True)])
    telea = np.mean(
        [
            psnr(inpaint.fill_telea(f.rgb, m), c, t)
            for f, m, c, t in zip(frames_of(data), masks, clean, truth, strict=True)
        ]
    )
    assert ours >= telea + 3.0, (ours, telea)


def test_logo_text_is_found_in_the_corners_of_a_still_shot(vision_editing):
    # A still scene hides a static overlay among static edges; its letters are still text.
    clip = make_clip(seed=13, size=(720, 1280), frames=12, fps=30, pan=(0.0, 0.0))
    reply = vision_editing.EraseVideo(
        request(
            encode(clip.frames, clip.fps),
            targets=[Target.ERASE_TARGET_LOGO],
            return_mask_video=True,
        ),
        timeout=600,
    )
    masks = [f.rgb[..., 0] > 127 for f in frames_of(reply.mask_video.inline)]
    assert np.mean([m[t].mean() for m, t in zip(masks, clip.logo, strict=True)]) >= 0.95
    assert not any(m[c].any() for m, c in zip(masks, clip.captions, strict=True))
