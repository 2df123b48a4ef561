"""The routing keys of routes.yaml: strategies, aliases, retry and cooldown settings, and their load errors."""

from __future__ import annotations

import pytest
from imagegate.config import CooldownSettings, RetrySettings, RoutesError, RouteTable, parse_routes
from imagegate.plugins import build_plugin_manager, collect_providers
from imagegate.provider import Provider

HEAD = "providers: {a: {plugin: offline}, b: {plugin: offline}}\n"


@pytest.fixture(scope="module")
def providers() -> dict[str, Provider]:
    return collect_providers(build_plugin_manager({}))


def load(text: str, providers: dict[str, Provider]) -> RouteTable:
    return parse_routes(HEAD + text, "routes.yaml", providers, {})


def test_defaults(providers: dict[str, Provider]) -> None:
    route = load("models: {m: [{provider: a}]}", providers).models["m"]
    assert route.strategy == "fallback" and route.aliases == [] and not route.fallback_on_content_policy
    assert route.retry == RetrySettings() and route.cooldown == CooldownSettings()
    assert route.retry.max_attempts == 3 and route.retry.deadline_seconds == 540
    assert route.cooldown == CooldownSettings(failures=3, window_seconds=60, duration_seconds=30)
    assert route.targets[0].timeout.total == 300


def test_model_settings_overlay_the_server_defaults_key_by_key(providers: dict[str, Provider]) -> None:
    table = load(
        """
server:
  retry: {max_attempts: 5, deadline_seconds: 120}
  cooldown: {duration_seconds: 10}
models:
  plain: [{provider: a}]
  tuned:
    strategy: least-busy
    targets: [{provider: a}, {provider: b}]
    retry: {deadline_seconds: 60, max_retry_after_seconds: 5}
    cooldown: {failures: 0}
    fallback_on_content_policy: true
""",
        providers,
    )
    plain, tuned = table.models["plain"], table.models["tuned"]
    assert plain.retry.max_attempts == 5 and plain.retry.deadline_seconds == 120
    assert plain.cooldown.duration_seconds == 10
    assert tuned.strategy == "least-busy" and tuned.fallback_on_content_policy
    assert tuned.retry == RetrySettings(max_attempts=5, deadline_seconds=60, max_retry_after_seconds=5)
    assert tuned.cooldown == CooldownSettings(failures=0, duration_seconds=10)


def test_aliases_share_their_models_route(providers: dict[str, Provider]) -> None:
    table = load(
        """
models:
  gpt-image-1: {targets: [{provider: a}], aliases: [image, default-image]}
  legacy: {alias_of: image}
  older: {alias_of: legacy}
""",
        providers,
    )
    route = table.models["gpt-image-1"]
    assert all(table.models[name] is route for name in ("image", "default-image", "legacy", "older"))
    assert route.aliases == ["image", "default-image", "legacy", "older"]
    assert route.targets[0].upstream_model == "gpt-image-1"  # the model's id, not the alias


def test_a_default_model_may_be_an_alias(providers: dict[str, Provider]) -> None:
    table = load(
        "server: {default_model: img}\nmodels: {m: {targets: [{provider: a}], aliases: [img]}}", providers
    )
    assert table.models["img"].model == "m"


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ("models: {x: {alias_of: y}, y: {alias_of: x}}", "models.x.alias_of", "cycle: x -> y -> x"),
        ("models: {x: {alias_of: x}}", "models.x.alias_of", "cycle: x -> x"),
        (
            "models: {m: [{provider: a}], x: {alias_of: y}, y: {alias_of: z}, z: {alias_of: y}}",
            "models.x.alias_of",
            "cycle: y -> z -> y",
        ),
        ("models: {m: [{provider: a}], x: {alias_of: nope}}", "models.x.alias_of", "'nope' is not a model"),
        (
            "models: {m: {targets: [{provider: a}], aliases: [n]}, n: [{provider: b}]}",
            "models.m.aliases[0]",
            "already",
        ),
        (
            "models: {m: {targets: [{provider: a}], aliases: [x]}, x: {alias_of: m}}",
            "models.m.aliases[0]",
            "already",
        ),
        (
            "models: {x: {alias_of: m, targets: []}, m: [{provider: a}]}",
            "models.x",
            "unknown key 'targets' (valid keys: alias_of)",
        ),
        ("models: {m: {targets: [{provider: a}], strategy: random}}", "models.m.strategy", "random"),
        (
            "models: {m: {targets: [{provider: a, weight: -1}], strategy: weighted}}",
            "models.m.targets[0].weight",
            "positive",
        ),
        (
            "models: {m: [{provider: nobody}]}",
            "models.m.targets[0].provider",
            "unknown provider account 'nobody'",
        ),
        (
            "models: {m: {targets: [{provider: a}], retry: {max_attempts: 0}}}",
            "models.m.retry.max_attempts",
            ">= 1",
        ),
        (
            "models: {m: {targets: [{provider: a}], retry: {tries: 2}}}",
            "models.m.retry",
            "unknown key 'tries' (valid keys: backoff_seconds, deadline_seconds, max_attempts",
        ),
        (
            "models: {m: {targets: [{provider: a}], cooldown: {window_seconds: 0}}}",
            "models.m.cooldown.window_seconds",
            "> 0",
        ),
        (
            "models: {m: {targets: [{provider: a}], fallback_on_policy: true}}",
            "models.m",
            "fallback_on_policy",
        ),
        ("server: {retry: {deadline_seconds: -1}}", "server.retry.deadline_seconds", "> 0"),
        ("server: {reload_check_seconds: -1}", "server.reload_check_seconds", ">= 0"),
    ],
)
def test_load_errors_name_the_key_path(
    providers: dict[str, Provider], text: str, path: str, words: str
) -> None:
    with pytest.raises(RoutesError) as failure:
        load(text, providers)
    assert failure.value.path == path
    assert words in str(failure.value)
