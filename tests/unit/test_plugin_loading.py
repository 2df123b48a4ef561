"""Plugin load failures are contained, and the plugin API version is checked at load.

Each test installs a small distribution (a ``.dist-info`` with an ``imagegate`` entry point, and its module) in
a temporary directory put on ``sys.path``, exactly what pip leaves behind, so the loader finds it through the
entry-point group like any plugin.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import pytest
from imagegate import PLUGIN_API_VERSION
from imagegate.cli import main
from imagegate.config import load_routes
from imagegate.plugins import DISABLE_VARIABLE, PluginError, build_plugin_manager, collect_providers

from tests.support.gateway import serve_gateway

WORKING_PROVIDER = """
from imagegate import ModelCapabilities, Provider, hookimpl

class Working(Provider):
    name = "{name}"

    def capabilities(self, upstream_model, options):
        return ModelCapabilities()

@hookimpl
def imagegate_register_providers(register):
    register(Working())
"""


def install(
    directory: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str, entry_point: str | None = None
) -> None:
    """A distribution ``imagegate-<name>`` 0.1 whose entry point ``<name>`` (or ``entry_point``) is the module
    ``imagegate_<name>``. It is first on ``sys.path``, so it is found before imagegate's own distribution."""
    module = f"imagegate_{name}"
    (directory / f"{module}.py").write_text(textwrap.dedent(source))
    info = directory / f"imagegate_{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: imagegate-{name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[imagegate]\n{entry_point or name} = {module}\n")
    monkeypatch.syspath_prepend(str(directory))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(DISABLE_VARIABLE, raising=False)
    directory = tmp_path / "site"
    directory.mkdir()
    return directory


def test_a_plugin_that_fails_to_import_is_skipped_and_named(site: Path, monkeypatch, caplog) -> None:
    install(site, monkeypatch, "broken", "import imagegate_missing_dependency\n")
    manager = build_plugin_manager({})
    providers = collect_providers(manager)
    assert {"offline", "openai", "azure", "stability"} <= set(providers)  # the rest load
    [failure] = manager.failures
    assert (failure.name, failure.distribution, failure.version) == ("broken", "imagegate-broken", "0.1")
    assert failure.error.startswith("ModuleNotFoundError: No module named 'imagegate_missing_dependency'")
    assert failure.error.endswith("imagegate_broken.py:1)")
    logged = caplog.text
    assert "plugin 'broken' (imagegate-broken 0.1) failed to load and is skipped" in logged
    assert f"{DISABLE_VARIABLE}=broken" in logged


def test_plugins_command_lists_the_failure_with_a_hint(site: Path, monkeypatch, capsys) -> None:
    install(site, monkeypatch, "crashing", "raise RuntimeError('boom at import')\n")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "offline: offline  [imagegate" in out
    assert "crashing: FAILED to load  [imagegate-crashing 0.1] RuntimeError: boom at import" in out
    assert f"{DISABLE_VARIABLE}=crashing" in out


def test_routes_naming_a_failed_plugin_answer_503_while_the_rest_serve(site: Path, monkeypatch) -> None:
    install(site, monkeypatch, "exploding", "raise ValueError('cannot start')\n")
    routes = f"""
server: {{image_store: {{directory: "{site / "img"}"}}}}
providers:
  local: {{plugin: offline}}
  boom: {{plugin: exploding, api_key: "${{EXPLODING_KEY}}", region: eu}}
models:
  ok: [{{provider: local}}]
  needs-boom: [{{provider: boom, some_option: 3}}]
"""
    with serve_gateway(routes, site) as url:
        served = httpx.post(
            url + "/v1/images/generations", json={"model": "ok", "prompt": "p", "size": "64x64"}
        )
        assert served.status_code == 200
        refused = httpx.post(url + "/v1/images/generations", json={"model": "needs-boom", "prompt": "p"})
        assert refused.status_code == 503
        error = refused.json()["error"]
        assert error["code"] == "provider_not_configured"
        assert "plugin 'exploding' failed to load" in error["message"]
        # What went wrong (an exception's text, a file path on the server) is for admins: /readyz, the log.
        assert "cannot start" not in error["message"] and str(site) not in error["message"]
        ready = httpx.get(url + "/readyz").json()
    assert ready["status"] == "ready"
    [failed] = ready["plugins_failed"]
    assert failed["name"] == "exploding" and failed["distribution"] == "imagegate-exploding"
    assert failed["error"].startswith("ValueError: cannot start")


