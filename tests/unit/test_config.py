"""routes.yaml loading: typed results, and errors that name the file and key path."""

from __future__ import annotations

import pytest
from imagegate.config import RoutesError, parse_routes
from imagegate.plugins import build_plugin_manager, collect_providers
from PIL import Image


@pytest.fixture(scope="module")
def providers() -> dict:
    return collect_providers(build_plugin_manager({}))


def load(text: str, providers: dict, environ: dict | None = None):
    return parse_routes(text, "routes.yaml", providers, environ or {})


def test_full_table(providers: dict) -> None:
    table = load(
        """
server: {max_body_mb: 10, public_base_url: "https://img.example.com"}
providers:
  local: {plugin: offline, timeout: {total: 30}}
  oa: {plugin: openai, api_key: "${KEY}", base_url: "${BASE:-https://api.openai.com/v1}"}
models:
  fast:
    - {provider: local, params: {seed: 3}, capabilities: {max_n: 2}, timeout: {connect: 1, total: 5}}
  gpt-image-1:
    targets:
      - {provider: oa}
      - {provider: local, upstream_model: anything}
""",
        providers,
        {"KEY": "sk-test"},
    )
    assert table.server.max_body_mb == 10
    fast = table.models["fast"].targets[0]
    assert fast.capabilities.max_n == 2 and fast.params == {"seed": 3} and fast.timeout.total == 5
    assert table.accounts["local"].timeout.total == 30
    oa = table.accounts["oa"]
    assert (
        oa.problem is None
        and oa.config.api_key == "sk-test"
        and oa.config.base_url == "https://api.openai.com/v1"
    )
    assert [t.label for t in table.models["gpt-image-1"].targets] == ["oa/gpt-image-1", "local/anything"]


def test_missing_secret_marks_the_account_not_the_file(providers: dict) -> None:
    table = load(
        "providers: {oa: {plugin: openai, api_key: '${NOPE}'}}\nmodels: {m: [{provider: oa}]}", providers
    )
    assert table.accounts["oa"].problem and "NOPE" not in repr(table.accounts["oa"].config)


def test_numbers_and_booleans_from_the_environment(providers: dict) -> None:
    """A substituted ``${VAR}`` is text: it still fills a number or a boolean (Kubernetes passes settings so)."""
    table = load(
        """
server:
  image_store: {directory: /tmp/imagegate-test-store, ttl_seconds: "${TTL:-600}"}
  shared_state: {redis_url: "redis://127.0.0.1:6379/0", timeout_seconds: "${STATE_TIMEOUT}"}
providers:
  az: {plugin: azure, endpoint: "https://x.openai.azure.com", api_version: "2025-04-01-preview", api_key: k,
       streaming: "${AZURE_STREAMING:-true}"}
models:
  m: [{provider: az, deployment: d, model: gpt-image-1}]
""",
        providers,
        {"STATE_TIMEOUT": "0.5"},
    )
    assert table.server.image_store.ttl_seconds == 600
    assert table.server.shared_state is not None and table.server.shared_state.timeout_seconds == 0.5
    assert table.accounts["az"].config.streaming is True
    with pytest.raises(RoutesError, match=r"server\.image_store\.ttl_seconds"):
        load('server: {image_store: {ttl_seconds: "${TTL}"}}', providers, {"TTL": "an hour"})


def test_several_unset_variables_are_named_together(providers: dict) -> None:
    table = load(
        "providers: {oa: {plugin: openai, api_key: '${A}${B}'}}\nmodels: {m: [{provider: oa}]}", providers
    )
    assert table.accounts["oa"].problem is not None
    assert table.accounts["oa"].problem.startswith("environment variables A, B are not set")


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ("providers: {a: {plugin: nope}}", "providers.a.plugin", "unknown plugin"),
        (
            "providers: {a: {plugin: offline}}\nmodels: {m: [{provider: b}]}",
            "models.m.targets[0].provider",
            "unknown provider account",
        ),
        ("providers: {a: {plugin: offline, colour: red}}", "providers.a", "colour"),
        (
            "providers: {a: {plugin: offline}}\nmodels: {m: [{provider: a, wieght: 2}]}",
            "models.m.targets[0]",
            "wieght",
        ),
        (
            "providers: {a: {plugin: offline}}\nmodels: {m: [{provider: a, weight: 0}]}",
            "models.m.targets[0].weight",
            "positive",
        ),
        (
            "providers: {a: {plugin: offline}}\nmodels: {m: [{provider: a, timeout: {total: soon}}]}",
            "models.m.targets[0].timeout.total",
            "Expected",
        ),
        ("providers: {a: {plugin: offline}}\nmodels: {m: []}", "models.m.targets", "at least one"),
        (
            "providers: {a: {plugin: offline}}\nmodels: {m: [{provider: a, capabilities: {max_n: many}}]}",
            "models.m.targets[0].capabilities.max_n",
            "Expected",
        ),
        ("server: {max_body: 3}", "server", "max_body"),
        (
            "providers: {a: {plugin: offline}}\nmodels: {m: [{provider: a, params: {steps: 3}}]}",
            "models.m.targets[0].params.steps",
            "no such parameter",
        ),
        ("routes: {}", "routes", "unknown key"),
        ("models: [1, 2]", "models", "mapping"),
        ("server: {default_model: x}\nmodels: {}", "server.default_model", "not a model"),
    ],
)
def test_errors_name_the_key_path(providers: dict, text: str, path: str, words: str) -> None:
    with pytest.raises(RoutesError) as error:
        load(text, providers)
    assert error.value.path == path
    assert words in str(error.value) and str(error.value).startswith("routes.yaml: ")


