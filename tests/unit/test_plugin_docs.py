"""docs/plugins.md documents the whole plugin contract, exactly: every hook (with its parameters), every
member of Provider, every field of ModelCapabilities, SizeSpec (with its default), UpstreamCall and
ProviderResult, every public name of imagegate and imagegate.testing, the kit's fixtures, the conformance
tests and the faults with what they must give. A field added to the code without a line in the docs, or a line
naming a field that does not exist, fails here."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import imagegate
import imagegate.testing
import msgspec
import pytest
from imagegate import hookspecs
from imagegate.testing import conformance, plugin
from imagegate.testing.faults import FAULTS

REPOSITORY = Path(__file__).resolve().parents[2]
DOCS = (REPOSITORY / "docs" / "plugins.md").read_text()
CODE = re.compile(r"`([^`]+)`")


def section(heading: str) -> str:
    """The text under the heading whose title is ``heading`` (any level), up to the next heading of the same
    level or above."""
    match = re.search(rf"^(#+) {re.escape(heading)}\s*$", DOCS, re.M)
    assert match, f"docs/plugins.md has no heading '{heading}'"
    level = len(match.group(1))
    following = re.compile(rf"^#{{1,{level}}} ", re.M).search(DOCS, match.end())
    return DOCS[match.end() : following.start() if following else len(DOCS)]


def rows(text: str) -> list[list[str]]:
    """The cells of each table row (the header and the separator left out)."""
    found = []
    for line in text.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|[-| :]+\|", line):
            found.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return [row for row in found[1:]] if found else []


def first_cell_names(text: str) -> dict[str, list[str]]:
    """Each name in the first cell of a table row (``width``, ``height`` both), with its row."""
    return {re.split(r"[(\[]", code)[0]: row for row in rows(text) for code in CODE.findall(row[0])}


def documented_default(value: Any) -> str:
    """A default as the docs write it."""
    if isinstance(value, frozenset | set):
        return "{" + ", ".join(f'"{item}"' for item in sorted(value)) + "}"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, msgspec.Struct):
        return f"{type(value).__name__}()"
    return repr(value)


def test_every_hook_is_documented_with_its_parameters() -> None:
    hooks = {
        name: function
        for name, function in vars(hookspecs).items()
        if name.startswith("imagegate_") and callable(function)
    }
    assert len(hooks) >= 4
    text = section("Hooks")
    for name, function in hooks.items():
        parameters = ", ".join(inspect.signature(function).parameters)
        assert f"#### `{name}({parameters})`" in text, f"hook {name}({parameters}) is not documented"


def test_every_provider_member_is_documented_with_its_parameters() -> None:
    members = {name for name in vars(imagegate.Provider) if not name.startswith("_")}
    members |= set(imagegate.Provider.__annotations__)
    documented = first_cell_names(section("Provider"))
    assert set(documented) == members, (
        f"undocumented: {sorted(members - set(documented))}; not members: {sorted(set(documented) - members)}"
    )
    for name in members:
        attribute = vars(imagegate.Provider).get(name)
        if inspect.isfunction(attribute):
            parameters = ", ".join(list(inspect.signature(attribute).parameters)[1:])
            assert f"`{name}({parameters})`" in documented[name][0], f"Provider.{name}({parameters})"


@pytest.mark.parametrize("struct", [imagegate.ModelCapabilities, imagegate.SizeSpec])
def test_every_declaration_field_is_documented_with_its_default(struct: type[msgspec.Struct]) -> None:
    documented = first_cell_names(section(struct.__name__))
    fields = msgspec.structs.fields(struct)
    assert set(documented) == {field.name for field in fields}, (
        f"{struct.__name__}: documented {sorted(documented)}, fields {[field.name for field in fields]}"
    )
    for field in fields:
        default = field.default if field.default is not msgspec.NODEFAULT else field.default_factory()
        cell = documented[field.name][1].strip("`")
        assert cell == documented_default(default) or (cell == "{}" and default == frozenset()), (
            f"{struct.__name__}.{field.name}: the docs say the default is {cell}, the code {default!r}"
        )


@pytest.mark.parametrize("kind", [imagegate.UpstreamCall, imagegate.ProviderResult])
def test_every_call_and_result_field_is_documented(kind: type) -> None:
    documented = first_cell_names(section(kind.__name__))
    fields = {field.name for field in dataclasses.fields(kind)}
    assert set(documented) == fields, (
        f"{kind.__name__}: undocumented {sorted(fields - set(documented))}, "
        f"not fields {sorted(set(documented) - fields)}"
    )
    for name in fields:  # when each is None: said for every field that can be
        if kind.__annotations__[name].endswith("| None"):
            assert "None" in documented[name][-1], f"{kind.__name__}.{name}: when is it None?"


def test_every_public_name_is_documented() -> None:
    reference = section("Reference")
    documented = set(first_cell_names(reference)) | set(
        re.findall(r"^### `?([A-Za-z_.]+)`?\s*$", reference, re.M)
    )
    missing = sorted(set(imagegate.__all__) - documented)
    assert not missing, f"public names missing from docs/plugins.md's reference: {missing}"
    kit = first_cell_names(section("`imagegate.testing`"))
    assert sorted(set(imagegate.testing.__all__) - set(kit)) == []


def test_the_kit_fixtures_and_conformance_tests_are_documented() -> None:
    fixtures = [
        name
        for name, value in vars(plugin).items()
        if hasattr(value, "_fixture_function_marker") or (name.startswith("imagegate_") and callable(value))
    ]
    assert sorted(fixtures) == ["imagegate_gateway", "imagegate_upstream"]
    kit = section("5. Test it with the kit")
    for name in fixtures:
        assert f"`{name}(" in kit
    tests = {name for name in vars(conformance.ProviderConformance) if name.startswith("test_")}
    assert tests <= set(first_cell_names(kit)), sorted(tests - set(first_cell_names(kit)))


def test_the_faults_and_their_expectations_are_documented() -> None:
    table = first_cell_names(section("5. Test it with the kit"))
    for fault in FAULTS:
        assert fault.name in table, f"fault {fault.name} is not in the table"
        row = table[fault.name]
        expect = conformance.DEFAULT_EXPECTATIONS[fault.name]
        assert row[1].startswith(str(expect.status)), (fault.name, row)
        if expect.code:
            assert f"`{expect.code}`" in row[1], (fault.name, row)
        assert row[2] == ("yes" if expect.retried else "no") and row[3] == (
            "yes" if expect.falls_back else "no"
        )


def test_the_error_table_matches_upstream_error() -> None:
    table = {row[0]: row for row in rows(section("4. Errors, retries, fallback and cooldown"))}
    for statuses, row in table.items():
        if statuses == "any other":
            status = 418
        else:
            status = int(statuses.split(",")[0].removesuffix("xx") + ("00" if "xx" in statuses else ""))
        error = imagegate.upstream_error(status, "message")
        assert row[1] == f"`{type(error).__name__}`", row
        assert row[2].startswith(str(error.status)), row
        assert row[3] == ("yes" if error.retryable else "no") and row[4] == (
            "yes" if error.fallback else "no"
        ), row


def test_the_readme_points_plugin_authors_here() -> None:
    readme = (REPOSITORY / "README.md").read_text()
    assert "docs/plugins.md" in readme and "imagegate new-plugin" in readme
