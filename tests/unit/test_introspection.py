"""``imagegate check -v`` shows each target's full capabilities and what the core adapts for it, and an
unknown key in routes.yaml lists the keys that are valid where it stands."""

from __future__ import annotations

from pathlib import Path

import pytest
from imagegate.cli import main
from imagegate.config import RoutesError, parse_routes
from imagegate.plugins import build_plugin_manager, collect_providers

ROUTES = """
providers:
  local: {plugin: offline}
  pixel: {plugin: pixelworks, api_key: k, base_url: "http://127.0.0.1:9"}
  oa: {plugin: openai, api_key: k}
  stab: {plugin: stability, api_key: k}
models:
  offline: [{provider: local}]
  pixel-v1: [{provider: pixel}]
  dall-e-3: [{provider: oa}]
  sd3.5-large: [{provider: stab}]
"""


@pytest.fixture(scope="module")
def providers():
    return collect_providers(build_plugin_manager({}))


def check_verbose(tmp_path: Path, capsys, routes: str = ROUTES) -> dict[str, str]:
    """The ``check -v`` block of each target, by target label."""
    path = tmp_path / "routes.yaml"
    path.write_text(routes)
    assert main(["check", "-v", str(path)]) == 0
    blocks: dict[str, str] = {}
    label = None
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("    -> "):
            label = line.split()[1]
            blocks[label] = ""
        elif label is not None and line.startswith("       "):
            blocks[label] += line.strip() + "\n"
        else:
            label = None
    return blocks


def test_check_verbose_lists_every_capability_field(tmp_path: Path, capsys) -> None:
    from imagegate import ModelCapabilities

    block = check_verbose(tmp_path, capsys)["pixel/pixel-v1"]
    for name in ModelCapabilities.__struct_fields__:
        assert f"\n{name}: " in "\n" + block, name
    assert "max_images_per_call: 1\n" in block and "delivery: bytes\n" in block


def test_check_verbose_says_what_the_core_adapts(tmp_path: Path, capsys) -> None:
    blocks = check_verbose(tmp_path, capsys)
    pixel = blocks["pixel/pixel-v1"]
    assert "fan-out: n up to 10, 1 per upstream call" in pixel
    assert "transcoding: jpeg, webp made from the upstream's png" in pixel
    assert "url delivery: response_format=url is served by the gateway, which hosts the images" in pixel
    offline = blocks["local/offline"]
    assert "fan-out: none needed" in offline and "transcoding: none needed" in offline
    dalle = blocks["oa/dall-e-3"]
    assert "url delivery: native; b64_json native too" in dalle
    assert "sizes: a WxH is sent as the nearest aspect ratio" in blocks["stab/sd3.5-large"]


def test_check_without_verbose_stays_short(tmp_path: Path, capsys) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    assert main(["check", str(path)]) == 0
    assert "capabilities:" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("routes", "path", "valid"),
    [
        ("server: {max_body: 3}", "server", "default_model, download_max_mb"),
        ("server: {retry: {attempts: 2}}", "server.retry", "backoff_seconds, deadline_seconds, max_attempts"),
        (
            "providers: {p: {plugin: pixelworks, apikey: k}}",
            "providers.p",
            "api_key, base_url, plugin, timeout",
        ),
        (
            "providers: {p: {plugin: offline}}\nmodels: {m: [{provider: p, upstream: x}]}",
            "models.m.targets[0]",
            "capabilities, params, provider, timeout, upstream_model, weight",
        ),
        (
            "providers: {p: {plugin: offline}}\nmodels: {m: {targets: [{provider: p}], stratgy: weighted}}",
            "models.m",
            "aliases, cooldown, fallback_on_content_policy, retry, strategy, targets",
        ),
        (
            "providers: {p: {plugin: offline}}\nmodels: {m: [{provider: p, capabilities: {sizes: {multiple: 8}}}]}",
            "models.m.targets[0].capabilities.sizes",
            "aspect_ratios, default, max_pixels",
        ),
    ],
)
def test_an_unknown_key_lists_the_valid_keys(providers, routes: str, path: str, valid: str) -> None:
    with pytest.raises(RoutesError) as error:
        parse_routes(routes, "routes.yaml", providers, {})
    assert error.value.path == path
    message = error.value.message
    assert message.startswith("unknown key '") and "(valid keys: " in message
    listed = message.partition("(valid keys: ")[2].rstrip(")").split(", ")
    assert set(valid.split(", ")) <= set(listed), listed


def test_fields_left_none_say_what_none_means() -> None:
    import datetime

    from imagegate import ModelCapabilities, Retirement
    from imagegate.routes_report import capability_values

    values = dict(capability_values(ModelCapabilities(extra_params=None)))
    assert (values["extra_params"], values["max_prompt_chars"], values["retired"]) == (
        "any (none refused)",
        "no limit",
        "no",
    )
    retired = ModelCapabilities(retired=Retirement(date=datetime.date(2026, 3, 4), replacement="gpt-image-2"))
    assert dict(capability_values(retired))["retired"] == "retired on 2026-03-04; use gpt-image-2 instead"


def test_check_verbose_shows_the_size_a_model_makes_when_none_is_sent(tmp_path: Path, capsys) -> None:
    # SizeSpec.default is documented as informational "for imagegate check": the verbose block shows it.
    block = check_verbose(tmp_path, capsys)["pixel/pixel-v1"]
    assert "sizes: any WxH with sides multiples of 64, sides 64-2048; 1024x1024 when none is sent\n" in block
