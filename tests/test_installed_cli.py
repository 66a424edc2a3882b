"""The command line from an installed package: no checkout beside ``chaos``, run from a directory outside it.

The package is laid out as a wheel installs it (the modules and the package data pyproject declares,
nothing else), first on PYTHONPATH of a fresh interpreter whose working directory is an empty temp dir.
The template, and with it the function's code directory and the events/ a scenario names, then comes
from ``--template`` or ``$REPLICA_FAILOVER_TEMPLATE``; without either the command says so and exits 2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.invoke import EXIT_REJECTED, EXIT_USAGE
from chaos.template import TEMPLATE_ENV, TemplateError, locate_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yml"
# what pyproject ships of the chaos package: its modules plus [tool.setuptools.package-data]
SHIPPED = ("*.py", "py.typed", "scenarios/*.yaml")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    for pattern in SHIPPED:
        for src in (ROOT / "chaos").rglob(pattern) if pattern == "*.py" else (ROOT / "chaos").glob(pattern):
            dest = site / "chaos" / src.relative_to(ROOT / "chaos")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
    return site


def cli(site: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != TEMPLATE_ENV and not k.startswith("FAILOVER_")}
    base["PYTHONPATH"] = str(site)
    return subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "chaos.cli", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_copy_is_what_runs_and_it_has_no_checkout(site: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import chaos.template as t; print(t.__file__); print(t.CHECKOUT_TEMPLATE.exists())"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert Path(out[0]).is_relative_to(site) and out[1] == "False"


def test_gameday_list_reads_the_bundled_scenarios(site: Path, tmp_path: Path) -> None:
    res = cli(site, tmp_path, "gameday", "list")
    assert res.returncode == 0, res.stderr
    bundled = sorted(p.stem for p in (ROOT / "chaos" / "scenarios").glob("*.yaml"))
    assert len(res.stdout.splitlines()) == len(bundled) and all(name in res.stdout for name in bundled)


def test_invoke_help_names_the_template_option_and_its_variable(site: Path, tmp_path: Path) -> None:
    res = cli(site, tmp_path, "invoke", "--help", env={"COLUMNS": "200"})
    assert res.returncode == 0, res.stderr
    assert "--template" in res.stdout and TEMPLATE_ENV in res.stdout


def test_invoke_without_any_template_is_one_clear_line(site: Path, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"action": "failover", "primaryRegion": "cn-hangzhou", "reason": "drill"}')
    res = cli(site, tmp_path, "invoke", "--event", str(event))
    assert res.returncode == EXIT_USAGE and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "no template.yml" in res.stderr and "--template" in res.stderr and TEMPLATE_ENV in res.stderr


def test_invoke_with_a_missing_template_file_names_it(site: Path, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text("{}")
    missing = tmp_path / "nowhere" / "template.yml"
    res = cli(site, tmp_path, "invoke", "--event", str(event), env={TEMPLATE_ENV: str(missing)})
    assert res.returncode == EXIT_USAGE and res.stderr.count("\n") == 1
    assert f"cannot read {missing}" in res.stderr


@pytest.mark.parametrize("how", ["option", "variable"])
def test_invoke_runs_the_function_from_the_templates_code_dir(site: Path, tmp_path: Path, how: str) -> None:
    """An event the function rejects before any API call: the handler was found and ran, no network needed."""
    event = tmp_path / "event.json"
    event.write_text('{"action": "failover", "primaryRegion": "cn-hangzhou"}')  # no reason: rejected
    args = ["invoke", "--event", str(event)]
    env = {TEMPLATE_ENV: str(TEMPLATE)} if how == "variable" else None
    res = cli(site, tmp_path, *args, *(["--template", str(TEMPLATE)] if how == "option" else []), env=env)
    assert res.returncode == EXIT_REJECTED, res.stderr
    result = json.loads(res.stdout)
    assert result["status"] == "rejected" and result["apiCalls"] == 0


def test_locate_template_order(tmp_path: Path) -> None:
    checkout = tmp_path / "template.yml"
    explicit, configured = tmp_path / "a.yml", tmp_path / "b.yml"
    assert locate_template(explicit, {TEMPLATE_ENV: str(configured)}, checkout) == explicit
    assert locate_template(None, {TEMPLATE_ENV: str(configured)}, checkout) == configured
    with pytest.raises(TemplateError, match=r"no template\.yml"):
        locate_template(None, {}, checkout)
    checkout.write_text("Resources: {}\n")
    assert locate_template(None, {TEMPLATE_ENV: ""}, checkout) == checkout
    assert locate_template(None, {}) == TEMPLATE  # this test runs from the checkout


def test_gameday_without_any_template_is_a_scenario_error(site: Path, tmp_path: Path) -> None:
    scenario = site / "chaos" / "scenarios" / "region-outage.yaml"
    res = cli(site, tmp_path, "gameday", "run", str(scenario), "--report-dir", str(tmp_path / "r"))
    assert res.returncode == EXIT_USAGE, res.stdout + res.stderr
    assert "no template.yml" in res.stdout and "Traceback" not in res.stdout + res.stderr
    assert not (tmp_path / "r").exists()


def test_gameday_runs_a_bundled_scenario_with_the_template_option(site: Path, tmp_path: Path) -> None:
    scenario = site / "chaos" / "scenarios" / "region-outage.yaml"
    report_dir = tmp_path / "r"
    args = ["gameday", "run", str(scenario), "--template", str(TEMPLATE), "--report-dir", str(report_dir)]
    res = cli(site, tmp_path, *args)
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads((report_dir / "region-outage" / "report.json").read_text(encoding="utf-8"))
    # its event file (events/mns-topic.json) was found beside the template, not beside the package
    assert doc["verdict"] == "pass" and doc["invocations"], doc["expectations"]


def test_a_scenario_event_file_found_nowhere_is_a_scenario_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from chaos.cli import app

    text = (ROOT / "chaos" / "scenarios" / "region-outage.yaml").read_text(encoding="utf-8")
    scenario = tmp_path / "typo.yaml"
    scenario.write_text(text.replace("events/mns-topic.json", "events/mns-tpoic.json"), encoding="utf-8")
    res = CliRunner().invoke(app, ["gameday", "run", str(scenario), "--report-dir", str(tmp_path / "r")])
    assert res.exit_code == EXIT_USAGE, res.output
    assert "event file events/mns-tpoic.json not found" in res.output and "Traceback" not in res.output
