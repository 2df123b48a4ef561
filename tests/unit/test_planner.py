"""The planner: fan-out, size mapping, transcoding and delivery decisions, and its 400s."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from imagegate.capabilities import ModelCapabilities, SizeSpec
from imagegate.errors import InvalidRequest, UnsupportedValue
from imagegate.planner import Transcode, make_plan, split_batches
from imagegate.request import ImageParams, ImageRequest
from msgspec.structs import replace

GPT_LIKE = ModelCapabilities(
    operations=frozenset({"generate", "edit"}),
    sizes=SizeSpec(sizes=("1024x1024", "1536x1024", "1024x1536", "auto")),
    max_images_per_call=10,
    output_formats=frozenset({"png", "jpeg", "webp"}),
    output_compression=True,
    backgrounds=frozenset({"transparent", "opaque", "auto"}),
    qualities=frozenset({"low", "medium", "high", "auto"}),
    max_input_images=16,
    mask=True,
    delivery="b64_json",
)
ONE_PER_CALL_PNG = ModelCapabilities(
    sizes=SizeSpec(aspect_ratios=("1:1", "3:2", "2:3", "16:9", "9:16")),
    max_images_per_call=1,
    output_formats=frozenset({"png"}),
    delivery="bytes",
    extra_params=frozenset({"seed"}),
)
URL_MODEL = ModelCapabilities(
    sizes=SizeSpec(sizes=("1024x1024",)),
    response_formats=frozenset({"url", "b64_json"}),
    delivery="url",
    styles=frozenset({"vivid", "natural"}),
)


def request(operation: str = "generate", extra: dict | None = None, **params: object) -> ImageRequest:
    params.setdefault("prompt", "a cat")
    return ImageRequest(
        operation=operation,
        params=ImageParams(**params),
        model="m",
        extra=extra or {},  # type: ignore[arg-type]
        images=[],
    )


def test_split_batches() -> None:
    assert split_batches(4, 1) == [1, 1, 1, 1]
    assert split_batches(7, 3) == [3, 3, 1]
    assert split_batches(2, 10) == [2]


def test_native_request_passes_through_untouched() -> None:
    plan = make_plan(
        request(n=2, size="1536x1024", output_format="webp", output_compression=50, quality="high"),
        GPT_LIKE,
        "m",
        {},
    )
    assert plan.batches == [2]
    assert (plan.size, plan.output_format, plan.output_compression, plan.quality) == (
        "1536x1024",
        "webp",
        50,
        "high",
    )
    assert plan.transcode is None and plan.deliver == "b64_json" and plan.response_format is None


def test_fan_out_and_aspect_ratio_mapping() -> None:
    plan = make_plan(request(n=4, size="1536x1024"), ONE_PER_CALL_PNG, "m", {})
    assert plan.batches == [1, 1, 1, 1]
    assert (plan.size, plan.aspect_ratio) == (None, "3:2")


def test_nearest_ratio_for_odd_sizes() -> None:
    assert make_plan(request(size="1920x1080"), ONE_PER_CALL_PNG, "m", {}).aspect_ratio == "16:9"
    assert make_plan(request(size="1000x1100"), ONE_PER_CALL_PNG, "m", {}).aspect_ratio == "1:1"


def test_transcoding_when_format_not_native() -> None:
    plan = make_plan(request(output_format="webp", output_compression=60), ONE_PER_CALL_PNG, "m", {})
    assert plan.transcode == Transcode("webp", 60)
    assert plan.output_format is None  # png is the only native format: nothing to ask for


def test_compression_without_native_support_transcodes_same_format() -> None:
    caps = ModelCapabilities(output_formats=frozenset({"png", "jpeg"}), default_format="png")
    plan = make_plan(request(output_format="jpeg", output_compression=40), caps, "m", {})
    assert plan.output_format == "jpeg" and plan.transcode == Transcode("jpeg", 40)


def test_url_hosting_for_bytes_upstream_and_native_url() -> None:
    assert make_plan(request(response_format="url"), ONE_PER_CALL_PNG, "m", {}).deliver == "url"
    native = make_plan(request(response_format="url"), URL_MODEL, "m", {})
    assert (native.deliver, native.response_format) == ("url", "url")
    default = make_plan(request(), URL_MODEL, "m", {})
    assert (default.deliver, default.response_format) == ("url", "url")  # like OpenAI's dall-e default


def test_gpt_like_model_never_gets_response_format() -> None:
    plan = make_plan(request(response_format="url"), GPT_LIKE, "m", {})
    assert plan.response_format is None and plan.deliver == "url"


def test_transcoding_asks_url_upstream_for_base64() -> None:
    plan = make_plan(request(response_format="url", output_format="webp"), URL_MODEL, "m", {})
    assert (
        plan.response_format == "b64_json"
        and plan.deliver == "url"
        and plan.transcode == Transcode("webp", None)
    )


def test_auto_values_are_dropped_when_not_native() -> None:
    plan = make_plan(
        request(quality="auto", moderation="auto", background="opaque"), ONE_PER_CALL_PNG, "m", {}
    )
    assert (plan.quality, plan.moderation, plan.background) == (None, None, None)


@pytest.mark.parametrize(
    ("caps", "kwargs", "param"),
    [
        (ONE_PER_CALL_PNG, {"background": "transparent"}, "background"),
        (GPT_LIKE, {"background": "transparent", "output_format": "jpeg"}, "background"),
        (GPT_LIKE, {"size": "640x480"}, "size"),
        (GPT_LIKE, {"style": "vivid"}, "style"),
        (GPT_LIKE, {"n": 11}, "n"),
        (GPT_LIKE, {"output_format": "png", "output_compression": 50}, "output_compression"),
        (GPT_LIKE, {"stream": True, "partial_images": 4}, "partial_images"),
        (GPT_LIKE, {"stream": True, "output_format": "gif"}, "stream"),
        (GPT_LIKE, {"stream": True, "size": "640x480"}, "size"),
        (GPT_LIKE, {"prompt": None}, "prompt"),
        (URL_MODEL, {"complexity": "high"}, "complexity"),
        (GPT_LIKE, {"output_format": "gif"}, "output_format"),
        (GPT_LIKE, {"output_format": "svg"}, "output_format"),
        (GPT_LIKE, {"frame_count": 4}, "frame_count"),
        (GPT_LIKE, {"quality": "xhigh"}, "quality"),
        (URL_MODEL, {"input_fidelity": "high"}, "input_fidelity"),
    ],
)
def test_refusals_name_the_param(caps: ModelCapabilities, kwargs: dict, param: str) -> None:
    with pytest.raises(InvalidRequest) as refusal:
        make_plan(request(**kwargs), caps, "m", {})
    assert refusal.value.param == param


def test_refusal_lists_supported_values() -> None:
    with pytest.raises(UnsupportedValue) as refusal:
        make_plan(request(size="640x480"), GPT_LIKE, "m", {})
    assert "1536x1024" in refusal.value.message


def test_operation_not_supported() -> None:
    with pytest.raises(UnsupportedValue) as refusal:
        make_plan(request("variation"), GPT_LIKE, "m", {})
    assert refusal.value.param == "model" and refusal.value.code == "operation_not_supported"


def test_extra_params_checked_and_route_params_added() -> None:
    plan = make_plan(request(extra={"seed": 1}), ONE_PER_CALL_PNG, "m", {"style_preset": "anime"})
    assert plan.params == {"seed": 1, "style_preset": "anime"}
    with pytest.raises(InvalidRequest) as refusal:
        make_plan(request(extra={"cfg_scale": 3}), ONE_PER_CALL_PNG, "m", {})
    assert refusal.value.param == "cfg_scale" and refusal.value.code == "unknown_parameter"
    passthrough = ModelCapabilities(extra_params=None)
    assert make_plan(request(extra={"anything": 1}), passthrough, "m", {}).params == {"anything": 1}


def test_the_size_reaches_providers_parsed_and_canonical() -> None:
    rule_based = ModelCapabilities(sizes=SizeSpec(multiple_of=16, max_side=2048))
    plan = make_plan(request(size="1024X768"), rule_based, "m", {})
    call = plan.calls(request(size="1024X768"), _target())[0]
    assert (call.size, call.width, call.height) == ("1024x768", 1024, 768)
    auto = make_plan(request(size="auto"), GPT_LIKE, "m", {}).calls(request(), _target())[0]
    assert (auto.size, auto.width, auto.height) == ("auto", None, None)


@pytest.mark.parametrize("size", ["\u0661\u0660\u0662\u0664x\u0661\u0660\u0662\u0664", "\u00b2x\u00b2"])
def test_a_size_in_other_digits_is_refused_for_every_kind_of_model(size: str) -> None:
    for caps in (GPT_LIKE, ONE_PER_CALL_PNG, ModelCapabilities(sizes=SizeSpec(multiple_of=16))):
        with pytest.raises(InvalidRequest) as refused:
            make_plan(request(size=size), caps, "m", {})
        assert refused.value.param == "size"


def _target() -> object:
    return SimpleNamespace(upstream_model="m", account=SimpleNamespace(config=None), options=None)


def test_streaming_plans() -> None:
    """A streaming model streams one image per call (so every event names its image); any other model serves
    the stream from whole answers (the core streams them), with its usual batches and no stream fields."""
    streaming = replace(GPT_LIKE, streaming=True)
    native = make_plan(request(n=3, stream=True, partial_images=2), streaming, "m", {})
    assert (native.batches, native.stream, native.partial_images) == ([1, 1, 1], True, 2)
    calls = native.calls(request(n=3, stream=True, partial_images=2), _target())
    assert [(call.stream, call.partial_images, call.n, call.index) for call in calls] == [
        (True, 2, 1, 0),
        (True, 2, 1, 1),
        (True, 2, 1, 2),
    ]
    synthesized = make_plan(request(n=3, stream=True, partial_images=2), GPT_LIKE, "m", {})
    assert (synthesized.batches, synthesized.stream, synthesized.partial_images) == ([3], None, None)
    unstreamed = make_plan(request(n=3, partial_images=2), streaming, "m", {})
    assert (unstreamed.batches, unstreamed.stream, unstreamed.partial_images) == ([3], None, None)


def test_variations_do_not_stream() -> None:
    with pytest.raises(UnsupportedValue) as refusal:
        make_plan(
            request("variation", stream=True),
            replace(URL_MODEL, operations=frozenset({"variation"})),
            "m",
            {},
        )
    assert refusal.value.param == "stream"


OPENAI_DIALECT = ModelCapabilities(
    sizes=SizeSpec(aspect_ratios=("1:1", "3:2")),
    max_images_per_call=1,
    output_formats=frozenset({"png"}),
    extra_params=None,
    end_user_fields=frozenset({"user", "safety_identifier"}),
)


@pytest.mark.parametrize(
    ("fields", "params", "sent"),
    [
        ({"user", "safety_identifier"}, {"user": "u", "safety_identifier": "s"}, ("u", "s")),
        ({"user"}, {"user": "u", "safety_identifier": "s"}, ("s", None)),  # the effective id, as `user`
        ({"user"}, {"user": "u", "safety_identifier": ""}, ("u", None)),  # an empty one does not count
        (set(), {"user": "u", "safety_identifier": "s"}, (None, None)),  # the access log only
    ],
)
def test_end_user_ids_go_where_the_upstream_takes_them(fields: set, params: dict, sent: tuple) -> None:
    caps = ModelCapabilities(end_user_fields=frozenset(fields))
    plan = make_plan(request(**params), caps, "m", {})
    assert (plan.user, plan.safety_identifier) == sent


def test_a_forwarded_unknown_field_pins_the_request_to_one_unchanged_call() -> None:
    assert make_plan(request(extra={"future": 1}), OPENAI_DIALECT, "m", {}).params == {"future": 1}
    for kwargs, param in (
        ({"n": 2}, "n"),
        ({"output_format": "webp"}, "output_format"),
        ({"size": "1536x1024"}, "size"),
    ):
        with pytest.raises(InvalidRequest) as refusal:
            make_plan(request(extra={"future": 1}, **kwargs), OPENAI_DIALECT, "m", {})
        assert refusal.value.param == param and "'future'" in refusal.value.message
        assert make_plan(request(**kwargs), OPENAI_DIALECT, "m", {})  # fine without the unknown field
    with pytest.raises(InvalidRequest) as refusal:
        make_plan(request(extra={"future": 1}), OPENAI_DIALECT, "m", {}, unknown_params="refuse")
    assert refusal.value.code == "unknown_parameter"


@pytest.mark.parametrize(
    ("kwargs", "why"), [({"stream": True}, "streamed"), ({"output_format": "svg"}, "svg")]
)
def test_a_pinned_request_refused_for_n_says_why_calls_make_one_image(kwargs: dict, why: str) -> None:
    """A model that makes ten images per call is asked for one per call when the answer streams (or is an
    SVG): the refusal says so, rather than that the model makes one image per call."""
    caps = replace(
        GPT_LIKE, extra_params=None, streaming=True, output_formats=GPT_LIKE.output_formats | {"svg"}
    )
    with pytest.raises(InvalidRequest) as refusal:
        make_plan(request(extra={"future": 1}, n=2, **kwargs), caps, "m", {})
    assert refusal.value.param == "n" and why in refusal.value.message
    assert "makes at most 1 image(s) per call" not in refusal.value.message


def test_hints_are_dropped_and_svg_is_one_per_call() -> None:
    plan = make_plan(request(moderation="low"), ONE_PER_CALL_PNG, "m", {})
    assert plan.moderation is None
    svg = ModelCapabilities(output_formats=frozenset({"png", "svg"}), max_images_per_call=10)
    assert make_plan(request(output_format="svg", n=3), svg, "m", {}).batches == [1, 1, 1]


def test_a_fixed_route_param_refuses_another_client_value_even_as_multipart_text() -> None:
    caps = ModelCapabilities(extra_params=frozenset({"seed", "style"}))
    with pytest.raises(InvalidRequest) as refused:
        make_plan(request(extra={"seed": 7}), caps, "m", {"seed": 3})
    assert (refused.value.param, refused.value.code) == ("seed", "fixed_by_route")
    assert make_plan(request(extra={"seed": "3"}), caps, "m", {"seed": 3}).params == {"seed": 3}
    assert make_plan(request(), caps, "m", {"seed": 3}).params == {"seed": 3}


def test_a_fixed_route_param_of_the_unified_api_is_checked_against_the_clients_field() -> None:
    with pytest.raises(InvalidRequest) as refused:
        make_plan(request(quality="low"), GPT_LIKE, "m", {"quality": "high"})
    assert refused.value.param == "quality"


def test_route_defaults_apply_only_where_the_client_sent_nothing() -> None:
    caps = ModelCapabilities(extra_params=frozenset({"seed"}))
    assert make_plan(request(), caps, "m", {}, route_defaults={"seed": 3}).params == {"seed": 3}
    assert make_plan(request(extra={"seed": 9}), caps, "m", {}, route_defaults={"seed": 3}).params == {
        "seed": 9
    }