def test_invalid_yaml(providers: dict) -> None:
    with pytest.raises(RoutesError, match="not valid YAML"):
        load("models: [unclosed", providers)


def test_max_input_pixels_defaults_to_40_mpx_and_never_passes_pillows_limit(providers: dict) -> None:
    routes = "providers: {local: {plugin: offline}}\nmodels: {m: [{provider: local}]}\n"
    assert load(routes, providers).server.max_input_pixels == 40_000_000
    huge = load("server: {max_input_pixels: 1000000000000}\n" + routes, providers)
    assert huge.server.max_input_pixels == Image.MAX_IMAGE_PIXELS
    with pytest.raises(RoutesError, match=r"server\.max_input_pixels"):
        load("server: {max_input_pixels: 0}\n" + routes, providers)


def test_min_attempt_seconds_must_leave_room_within_the_deadline(providers: dict) -> None:
    routes = "providers: {local: {plugin: offline}}\nmodels: {m: {targets: [{provider: local}], %s}}\n"
    assert load(routes % "retry: {}", providers).models["m"].retry.min_attempt == 1
    assert load(routes % "retry: {deadline_seconds: 0.5}", providers).models["m"].retry.min_attempt == 0.05
    with pytest.raises(RoutesError, match=r"models\.m\.retry\.min_attempt_seconds"):
        load(routes % "retry: {deadline_seconds: 2, min_attempt_seconds: 2}", providers)


def test_models_declared_per_account(providers: dict) -> None:
    table = load(
        """
providers:
  oa:
    plugin: openai
    api_key: k
    models:
      gpt-image-3: {like: gpt-image-2.5-sunburst, capabilities: {max_n: 4}}
      house: {like: gpt-image-3, capabilities: {output_formats: [png]}}
      gpt-image-2: {capabilities: {backgrounds: [transparent, opaque, auto]}}
      gpt-image-1: {capabilities: {max_n: 2}}
models:
  gpt-image-3: [{provider: oa}]
  house: [{provider: oa}]
  gpt-image-2: [{provider: oa}]
  gpt-image-1: [{provider: oa}]
  gpt-image-1.5: [{provider: oa}]
""",
        providers,
    )
    caps = {model: route.targets[0].capabilities for model, route in table.models.items()}
    assert caps["gpt-image-3"].max_n == 4 and "gif" in caps["gpt-image-3"].output_formats
    assert caps["house"].max_n == 4 and caps["house"].output_formats == {"png"} and caps["house"].markup
    assert caps["gpt-image-2"].backgrounds == {"transparent", "opaque", "auto"}
    assert not caps["gpt-image-2"].markup  # the rest stays gpt-image-2's
    assert (
        caps["gpt-image-1"].max_n == 2 and caps["gpt-image-1"].retired is not None
    )  # same model: still retired
    assert caps["gpt-image-3"].retired is None
    assert caps["gpt-image-1.5"].max_n == 10  # undeclared: the provider's table


@pytest.mark.parametrize(
    ("declarations", "path", "words"),
    [
        ("{a: {like: b}, b: {like: a}}", "providers.oa.models.b.like", "cycle"),
        ("{a: {capabilities: {max_n: many}}}", "providers.oa.models.a.capabilities.max_n", "Expected `int`"),
        ("{a: {capabilities: {sparkle: 1}}}", "providers.oa.models.a.capabilities", "sparkle"),
        ("{a: {price: {usd_per_imag: 1}}}", "providers.oa.models.a.price", "usd_per_imag"),
    ],
)
def test_broken_declarations_name_their_key(
    providers: dict, declarations: str, path: str, words: str
) -> None:
    with pytest.raises(RoutesError) as error:
        load(f"providers: {{oa: {{plugin: openai, api_key: k, models: {declarations}}}}}", providers)
    assert error.value.path.startswith(path) and words in error.value.message, error.value


def test_a_declared_like_the_provider_does_not_know_is_a_load_error(providers: dict) -> None:
    text = """
providers:
  st: {plugin: stability, api_key: k, models: {sd9: {like: sd-nothing}}}
models:
  sd9: [{provider: st}]
"""
    with pytest.raises(RoutesError) as error:
        load(text, providers)
    assert error.value.path == "providers.st.models.sd9.like" and "sd-nothing" in error.value.message


def test_unknown_params_policy(providers: dict) -> None:
    table = load(
        """
providers: {oa: {plugin: openai, api_key: k}, local: {plugin: offline}}
models:
  strict: {targets: [{provider: oa, upstream_model: gpt-image-2}], unknown_params: refuse}
  open: {targets: [{provider: local}, {provider: oa, upstream_model: gpt-image-2}], unknown_params: forward}
""",
        providers,
    )
    assert table.models["strict"].unknown_params == "refuse"
    with pytest.raises(RoutesError) as error:
        load(
            "providers: {local: {plugin: offline}}\n"
            "models: {m: {targets: [{provider: local}], unknown_params: forward}}",
            providers,
        )
    assert error.value.path == "models.m.unknown_params" and "dialect" in error.value.message


def test_a_parameter_is_fixed_or_a_default_not_both(providers: dict) -> None:
    routes = "providers: {a: {plugin: offline}}\nmodels: {m: [{provider: a, %s}]}\n"
    assert load(routes % "params: {seed: 1}", providers).models["m"].targets[0].params == {"seed": 1}
    assert load(routes % "defaults: {seed: 2}", providers).models["m"].targets[0].defaults == {"seed": 2}
    with pytest.raises(RoutesError, match=r"models\.m\.targets\[0\]\.defaults\.seed"):
        load(routes % "params: {seed: 1}, defaults: {seed: 2}", providers)
    with pytest.raises(RoutesError, match=r"defaults\.steps"):
        load(routes % "defaults: {steps: 2}", providers)
