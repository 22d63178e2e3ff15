"""What video and text output graphs cost before they run: a video's frames are one batch, a stored
video, animation or text is one output."""

from __future__ import annotations

from nodes.catalog import default_registry
from nodes.cost import CostLimits, Pixels, cost_issues, estimate_cost

REGISTRY = default_registry()


def video_graph() -> dict:
    return {
        "1": {"class_type": "LoadVideo", "inputs": {"file": "clip.mp4"}},
        "2": {"class_type": "GetVideoComponents", "inputs": {"video": ["1", 0]}},
        "3": {"class_type": "CreateVideo", "inputs": {"images": ["2", 0], "fps": ["2", 2]}},
        "4": {"class_type": "SaveVideo", "inputs": {"video": ["3", 0]}},
        "5": {"class_type": "SaveAnimatedWEBP", "inputs": {"images": ["2", 0]}},
        "6": {"class_type": "PreviewAny", "inputs": {"source": ["2", 2]}},
    }


def test_an_uploaded_videos_frames_flow_as_one_batch_and_each_file_counts_once() -> None:
    cost = estimate_cost(video_graph(), REGISTRY, image_sizes={"clip.mp4": (64, 48, 30)})
    assert cost.outputs["1"][0] == Pixels("image", 64, 48, 30, "file", "file")
    assert cost.outputs["2"][0].batch == 30 and cost.outputs["3"][0].batch == 30
    assert cost.output_images == 3  # an MP4, a WebP and a text: not 61 images


def test_a_video_longer_than_the_plans_batch_is_named_at_its_loader() -> None:
    cost = estimate_cost(video_graph(), REGISTRY, image_sizes={"clip.mp4": (64, 48, 30)})
    issues = cost_issues(cost, CostLimits(batch_size=16))
    assert [(i.node_id, i.input, i.limit, i.value) for i in issues] == [("1", "file", "batch_size", 30)]


def test_an_unknown_video_is_costed_as_the_longest_upload() -> None:
    from nodes.cost_rules import VIDEO_UNKNOWN_FRAMES

    cost = estimate_cost(video_graph(), REGISTRY, unknown_image=(512, 512))
    assert cost.outputs["1"][0].batch == VIDEO_UNKNOWN_FRAMES
