"""The public surface for plugins is pinned: ``imagegate.__all__`` (and ``imagegate.testing.__all__``).

Adding a name: add it to the pin below and document it in docs/plugins.md. Removing one, or changing what
it means, breaks installed plugins: it takes a new ``PLUGIN_API_VERSION`` (imagegate/hookspecs.py), and then
this pin is rewritten for that version.
"""

from __future__ import annotations

import ast
from pathlib import Path

import imagegate
import imagegate.testing
import pytest

REPOSITORY = Path(__file__).resolve().parents[2]

PINNED_VERSION = 1
PINNED = {
    "ALL_FORMATS",
    "ALPHA_FORMATS",
    "END_USER_FIELDS",
    "GENERATED_ONLY_FORMATS",
    "OUTPUT_FORMATS",
    "AccountConfig",
    "ContentPolicyViolation",
    "DeclarationError",
    "Delivery",
    "FilePart",
    "FormValue",
    "GatewayError",
    "InputImage",
    "InvalidRequest",
    "ModelCapabilities",
    "ModelDeclaration",
    "OpenStream",
    "Operation",
    "PLUGIN_API_VERSION",
    "PartialImage",
    "PayloadTooLarge",
    "Price",
    "Provider",
    "ProviderNotConfigured",
    "ProviderResult",
    "ResultImage",
    "Retirement",
    "Send",
    "SizeSpec",
    "StreamItem",
    "TargetOptions",
    "TokenRates",
    "UnsupportedValue",
    "UpstreamAuthError",
    "UpstreamCall",
    "UpstreamError",
    "UpstreamEvent",
    "UpstreamNotFound",
    "UpstreamRateLimited",
    "UpstreamRejected",
    "UpstreamRequest",
    "UpstreamResponse",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "Usage",
    "declared_price",
    "decode_base64",
    "decode_input",
    "hookimpl",
    "int_param",
    "nearest_aspect_ratio",
    "parse_size",
    "resolve_declared",
    "retry_after_seconds",
    "round_to_multiple",
    "undeclared",
    "upstream_error",
}
PINNED_TESTING = {
    "Expect",
    "FakeClock",
    "ProviderConformance",
    "ServedGateway",
    "describe_image",
    "free_port",
    "make_image",
    "serve_gateway",
    "serve_upstream",
}


@pytest.mark.parametrize(("module", "pinned"), [(imagegate, PINNED), (imagegate.testing, PINNED_TESTING)])
def test_no_public_name_is_removed_without_a_new_api_version(module, pinned: set[str]) -> None:
    removed = pinned - set(module.__all__)
    assert not removed or imagegate.PLUGIN_API_VERSION > PINNED_VERSION, (
        f"{sorted(removed)} removed from {module.__name__}.__all__: installed plugins use them. Keep them, or "
        "make the removal a new PLUGIN_API_VERSION (imagegate/hookspecs.py) and re-pin this file for it."
    )


@pytest.mark.parametrize(("module", "pinned"), [(imagegate, PINNED), (imagegate.testing, PINNED_TESTING)])
def test_every_public_name_is_pinned_and_resolves(module, pinned: set[str]) -> None:
    added = set(module.__all__) - pinned
    assert not added, f"pin the new public names {sorted(added)} here and document them in docs/plugins.md"
    for name in module.__all__:
        assert hasattr(module, name), f"{module.__name__}.__all__ names {name}, which does not exist"
    assert len(module.__all__) == len(set(module.__all__))


def _imagegate_imports(path: Path) -> list[str]:
    """The ``imagegate.*`` modules a source file imports from."""
    modules: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
    return [m for m in modules if m.startswith("imagegate.") and not m.startswith("imagegate.testing")]


def test_shipped_plugins_use_only_the_public_surface() -> None:
    """First-party providers and the example take the path a third party takes: ``from imagegate import``."""
    sources = [*REPOSITORY.glob("plugins/*/*.py"), *REPOSITORY.glob("examples/*/*/*.py")]
    assert len(sources) > 10
    private = {
        str(path.relative_to(REPOSITORY)): found for path in sources if (found := _imagegate_imports(path))
    }
    assert not private, (
        f"plugins import imagegate's internals: {private}. Import public names from `imagegate` (if one is "
        "missing, export it in imagegate/__init__.py, pin it in this file and document it in docs/plugins.md)."
    )
