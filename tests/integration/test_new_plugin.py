"""``imagegate new-plugin`` writes a package that passes ``pip install -e DIR && pytest DIR`` unmodified.

The package is installed into a fresh virtual environment that sees this one's packages (a ``.pth`` file adds
its site-packages), with ``--no-deps --no-build-isolation``: nothing is downloaded, and this environment is
left as it was. Its tests then run there in a subprocess, as its author would run them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from imagegate.cli import main
from imagegate.scaffold import plugin_names


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment (no pip of its own) that also sees the packages of the one running the tests."""
    root = tmp_path_factory.mktemp("plugin-venv")
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    Path(site_packages, "_imagegate_test_parent.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return python


def run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", str(cwd))}
    return subprocess.run([python, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=300)


def test_the_written_package_installs_and_its_tests_pass(environment: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "imagegate-acme-cloud"
    assert main(["new-plugin", "acme-cloud", str(target)]) == 0
    assert f"cd {target}" in capsys.readouterr().out
    files = sorted(str(path.relative_to(target)) for path in target.rglob("*") if path.is_file())
    assert files == [
        "README.md",
        "imagegate_acme_cloud/__init__.py",
        "imagegate_acme_cloud/fake_upstream.py",
        "imagegate_acme_cloud/provider.py",
        "pyproject.toml",
        "tests/test_acme_cloud.py",
    ]
    assert "{{" not in "".join((target / file).read_text() for file in files)

    installed = run(
        environment,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-build-isolation",
        "-e",
        str(target),
        cwd=tmp_path,
    )
    assert installed.returncode == 0, installed.stderr
    listed = run(environment, "-m", "imagegate.cli", "plugins", cwd=tmp_path)
    assert "acme-cloud: acme-cloud  [imagegate-acme-cloud 0.1.0]" in listed.stdout, (
        listed.stdout + listed.stderr
    )

    tested = run(environment, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(target), cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-2000:]
    assert re.search(r"\b\d+ passed", tested.stdout) and not re.search(r"\b\d+ failed", tested.stdout)

    for lint in (["check"], ["format", "--check"]):  # the package follows its own ruff settings
        linted = subprocess.run(
            [sys.executable, "-m", "ruff", *lint, "--no-cache", "."],
            cwd=target,
            capture_output=True,
            text=True,
        )
        assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.parametrize(
    ("name", "module", "dist", "prefix"),
    [
        ("acme", "imagegate_acme", "imagegate-acme", "Acme"),
        ("my_cloud-x2", "imagegate_my_cloud_x2", "imagegate-my-cloud-x2", "MyCloudX2"),
    ],
)
def test_names_derived_from_the_plugin_name(name: str, module: str, dist: str, prefix: str) -> None:
    names = plugin_names(name)
    assert (names.module, names.dist, names.Class) == (module, dist, prefix)


@pytest.mark.parametrize("name", ["Acme", "1cloud", "acme cloud", "acme--x", "", "acme/"])
def test_a_name_that_cannot_be_a_plugin_name_is_refused(name: str, tmp_path: Path, capsys) -> None:
    assert main(["new-plugin", name, str(tmp_path / "out")]) == 2
    assert "cannot name a plugin" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_directory_holding_files_is_left_alone(tmp_path: Path, capsys) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["new-plugin", "acme", str(tmp_path)]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["keep.txt"]


def test_a_name_another_installed_distribution_has_is_refused(tmp_path: Path, capsys) -> None:
    # imagegate-offline would hold a second imagegate_offline package and entry point 'offline': one of the
    # two plugins would shadow the other or fail to load.
    assert main(["new-plugin", "offline", str(tmp_path / "out")]) == 2
    assert "'offline' is taken by imagegate (its plugin name or the package imagegate_offline)" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()
    # A plugin's own distribution may write it again (imagegate-pixelworks is installed here).
    assert main(["new-plugin", "pixelworks", str(tmp_path / "again")]) == 0
