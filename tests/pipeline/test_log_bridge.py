"""The loguru bridge on real Dagster runs: every record once in the event log at the mapped level, once on the
console as a plain line printed by Dagster's console logger, nothing attached after the step, with both
executors."""

import logging
import os
import re
import subprocess

import pytest
from dagster import DagsterInstance, asset, materialize
from dagster._core.instance.ref import InstanceRef
from loguru import logger

from dagster_project.contract.log_bridge import configured_level, loguru_to_dagster
from tests.support.project import BIN, REPO_ROOT

ANSI = re.compile(r"\x1b\[")
# Dagster's console format: time - logger - level - job - run id - step - message.
CONSOLE_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} - dagster - [A-Z]+ - \S+ - [0-9a-f-]{36} - chatty - "
)


@asset
def chatty(context):
    with loguru_to_dagster(context):
        logger.trace("trace record")
        logger.debug("debug record")
        logger.info("info record")
        logger.success("success record")
        logger.warning("warning record")
        logger.error("error record")
        logger.critical("critical record")
        logger.opt(colors=True).info("<red>colored</red> record")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("exception record")


def user_messages(instance: DagsterInstance, run_id: str) -> list[tuple[int, str]]:
    return [(entry.level, entry.user_message) for entry in instance.all_logs(run_id) if not entry.is_dagster_event]


def run_chatty(monkeypatch, level: str | None):
    if level is None:
        monkeypatch.delenv("LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("LOG_LEVEL", level)
    instance = DagsterInstance.ephemeral()
    result = materialize([chatty], instance=instance)
    assert result.success
    return user_messages(instance, result.run_id)


def test_levels_are_mapped_and_each_record_arrives_once(monkeypatch, capfd):
    messages = run_chatty(monkeypatch, "TRACE")
    bridged = {text.split("\n")[0]: lvl for lvl, text in messages if "record" in text}
    assert bridged == {
        "trace record": logging.DEBUG,
        "debug record": logging.DEBUG,
        "info record": logging.INFO,
        "success record": logging.INFO,
        "warning record": logging.WARNING,
        "error record": logging.ERROR,
        "critical record": logging.CRITICAL,
        "colored record": logging.INFO,
        "exception record": logging.ERROR,
    }
    assert len([m for m in messages if "record" in m[1]]) == len(bridged), "a record was forwarded twice"
    assert not [text for _, text in messages if ANSI.search(text)]
    traceback = next(text for _, text in messages if text.startswith("exception record"))
    assert "ValueError: boom" in traceback

    console = capfd.readouterr()
    out = console.out + console.err
    for name in ("trace", "debug", "info", "success", "warning", "error", "critical"):
        lines = [line for line in out.splitlines() if line.endswith(f" - {name} record")]
        assert len(lines) == 1, (name, out)
        assert CONSOLE_LINE.match(lines[0]), lines[0]
    assert not ANSI.search(out)


def test_verbose_by_default_and_log_level_filters_both_sinks(monkeypatch, capfd):
    default = run_chatty(monkeypatch, None)
    assert any(text == "debug record" for _, text in default)
    assert not any(text == "trace record" for _, text in default)
    capfd.readouterr()

    quiet = run_chatty(monkeypatch, "warning")
    assert {text.split("\n")[0] for _, text in quiet if "record" in text} == {
        "warning record", "error record", "critical record", "exception record",
    }  # fmt: skip
    console = capfd.readouterr()
    assert "info record" not in console.out + console.err


def test_invalid_log_level_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    with pytest.raises(ValueError, match="LOG_LEVEL='CHATTY' is not a log level"):
        configured_level()


def test_nothing_stays_attached_after_the_step(monkeypatch, capfd):
    run_chatty(monkeypatch, "DEBUG")
    capfd.readouterr()
    logger.info("logged after the run")
    captured = capfd.readouterr()
    assert "logged after the run" not in captured.out + captured.err


MULTIPROCESS_DEFS = """
from dagster import Definitions, multiprocess_executor

from dagster_project import definitions

# The project's definitions with one process per step instead of the project's in-process executor.
defs = Definitions(assets=definitions.defs.assets, jobs=definitions.defs.jobs, resources=definitions.defs.resources,
                   executor=multiprocess_executor)
"""


def test_multiprocess_executor_bridges_each_step_once(tmp_path, data_root):
    definitions = tmp_path / "multiprocess_defs.py"
    definitions.write_text(MULTIPROCESS_DEFS)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "DATA_ROOT": str(data_root), "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO_ROOT)}
    run = subprocess.run([BIN / "dagster", "job", "execute", "-f", definitions, "-j", "medallion_job"],
                         env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Launching subprocess" in run.stdout + run.stderr  # really one process per step

    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    (record,) = instance.get_run_records()
    entries = [e for e in instance.all_logs(record.dagster_run.run_id) if not e.is_dagster_event]
    for step, message in [("bronze_orders", "bronze validated in"), ("silver_orders", "silver done in"),
                          ("gold_region_sales", "gold done in")]:  # fmt: skip
        matching = [e for e in entries if e.user_message.startswith(message)]
        assert [(e.step_key, e.level) for e in matching] == [(step, logging.INFO)]
        console = (run.stdout + run.stderr).splitlines()
        assert len([line for line in console if f" - {step} - {message}" in line]) == 1
    assert not [e for e in entries if ANSI.search(e.user_message)]
