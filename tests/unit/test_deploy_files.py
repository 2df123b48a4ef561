"""deploy/: the files say what docs/replicas.md promises, and their routes load with the gateway's own loader.
(.ci/run also validates the manifests with kubernetes-validate --strict and lints the Dockerfile with
hadolint; no Docker engine runs here, so images are not built.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from imagegate.config import parse_routes
from imagegate.plugins import build_plugin_manager, collect_providers

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ENVIRON = {
    "IMAGEGATE_ADMIN_KEY": "admin",
    "OPENAI_API_KEY": "sk-test",
    "S3_ACCESS_KEY_ID": "id",
    "S3_SECRET_ACCESS_KEY": "secret",
    "S3_BUCKET": "bucket",
    "S3_ENDPOINT_URL": "https://s3.example.com",
}


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc]


def kind(name: str, wanted: str) -> dict[str, Any]:
    (found,) = [doc for doc in documents(name) if doc["kind"] == wanted]
    return found


@pytest.fixture(scope="module")
def providers() -> dict:
    return collect_providers(build_plugin_manager({}))


def test_compose_runs_two_gateways_on_redis_and_an_s3_server(providers: dict) -> None:
    (compose,) = documents("compose.yaml")
    services = compose["services"]
    assert services["gateway"]["deploy"]["replicas"] == 2
    assert {"redis", "s3", "prepare-store"} <= set(services)
    assert services["s3"]["command"][:2] == ["server", "-s3"]
    table = parse_routes((DEPLOY / "routes.yaml").read_text(), "deploy/routes.yaml", providers, ENVIRON)
    assert table.server.shared_state is not None and "redis:6379" in table.server.shared_state.redis_url
    assert (
        table.server.image_store.s3 is not None
        and table.server.image_store.s3.endpoint_url == "http://s3:8333"
    )


def test_compose_mounts_the_routes_directory_so_every_edit_reloads() -> None:
    # A single-file bind mount keeps the old inode when an editor saves by replacing the file.
    (compose,) = documents("compose.yaml")
    for name in ("gateway", "prepare-store"):
        service = compose["services"][name]
        routes = Path(service["command"][service["command"].index("--routes") + 1])
        mounts = dict(reversed(volume.split(":")[:2]) for volume in service["volumes"])
        assert str(routes.parent) in mounts, f"{name}: mount the folder of {routes}, not the file"
        assert (DEPLOY / mounts[str(routes.parent)] / routes.name).is_file()


def test_kubernetes_runs_three_replicas_that_share_state(providers: dict) -> None:
    deployment = kind("kubernetes/imagegate.yaml", "Deployment")
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["envFrom"] == [{"secretRef": {"name": "imagegate-secrets"}}]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    budget = kind("kubernetes/imagegate.yaml", "PodDisruptionBudget")
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    assert kind("kubernetes/redis.yaml", "StatefulSet")["spec"]["replicas"] == 1
    assert kind("kubernetes/hpa.yaml", "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 3
    routes = kind("kubernetes/imagegate.yaml", "ConfigMap")["data"]["routes.yaml"]
    table = parse_routes(routes, "configmap", providers, ENVIRON)
    assert table.server.shared_state is not None and table.server.image_store.url_mode == "presigned"


def test_dockerfile_is_multi_stage_non_root_with_an_exec_form_healthcheck() -> None:
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    assert sum(line.startswith("FROM ") for line in lines) == 2
    (user,) = [line for line in lines if line.startswith("USER ")]
    assert user.split()[1].replace(":", "").isdigit()
    start = next(index for index, line in enumerate(lines) if line.startswith("HEALTHCHECK"))
    health = " ".join(lines[start : start + 2])
    assert 'CMD ["python"' in health and "/readyz" in health