def test_check_names_failed_and_blocked_plugins_a_route_needs(site: Path, monkeypatch, capsys) -> None:
    install(site, monkeypatch, "faulty", "raise ImportError('needs libfoo')\n")
    monkeypatch.setenv(DISABLE_VARIABLE, "stability")
    routes = site / "routes.yaml"
    routes.write_text(
        "providers: {f: {plugin: faulty}, s: {plugin: stability, api_key: k}, local: {plugin: offline}}\n"
        "models: {a: [{provider: f}], b: [{provider: s, upstream_model: sd3.5-large}], c: [{provider: local}]}\n"
    )
    assert main(["check", str(routes)]) == 0  # the table loads: a reload would take it
    out = capsys.readouterr().out
    assert "account f (plugin faulty): NOT USABLE: plugin 'faulty' failed to load" in out
    assert (
        f"account s (plugin stability): NOT USABLE: plugin 'stability' is blocked by {DISABLE_VARIABLE}"
        in out
    )
    assert "plugin faulty (imagegate-faulty 0.1) FAILED to load, needed by this file" in out
    assert f"plugin stability is blocked by {DISABLE_VARIABLE}, needed by this file" in out
    assert "f/a  NOT USABLE (f): capabilities unknown, its plugin is not loaded" in out


def test_a_plugin_name_nobody_installed_is_still_a_load_error(site: Path) -> None:
    routes = site / "routes.yaml"
    routes.write_text("providers: {x: {plugin: not-installed}}\nmodels: {m: [{provider: x}]}\n")
    manager = build_plugin_manager({})
    with pytest.raises(Exception, match="unknown plugin 'not-installed'"):
        load_routes(routes, collect_providers(manager), {}, manager.unavailable())


@pytest.mark.parametrize(
    ("declared", "loads"),
    [
        (f"{PLUGIN_API_VERSION}", True),
        (f"({PLUGIN_API_VERSION},)", True),
        (f"range(1, {PLUGIN_API_VERSION + 2})", True),
        (f"({PLUGIN_API_VERSION + 1}, {PLUGIN_API_VERSION + 2})", False),
        ("'1'", False),
    ],
)
def test_declared_api_versions_are_checked_at_load(
    site: Path, monkeypatch, declared: str, loads: bool
) -> None:
    name = f"versioned{abs(hash(declared)) % 10**8}"
    source = f"IMAGEGATE_PLUGIN_API = {declared}\n" + WORKING_PROVIDER.format(name=name)
    install(site, monkeypatch, name, source)
    manager = build_plugin_manager({})
    providers = collect_providers(manager)
    assert (name in providers) is loads
    if not loads:
        [failure] = manager.failures
        assert failure.name == name and failure.distribution == f"imagegate-{name}"
        if declared.startswith("("):
            assert (
                f"supports plugin API version {PLUGIN_API_VERSION + 1}, {PLUGIN_API_VERSION + 2}, but this "
                f"imagegate provides version {PLUGIN_API_VERSION}" in failure.error
            )
        else:
            assert "is not a plugin API version" in failure.error
        assert "(at " not in failure.error  # imagegate refused it: no place in imagegate's code to point at


