"""The OpenAI model table and account checks."""

from __future__ import annotations

import msgspec
import pytest
from imagegate_openai import OpenAIAccount, OpenAIProvider
from imagegate_openai.dialect import capabilities_for

GPT_MODELS = ["gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2"]


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
    assert caps.extra_params == frozenset()


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
    assert caps.output_formats == {"png", "jpeg", "webp"} and caps.output_compression
    assert caps.response_formats == frozenset()  # so the core never sends response_format to GPT
    assert caps.delivery == "b64_json"
    assert caps.qualities == {"low", "medium", "high", "auto"}
    assert (caps.max_images_per_call, caps.max_input_images, caps.mask) == (10, 16, True)
    assert caps.moderation and not caps.styles
    assert caps.max_prompt_chars == 32000
    assert caps.extra_params is None
    assert caps.sizes.accepts("auto") and caps.sizes.accepts("1536x1024")


@pytest.mark.parametrize(
    ("model", "input_fidelity"),
    [("gpt-image-1", True), ("gpt-image-1.5", True), ("gpt-image-1-mini", False), ("gpt-image-2", False)],
)
def test_input_fidelity(model: str, input_fidelity: bool) -> None:
    assert capabilities_for(model).input_fidelity is input_fidelity


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


def test_unknown_models_get_gpt_image_defaults() -> None:
    assert capabilities_for("flux-schnell") == capabilities_for("gpt-image-1")
    with pytest.raises(ValueError):
        capabilities_for(" ")


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
