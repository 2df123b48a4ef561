"""The route reloader: content changes and SIGHUP swap in a valid table, a broken file keeps the running one
and records why, and ``imagegate check`` gives the verdict a reload gives."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from imagegate import reload as reload_module
from imagegate.cli import main
from imagegate.config import RouteState, RouteTable, load_routes
from imagegate.plugins import build_plugin_manager, collect_providers
from imagegate.provider import Provider
from imagegate.reload import RouteReloader

VALID = "providers: {a: {plugin: offline}}\nmodels: {first: [{provider: a}]}\n"
MORE = "providers: {a: {plugin: offline}}\nmodels: {first: [{provider: a}], second: [{provider: a}]}\n"


@pytest.fixture(scope="module")
def providers() -> dict[str, Provider]:
    return collect_providers(build_plugin_manager({}))


class Setup:
    def __init__(self, path: Path, providers: dict[str, Provider]) -> None:
        self.path = path
        self.providers = providers
        path.write_text(VALID)
        self.state = RouteState(table=self.load())
        self.swapped: list[RouteTable] = []
        self.reloader = RouteReloader(path, self.state, load=self.load, on_swap=self.swapped.append)

    def load(self) -> RouteTable:
        return load_routes(self.path, self.providers, {})

    @property
    def models(self) -> list[str]:
        return list(self.state.table.models)


@pytest.fixture
def setup(tmp_path: Path, providers: dict[str, Provider]) -> Setup:
    return Setup(tmp_path / "routes.yaml", providers)


async def test_an_unchanged_file_is_not_reloaded(setup: Setup) -> None:
    assert await setup.reloader.check() is None
    setup.path.write_text(VALID)  # rewritten, same content
    assert await setup.reloader.check() is None and setup.swapped == []


async def test_a_changed_file_is_swapped_in(setup: Setup) -> None:
    old = setup.state.table
    setup.path.write_text(MORE)
    assert await setup.reloader.check() is True
    assert setup.models == ["first", "second"] and setup.swapped == [setup.state.table]
    assert old.models.keys() == {"first"}  # a request holding the old table still sees it whole


async def test_a_file_caught_half_written_is_loaded_only_once_it_settles(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer caught between truncating and finishing the file: the first read sees a cut that is still
    valid YAML (only the first model); the writer finishes right after. Only the whole file loads."""
    cut = MORE.replace(", second: [{provider: a}]", "")
    setup.path.write_text(cut + "# ")
    real_fingerprint = reload_module.file_fingerprint
    reads: list[bytes | None] = []

    def fingerprint_then_finish_writing(path: Path) -> bytes | None:
        reads.append(real_fingerprint(path))
        if len(reads) == 1:
            path.write_text(MORE)
        return reads[-1]

    monkeypatch.setattr(reload_module, "file_fingerprint", fingerprint_then_finish_writing)
    setup.reloader.settle_seconds = 0
    assert await setup.reloader.check() is True
    assert setup.models == ["first", "second"] and len(setup.swapped) == 1
    assert len(reads) == 3  # the cut, the whole file, the whole file again


async def test_a_broken_file_keeps_the_table_and_says_why_once(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    table = setup.state.table
    setup.path.write_text(VALID.replace("offline", "nonesuch"))
    assert await setup.reloader.check() is False
    assert setup.state.table is table
    assert "providers.a.plugin: unknown plugin 'nonesuch'" in (setup.state.reload_error or "")
    assert await setup.reloader.check() is None  # the same broken content is not tried (and logged) again
    assert len([r for r in caplog.records if "not reloaded" in r.getMessage()]) == 1
    setup.path.write_text(MORE)
    assert await setup.reloader.check() is True
    assert setup.state.reload_error is None and setup.models == ["first", "second"]


async def test_a_missing_file_keeps_the_table(setup: Setup) -> None:
    setup.path.unlink()
    assert await setup.reloader.check() is False
    assert "cannot read the file" in (setup.state.reload_error or "") and setup.models == ["first"]


async def test_a_plugin_failing_during_validation_keeps_the_table(setup: Setup) -> None:
    def explode() -> RouteTable:
        raise KeyError("plugin bug")

    reloader = RouteReloader(setup.path, setup.state, load=explode)
    assert await reloader.reload() is False
    assert "KeyError" in (setup.state.reload_error or "") and setup.models == ["first"]


async def test_sighup_reloads_even_an_unchanged_looking_file(setup: Setup) -> None:
    setup.path.write_text(VALID.replace("models:", "server: {reload_check_seconds: 0}\nmodels:"))
    await setup.reloader.reload()  # now checked on SIGHUP only
    assert setup.reloader.install_signal_handler()
    watcher = asyncio.create_task(setup.reloader.run())
    try:
        setup.path.write_text(MORE)
        await asyncio.sleep(0.05)
        assert setup.models == ["first"]  # no periodic checks
        os.kill(os.getpid(), signal.SIGHUP)
        async with asyncio.timeout(5):
            while setup.models != ["first", "second"]:
                await asyncio.sleep(0.005)
    finally:
        setup.reloader.remove_signal_handler()
        watcher.cancel()


async def test_the_file_is_watched(setup: Setup) -> None:
    setup.path.write_text(VALID.replace("models:", "server: {reload_check_seconds: 0.01}\nmodels:"))
    await setup.reloader.reload()
    watcher = asyncio.create_task(setup.reloader.run())
    try:
        setup.path.write_text(MORE.replace("models:", "server: {reload_check_seconds: 0.01}\nmodels:"))
        async with asyncio.timeout(5):
            while setup.models != ["first", "second"]:
                await asyncio.sleep(0.005)
    finally:
        watcher.cancel()


@pytest.mark.parametrize(
    "text",
    [
        VALID,
        "providers: {a: {plugin: offline}}\nmodels: {m: {targets: [{provider: a}], aliases: [x]}, y: {alias_of: x}}",
        "providers: {a: {plugin: offline}}\nmodels: {x: {alias_of: y}, y: {alias_of: x}}",
        "providers: {a: {plugin: offline}}\nmodels: {m: [{provider: a, weight: 0}]}",
        "providers: {a: {plugin: offline}}\nmodels: {m: [{provider: b}]}",
        "providers: {a: {plugin: offline}}\nmodels: {m: {targets: [{provider: a}], strategy: fastest}}",
        "providers: {a: {plugin: offline, region: eu}}",
        "models: [",
    ],
)
async def test_check_gives_the_verdict_of_a_reload(
    setup: Setup, text: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    setup.path.write_text(text)
    reloaded = await setup.reloader.reload()
    monkeypatch.setattr(os, "environ", {})
    status = main(["check", str(setup.path)])
    assert (status == 0) is reloaded
    if not reloaded:
        assert capsys.readouterr().err.strip() == f"error: {setup.state.reload_error}"
