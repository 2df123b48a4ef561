"""The clients: section and price: overrides of routes.yaml, the key check, and default prices."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from imagegate.app import create_app
from imagegate.clients.keys import key_digest, new_key, presented_key
from imagegate.clients.pricing import Price, TokenRates, call_cost
from imagegate.config import RoutesError, parse_routes
from imagegate.plugins import build_plugin_manager, collect_providers
from imagegate.provider import Usage

HEAD = """
providers:
  local: {plugin: offline}
  oa: {plugin: openai, api_key: sk-x}
  st: {plugin: stability, api_key: sk-y}
models:
  imagegate-offline: [{provider: local}]
  gpt-image-2.5-flare: [{provider: oa}]
  house: {targets: [{provider: oa, upstream_model: gpt-image-1, price: {usd_per_image: 0.04}}], aliases: [h]}
  erase: [{provider: st, upstream_model: core, edit: erase}]
"""


@pytest.fixture(scope="module")
def providers() -> dict:
    return collect_providers(build_plugin_manager({}))


def load(text: str, providers: dict, environ: dict | None = None):
    return parse_routes(HEAD + text, "routes.yaml", providers, environ or {})


def test_clients_with_globs_keys_and_limits(providers: dict) -> None:
    table = load(
        f"""
server: {{admin_key: "${{ADMIN}}"}}
clients:
  team-a:
    key_sha256: "{hashlib.sha256(b"ka").hexdigest()}"
    models: ["gpt-image-2.5-*", h]
    images_per_minute: 60
    budget_usd: {{limit: 50, period: week}}
  team-b: {{key: "${{TEAM_B_KEY}}"}}
  team-c: {{key: "${{UNSET_KEY}}"}}
""",
        providers,
        {"ADMIN": "adm", "TEAM_B_KEY": "kb"},
    )
    assert table.server.admin_key == "adm"
    clients = table.clients
    assert clients is not None and len(clients) == 3
    a = clients.authenticate("ka")
    assert a is not None and a.name == "team-a" and a.images_per_minute == 60
    assert a.budget is not None and (a.budget.limit, a.budget.period) == (50, "week")
    assert a.allowed_models == {"gpt-image-2.5-flare", "h"}  # the alias, not the model it stands for
    assert a.could_use("gpt-image-2.5-sunburst") and not a.could_use("house")
    assert clients.authenticate("kb").name == "team-b"  # type: ignore[union-attr]
    assert clients.authenticate("kc") is None and clients.authenticate(None) is None
    assert clients.clients["team-c"].problem == "environment variable UNSET_KEY is not set"


def test_no_clients_section_means_no_authentication(providers: dict) -> None:
    assert load("clients: {}\n", providers).clients is None
    assert load("", providers).server.admin_key is None


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ("clients:\n  x: {models: [a]}\n", "clients.x", "needs key_sha256"),
        ("clients:\n  x: {key: a, key_sha256: b}\n", "clients.x", "not both"),
        ("clients:\n  x: {key_sha256: abc}\n", "clients.x.key_sha256", "64 hex digits"),
        ("clients:\n  x: {key: sekrit}\n  y: {key: sekrit}\n", "clients.y", "same key as client 'x'"),
        ("clients:\n  x: {key: a, images_per_minute: 0}\n", "clients.x.images_per_minute", ">= 1"),
        (
            "clients:\n  x: {key: a, budget_usd: {limit: 5, period: year}}\n",
            "clients.x.budget_usd.period",
            "",
        ),
        ("clients:\n  x: {key: a, rpm: 5}\n", "clients.x", "rpm"),
    ],
)
def test_client_errors_name_the_key_path(providers: dict, text: str, path: str, words: str) -> None:
    with pytest.raises(RoutesError) as raised:
        load(text, providers)
    assert raised.value.path == path and words in raised.value.message
    assert "sekrit" not in str(raised.value)  # a key never appears in an error


def test_prices_from_providers_and_routes(providers: dict) -> None:
    table = load("", providers)
    assert table.models["imagegate-offline"].targets[0].prices["generate"] == Price(usd_per_image=0.0)
    flare = table.models["gpt-image-2.5-flare"].targets[0].prices["generate"]
    assert flare.usd_per_million_tokens is not None and flare.usd_per_million_tokens.output > 0
    assert table.models["house"].targets[0].prices["edit"] == Price(usd_per_image=0.04)
    erase = table.models["erase"].targets[0].prices
    assert erase["edit"] == Price(usd_per_image=0.05) and erase["generate"] == Price(usd_per_image=0.03)


def test_an_accounts_model_declarations_price_what_they_declare(providers: dict) -> None:
    text = """