@pytest.mark.parametrize(
    ("name", "hook", "error"),
    [
        ("raiser", "    raise KeyError('no config')", "KeyError: 'no config'"),
        ("stranger", "    register(object())", "register() takes an imagegate.Provider, not object"),
        (
            "twice",
            "    register(Working())\n    register(Working())",
            "it registers a provider named 'twice' twice",
        ),
    ],
)
def test_a_plugin_whose_registration_fails_is_skipped(
    site: Path, monkeypatch, name: str, hook: str, error: str
) -> None:
    source = WORKING_PROVIDER.format(name=name).replace("    register(Working())", hook)
    install(site, monkeypatch, name, source)
    manager = build_plugin_manager({})
    providers = collect_providers(manager)
    assert providers["offline"].__class__.__name__ == "OfflineProvider"
    [failure] = manager.failures
    assert failure.name == name and error in failure.error
    assert not manager.has_plugin(name)  # unregistered: none of its hooks run
    hook_line = len(source.rstrip("\n").splitlines())  # the plugin's line that failed, not imagegate's
    assert failure.error.endswith(f"(at {site / f'imagegate_{name}.py'}:{hook_line})")


def test_two_plugins_registering_one_provider_name_the_second_found_is_skipped(
    site: Path, monkeypatch
) -> None:
    for name in ("first", "second"):
        source = WORKING_PROVIDER.format(name="shared").replace("class Working", f"class {name.title()}")
        install(site, monkeypatch, name, source.replace("register(Working())", f"register({name.title()}())"))
    manager = build_plugin_manager({})
    providers = collect_providers(manager)
    [failure] = manager.failures
    winner = ({"first", "second"} - {failure.name}).pop()
    assert type(providers["shared"]).__name__ == winner.title()
    assert f"a provider named 'shared' is already registered by plugin '{winner}'" in failure.error


def test_a_hook_with_a_wrong_signature_is_contained(site: Path, monkeypatch) -> None:
    source = WORKING_PROVIDER.format(name="wrongsig").replace(
        "def imagegate_register_providers(register):", "def imagegate_register_providers(register, extra):"
    )
    install(site, monkeypatch, "wrongsig", source)
    manager = build_plugin_manager({})
    assert "offline" in collect_providers(manager)
    [failure] = manager.failures
    assert failure.name == "wrongsig" and "PluginValidationError" in failure.error


def test_plugins_passed_directly_still_fail_loudly() -> None:
    class Incompatible:
        IMAGEGATE_PLUGIN_API = (PLUGIN_API_VERSION + 1,)

    with pytest.raises(PluginError, match="supports plugin API version"):
        build_plugin_manager({}, [Incompatible()])


def test_a_plugin_cannot_take_a_first_party_providers_name(site: Path, monkeypatch) -> None:
    # Found before imagegate's own distribution, it still does not get 'offline': the first-party providers
    # keep their names whatever the order of the installed distributions, and the newcomer is the one skipped.
    install(site, monkeypatch, "impostor", WORKING_PROVIDER.format(name="offline"))
    manager = build_plugin_manager({})
    providers = collect_providers(manager)
    assert type(providers["offline"]).__name__ == "OfflineProvider"
    [failure] = manager.failures
    assert failure.name == "impostor" and failure.distribution == "imagegate-impostor"
    assert "a provider named 'offline' is already registered by plugin 'offline'" in failure.error


def test_an_entry_point_named_like_another_plugin_is_refused_not_dropped_silently(
    site: Path, monkeypatch, capsys
) -> None:
    install(site, monkeypatch, "lookalike", WORKING_PROVIDER.format(name="lookalike"), entry_point="offline")
    manager = build_plugin_manager({})
    providers = collect_providers(manager)
    assert type(providers["offline"]).__name__ == "OfflineProvider" and "lookalike" not in providers
    [failure] = manager.failures
    assert (failure.name, failure.distribution) == ("offline", "imagegate-lookalike")
    assert "imagegate 0.1.0 already has a plugin named 'offline'" in failure.error
    # Blocking by that name would block the first-party plugin too: the hint is to uninstall the newcomer.
    assert (
        DISABLE_VARIABLE not in failure.describe() and "uninstall imagegate-lookalike" in failure.describe()
    )
    assert main(["plugins"]) == 0
    assert DISABLE_VARIABLE not in capsys.readouterr().out
