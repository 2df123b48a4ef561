"""imagegate.testing's fixtures as a plugin author uses them: what they serve, and what they leave behind."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

ROUTES_TEXT = """
providers:
  local: {plugin: offline}
models:
  pictures: [{provider: local, upstream_model: imagegate-offline}]
"""


@pytest.mark.parametrize("form", ["YAML text", "mapping"])
def test_a_served_gateway_keeps_its_hosted_images_out_of_the_project(
    form: str, imagegate_gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"  # where a plugin author runs pytest
    project.mkdir()
    monkeypatch.chdir(project)
    routes = ROUTES_TEXT
    if form == "mapping":
        routes = {
            "providers": {"local": {"plugin": "offline"}},
            "models": {"pictures": [{"provider": "local", "upstream_model": "imagegate-offline"}]},
        }
    gateway = imagegate_gateway(routes)
    result = gateway.client().images.generate(
        model="pictures", prompt="a fox", size="64x64", response_format="url"
    )
    assert httpx.get(result.data[0].url).status_code == 200
    assert list(project.iterdir()) == []  # the images went to the test's temporary directory
