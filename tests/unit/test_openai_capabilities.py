"""The OpenAI model table (models.yaml shipped in the plugin) and account checks."""

from __future__ import annotations

import datetime
import logging

import msgspec
import pytest
from imagegate_openai import OpenAIAccount, OpenAIProvider
from imagegate_openai.models import ModelTable

TABLE = ModelTable.packaged()
capabilities_for = TABLE.capabilities

GPT_MODELS = [
    "gpt-image-1",
    "gpt-image-1-mini",
    "gpt-image-1.5",
    "gpt-image-2",
    "gpt-image-2.5-sunburst",
    "gpt-image-2.5-flare",
    "gpt-image-2.6-sunburst",
    "gpt-image-2.6-flare",
    "chatgpt-image-latest",
]
SDK_MODELS = [  # openai 3.57 types/image_model.py
    "gpt-image-1.5",
    "gpt-image-2",
    "gpt-image-2-2026-04-21",
    "gpt-image-2.5-sunburst",
    "gpt-image-2.5-sunburst-2026-09-08",
    "gpt-image-2.5-flare",
    "gpt-image-2.5-flare-2026-09-08",
    "gpt-image-2.6-sunburst",
    "gpt-image-2.6-flare",
    "gpt-image-1",
    "gpt-image-1-mini",
    "chatgpt-image-latest",
    "dall-e-2",
    "dall-e-3",
]


def test_the_table_knows_every_model_the_sdk_lists() -> None:
    assert all(TABLE.lookup(model) is not None for model in SDK_MODELS)


def test_dall_e_2() -> None:
    caps = capabilities_for("dall-e-2")
    assert caps.operations == {"generate", "edit", "variation"}
    assert caps.sizes.sizes == ("256x256", "512x512", "1024x1024")
    assert (caps.max_images_per_call, caps.max_input_images, caps.mask, caps.max_prompt_chars) == (
        10,
        1,
        True,
        1000,
    )
    assert caps.output_formats == {"png"} and not caps.output_compression
    assert caps.response_formats == {"url", "b64_json"} and caps.delivery == "url"
    assert "oaidalleapiprodscus.blob.core.windows.net" in caps.download_hosts
    assert caps.extra_params is None and caps.forwards_unknown_params
    assert caps.end_user_fields == {"user"}


def test_dall_e_3() -> None:
    caps = capabilities_for("dall-e-3")
    assert caps.operations == {"generate"}
    assert caps.sizes.sizes == ("1024x1024", "1792x1024", "1024x1792")
    assert caps.max_images_per_call == 1 and caps.max_n == 10  # the core fans out n > 1
    assert caps.qualities == {"standard", "hd"} and caps.styles == {"vivid", "natural"}
    assert caps.max_prompt_chars == 4000
    assert caps.response_formats == {"url", "b64_json"} and caps.delivery == "url"
    assert not caps.backgrounds and not caps.moderation and not caps.input_fidelity


@pytest.mark.parametrize("model", GPT_MODELS)
def test_gpt_image_models_share_the_gpt_surface(model: str) -> None:
    caps = capabilities_for(model)
    assert caps.operations == {"generate", "edit"}
    assert caps.output_formats >= {"png", "jpeg", "webp"} and caps.output_compression
    assert caps.response_formats == frozenset()  # so the core never sends response_format to GPT
    assert caps.delivery == "b64_json"
    assert caps.qualities >= {"low", "medium", "high", "auto"}
    assert (caps.max_images_per_call, caps.max_input_images, caps.mask) == (10, 16, True)
    assert caps.moderation and not caps.styles
    assert caps.max_prompt_chars == 32000
    assert caps.extra_params is None and caps.forwards_unknown_params
    assert caps.end_user_fields == {"user", "safety_identifier"}
    assert caps.sizes.accepts("auto") and caps.sizes.accepts("1536x1024")


@pytest.mark.parametrize(
    ("model", "fidelities"),
    [
        ("gpt-image-1", {"high", "low"}),
        ("gpt-image-1.5", {"high", "low"}),
        ("gpt-image-1-mini", {"low"}),
        ("gpt-image-2", set()),
        ("gpt-image-2.5-sunburst", set()),
    ],
)
def test_input_fidelity(model: str, fidelities: set[str]) -> None:
    assert capabilities_for(model).input_fidelity_values == fidelities


@pytest.mark.parametrize(
    "model", ["gpt-image-2.5-sunburst", "gpt-image-2.5-flare-2026-09-08", "gpt-image-2.6-flare"]
)
def test_the_2_5_family_and_later(model: str) -> None:
    caps = capabilities_for(model)
    assert caps.qualities == {"low", "medium", "high", "xhigh", "max", "auto"}
    assert caps.output_formats == {"png", "jpeg", "webp", "gif", "svg"}
    assert caps.backgrounds == {"transparent", "opaque", "auto"}
    assert caps.markup and caps.complexities == {"low", "medium", "high"}
    assert caps.sizes.accepts("3840x2160") and caps.sizes.accepts("1536x864")


