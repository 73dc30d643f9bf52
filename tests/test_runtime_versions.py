"""One version for every package: pyproject.toml's is the source; the C++ runtime reads it at configure time
(runtimes/cpp/CMakeLists.txt), the Node packages repeat it, and this test fails when any differs."""

import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_cmake_reads_the_version_from_pyproject():
    cmake = (ROOT / "runtimes/cpp/CMakeLists.txt").read_text()
    assert "project(crsae_runtime VERSION ${CRSAE_VERSION} LANGUAGES CXX)" in cmake
    assert not re.search(r"project\([^)]*VERSION\s+\d", cmake), "a literal version in project()"
    # the line CMake's file(STRINGS ... REGEX) looks for, exactly once, holding the package's version
    lines = re.findall(r'(?m)^version = "([0-9]+\.[0-9]+\.[0-9]+)"$', (ROOT / "pyproject.toml").read_text())
    assert lines == [_version()]
    # the installed package config is SameMinorVersion: its consumers must ask for this major.minor
    major_minor = ".".join(_version().split(".")[:2])
    for path in ("runtimes/cpp/tests/consumer/CMakeLists.txt", "runtimes/cpp/README.md"):
        assert re.findall(r"find_package\(crsae ([0-9.]+) REQUIRED\)", (ROOT / path).read_text()) == [major_minor], path


def test_node_packages_carry_the_package_version():
    version = _version()
    for package in ("node", "web"):
        folder = ROOT / "runtimes" / package
        manifest = json.loads((folder / "package.json").read_text())
        lock = json.loads((folder / "package-lock.json").read_text())
        assert manifest["version"] == lock["version"] == lock["packages"][""]["version"] == version, package
    web_lock = json.loads((ROOT / "runtimes/web/package-lock.json").read_text())
    assert web_lock["packages"]["../node"]["version"] == version
    assert f"crsae-node-{version}.tgz" in (ROOT / "runtimes/node/README.md").read_text()
