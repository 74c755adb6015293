"""`rtguard rules test`: shipped scenarios pass; wrong expectations and bad files are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtguard.cli import main
from rtguard.detect import build_engine
from rtguard.detect.scenarios import SHIPPED_SCENARIOS, format_results, run_scenario_file, scenario_files


def test_shipped_scenarios_pass() -> None:
    engine, _ = build_engine()
    results = [r for f in scenario_files([SHIPPED_SCENARIOS]) for r in run_scenario_file(f, engine)]
    assert len(results) >= 8
    assert all(r.ok for r in results), format_results(results)


def test_wrong_expectation_and_bad_files(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "- scenario: expects nothing\n  events:\n    - kind: process_exec\n"
        "      process: {exe_path: /tmp/xmrig, argv: [xmrig]}\n  expect: []\n"
        "- scenario: bad event\n  events:\n    - kind: nope\n  expect: []\n"
    )
    engine, _ = build_engine()
    results = run_scenario_file(wrong, engine)
    text = format_results(results)
    assert not results[0].ok and "unexpected Impact:Runtime/CryptoMinerExecuted" in text
    assert results[1].error and "unknown event kind" in results[1].error
    garbage = tmp_path / "garbage.yaml"
    garbage.write_text("{not: [a list")
    assert run_scenario_file(garbage, engine)[0].error


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test"]) == 0
    assert " 0 failed" in capsys.readouterr().out
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "- rule: Custom Thing\n  id: USR-0001\n  desc: Detect thing\n"
        "  condition: evt.type = process_exec and proc.name = thing\n  output: thing\n  priority: WARNING\n"
        "  finding_type: Custom:Runtime/Thing\n  severity: 6\n"
    )
    scen = tmp_path / "scen.yaml"
    scen.write_text(
        "- scenario: my rule\n  events:\n    - kind: process_exec\n      process: {exe_path: /usr/bin/thing, argv: [thing]}\n"
        "  expect: [Custom:Runtime/Thing]\n"
    )
    assert main(["rules", "test", "--rules", str(mine), str(scen)]) == 0
    assert main(["rules", "test", str(scen)]) == 1  # without the user's rule the finding is missing