@pytest.mark.parametrize("model", ["gpt-image-1.5", "gpt-image-2", "chatgpt-image-latest"])
def test_no_markup_gif_or_svg_before_2_5(model: str) -> None:
    caps = capabilities_for(model)
    assert not caps.markup and not caps.output_formats & {"gif", "svg"}
    assert not caps.qualities & {"xhigh", "max"}


@pytest.mark.parametrize(
    ("model", "date"),
    [
        ("gpt-image-1", datetime.date(2026, 10, 23)),
        ("gpt-image-1-2025-04-15", datetime.date(2026, 10, 23)),
        ("dall-e-2", datetime.date(2026, 5, 12)),
        ("dall-e-3", datetime.date(2026, 5, 12)),
    ],
)
def test_retired_models_name_their_replacement(model: str, date: datetime.date) -> None:
    retired = capabilities_for(model).retired
    assert retired is not None and retired.date == date
    assert "gpt-image-2.5-sunburst" in retired.describe()


@pytest.mark.parametrize("model", ["gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2", "gpt-image-2.5-flare"])
def test_current_models_are_not_retired(model: str) -> None:
    assert capabilities_for(model).retired is None  # `like: gpt-image-1` does not inherit the retirement


def test_gpt_image_1_sizes_are_exact() -> None:
    sizes = capabilities_for("gpt-image-1").sizes
    assert sizes.sizes == ("1024x1024", "1536x1024", "1024x1536", "auto")
    assert not sizes.accepts("1536x864")


@pytest.mark.parametrize(
    ("size", "accepted"),
    [
        ("1536x864", True),
        ("3840x2160", True),
        ("2160x3840", True),
        ("2048x2048", True),
        ("1024x1000", False),  # not a multiple of 16
        ("3856x2160", False),  # longest side over 3840
        ("3840x2176", False),  # over 3840x2160 pixels
        ("3072x1008", False),  # wider than 3:1
        ("512x512", False),  # under the pixel minimum
    ],
)
def test_gpt_image_2_sizes(size: str, accepted: bool) -> None:
    assert capabilities_for("gpt-image-2").sizes.accepts(size) is accepted


def test_transparency_is_not_declared_for_gpt_image_2() -> None:
    assert capabilities_for("gpt-image-1").backgrounds == {"transparent", "opaque", "auto"}
    assert capabilities_for("gpt-image-2").backgrounds == {"opaque", "auto"}


@pytest.mark.parametrize(
    ("snapshot", "family"),
    [
        ("gpt-image-1-2025-04-15", "gpt-image-1"),
        ("gpt-image-2-2026-04-21", "gpt-image-2"),
        ("gpt-image-1-mini-2025-10-06", "gpt-image-1-mini"),
        ("dall-e-3", "dall-e-3"),
    ],
)
def test_snapshots_resolve_to_their_family(snapshot: str, family: str) -> None:
    assert capabilities_for(snapshot) == capabilities_for(family)


def test_unknown_models_get_the_newest_family_and_a_warning_once(caplog: pytest.LogCaptureFixture) -> None:
    table = ModelTable.packaged()
    with caplog.at_level(logging.WARNING, logger="imagegate.openai"):
        assert table.capabilities("flux-schnell") == table.capabilities("gpt-image-2.6-sunburst")
        table.capabilities("flux-schnell")
    warnings = [r.getMessage() for r in caplog.records if "flux-schnell" in r.getMessage()]
    assert len(warnings) == 1 and "gpt-image-2.6-sunburst" in warnings[0]
    with pytest.raises(ValueError):
        table.capabilities(" ")


def test_a_broken_table_is_refused_with_its_key_path() -> None:
    with pytest.raises(ValueError, match=r"models\.b\.like: declarations form a cycle"):
        ModelTable("unknown_models_like: a\nmodels: {a: {like: b}, b: {like: a}}")
    with pytest.raises(ValueError, match=r"models\.a\.capabilities\.max_n"):
        ModelTable("unknown_models_like: a\nmodels: {a: {capabilities: {max_n: many}}}")
    with pytest.raises(ValueError, match="unknown_models_like"):
        ModelTable("unknown_models_like: z\nmodels: {a: {}}")


def test_provider_declares_the_table() -> None:
    assert OpenAIProvider().capabilities("dall-e-3", None) == capabilities_for("dall-e-3")


def test_account_keys() -> None:
    account = msgspec.convert(
        {"api_key": "k", "base_url": "http://host/v1", "organization": "o", "project": "p"}, OpenAIAccount
    )
    assert (account.api_key, account.base_url, account.organization, account.project) == (
        "k",
        "http://host/v1",
        "o",
        "p",
    )
    assert OpenAIAccount().base_url == "https://api.openai.com/v1"
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"api_key": "k", "deployment": "x"}, OpenAIAccount)


def test_check_account() -> None:
    provider = OpenAIProvider()
    assert provider.check_account(OpenAIAccount(api_key="sk-secret")) is None
    missing = provider.check_account(OpenAIAccount(api_key=None))
    assert missing is not None and "api_key" in missing
    bad_url = provider.check_account(OpenAIAccount(api_key="sk-secret", base_url="api.openai.com"))
    assert bad_url is not None and "sk-secret" not in bad_url
