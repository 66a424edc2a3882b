""".ci/install's re-run behaviour (with fake `npm`/`apt-get` on PATH: no network) and README/CI agreement."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

from tests.deploy import REPO_ROOT

INSTALL = REPO_ROOT / ".ci" / "install"
BASH = shutil.which("bash") or "/bin/bash"


def fake_tool(bindir: Path, name: str, body: str) -> None:
    path = bindir / name
    path.write_text(f"#!/usr/bin/env bash\necho \"{name} $*\" >> \"$CALLS\"\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def source_and_run(workdir: Path, bindir: Path, call: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "CALLS": str(workdir / "calls.log")}
    return subprocess.run(  # noqa: S603 - fixed argv: bash, sourcing our own script
        [BASH, "-c", f'. "{INSTALL}" && {call}'], cwd=workdir, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def calls(workdir: Path) -> list[str]:
    log = workdir / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_npm_ci_runs_once_per_lockfile(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake_tool(bindir, "npm", "rm -rf node_modules && mkdir node_modules")  # what npm ci does to the tree
    (tmp_path / "package-lock.json").write_text('{"lockfileVersion": 3}')

    first = source_and_run(tmp_path, bindir, "npm_install_if_changed")
    assert first.returncode == 0, first.stderr
    assert calls(tmp_path) == ["npm ci --no-audit --no-fund --loglevel=error"]

    again = source_and_run(tmp_path, bindir, "npm_install_if_changed")
    assert again.returncode == 0 and "npm ci skipped" in again.stdout
    assert len(calls(tmp_path)) == 1, "the second run must not call npm"

    (tmp_path / "package-lock.json").write_text('{"lockfileVersion": 3, "changed": true}')
    assert source_and_run(tmp_path, bindir, "npm_install_if_changed").returncode == 0
    assert len(calls(tmp_path)) == 2, "a changed lockfile re-installs"


def test_a_failed_npm_ci_is_retried_next_time(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake_tool(bindir, "npm", "mkdir -p node_modules; exit 1")
    (tmp_path / "package-lock.json").write_text("{}")
    assert source_and_run(tmp_path, bindir, "npm_install_if_changed").returncode != 0
    assert not (tmp_path / "node_modules" / ".lock-hash").exists()
    assert source_and_run(tmp_path, bindir, "npm_install_if_changed").returncode != 0
    assert len(calls(tmp_path)) == 2


def test_apt_waits_for_the_dpkg_lock(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake_tool(bindir, "apt-get", "")
    fake_tool(bindir, "sudo", 'shift 0; "$@"')  # when not root, apt runs through sudo
    assert source_and_run(tmp_path, bindir, "apt_install chromium").returncode == 0
    apt = [c for c in calls(tmp_path) if c.startswith("apt-get")]
    assert apt == [
        "apt-get -o DPkg::Lock::Timeout=300 update -qq",
        "apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium",
    ]


def test_sourcing_install_does_not_install() -> None:
    """Sourcing only defines the functions (the tests above rely on it): main runs only when executed."""
    text = INSTALL.read_text()
    assert text.rstrip().endswith('if [ "${BASH_SOURCE[0]}" = "$0" ]; then\n  main "$@"\nfi')
    assert "apt_install chromium" in text and "npm_install_if_changed" in text.split("main() {")[1]


def test_ci_runs_the_readme_test_command_and_it_needs_no_activated_venv() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", quick_start, flags=re.S)
    test_command = blocks[-1].strip()
    assert test_command == ".venv/bin/python -m pytest"
    run_lines = [line for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines() if line and line[0] != "#"]
    assert run_lines[-1] == test_command
    assert not any("activate" in line for line in run_lines)
    # from a new shell: a bare PATH, no VIRTUAL_ENV; the interpreter finds the project and its tests
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    proc = subprocess.run(  # noqa: S603 - the README's own command, collection only
        [*test_command.split(), "--collect-only", "-q", "tests/deploy/test_install.py"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "tests/deploy/test_install.py: " in proc.stdout  # collected, without an activated venv