providers:
  oa:
    plugin: openai
    api_key: sk-x
    models:
      house-model: {like: gpt-image-1.5, price: {usd_per_image: 0.07}}
      gpt-image-3: {like: gpt-image-1}
      gpt-image-2: {capabilities: {backgrounds: [transparent, opaque, auto]}}
models:
  house: [{provider: oa, upstream_model: house-model}]
  three: [{provider: oa, upstream_model: gpt-image-3}]
  two: [{provider: oa, upstream_model: gpt-image-2}]
"""
    table = parse_routes(text, "routes.yaml", providers, {})
    assert table.models["house"].targets[0].prices["generate"] == Price(usd_per_image=0.07)
    openai = providers["openai"]
    assert table.models["three"].targets[0].prices["edit"] == openai.price("gpt-image-1", None, "edit")
    assert table.models["two"].targets[0].prices["generate"] == openai.price("gpt-image-2", None, "generate")


def test_every_paid_openai_model_has_a_default_price(providers: dict) -> None:
    openai = providers["openai"]
    for model in ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2", "gpt-image-2-2026-04-21",
                  "gpt-image-2.5-sunburst", "gpt-image-2.5-flare-2026-09-08", "gpt-image-2.6-flare",
                  "chatgpt-image-latest", "dall-e-2", "dall-e-3"):  # fmt: skip
        price = openai.price(model, None, "generate")
        assert call_cost(price, 1, None, "high", "1024x1024") > 0, model


def test_call_cost_by_tokens_table_and_flat_rate() -> None:
    usage = Usage(
        input_tokens=110,
        output_tokens=1000,
        total_tokens=1110,
        input_tokens_details={"text_tokens": 10, "image_tokens": 100},
    )
    tokens = Price(usd_per_million_tokens=TokenRates(input_text=5, input_image=8, output=30), usd_per_image=1)
    assert call_cost(tokens, 1, usage, None, None) == pytest.approx((10 * 5 + 100 * 8 + 1000 * 30) / 1e6)
    assert call_cost(tokens, 2, None, None, None) == 2.0  # no usage reported: per image
    assert call_cost(tokens, 0, usage, None, None) == 0.0  # nothing made, nothing paid
    table = Price(usd_per_image_table={"hd": {"1024x1024": 0.08, "*": 0.12}, "*": {"*": 0.04}})
    assert call_cost(table, 2, None, "hd", "1792x1024") == pytest.approx(0.24)
    assert call_cost(table, 1, None, "standard", "1024x1024") == 0.04
    assert call_cost(None, 3, usage, None, None) == 0.0


def test_keys() -> None:
    key = new_key()
    assert key.startswith("ig-") and len(key) > 40 and new_key() != key
    assert key_digest(key) == hashlib.sha256(key.encode()).digest()
    assert presented_key([(b"authorization", b"Bearer abc")]) == "abc"
    assert presented_key([(b"api-key", b"def")]) == "def"
    assert presented_key([(b"api-key", b"def"), (b"authorization", b"bearer abc")]) == "abc"
    assert presented_key([(b"authorization", b"Basic abc")]) is None


async def test_admin_endpoints_answer_loopback_only_without_an_admin_key(tmp_path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(HEAD)
    app = create_app(routes, environ={})
    async with app.router.lifespan_context(app):
        for peer, status in ((("203.0.113.7", 5000), 403), (("127.0.0.1", 5000), 200), (("::1", 5000), 200)):
            transport = httpx.ASGITransport(app=app, client=peer)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                assert (await client.get("/metrics")).status_code == status
                assert (await client.get("/admin/usage")).status_code == status
                ready = (await client.get("/readyz")).json()
                assert ("routes" in ready) == (status == 200)
