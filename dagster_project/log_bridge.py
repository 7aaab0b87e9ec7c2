"""Loguru -> Dagster: assets log with loguru; during a step every record reaches context.log and stdout.

context.log puts the record in the run's event log (the Dagster UI); stdout carries one plain, greppable line
per record for pod logs and Tilt panes. Dagster's own console logger is replaced by one that prints framework
events in the same plain format but skips bridged records, so no line shows up twice.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from dagster import InitLoggerContext
from dagster import logger as dagster_logger
from loguru import logger

BRIDGED = "medallion_bridged"
LINE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {extra[job]} - {extra[run]} - {extra[step]} - {message}"
PYTHON_LINE_FORMAT = "%(asctime)s.%(msecs)03d | %(levelname)-8s | %(message)s"

# Loguru's default sink writes colored text to stderr; the bridge owns where pipeline records go.
with suppress(ValueError):
    logger.remove(0)


def configured_level() -> str:
    """LOG_LEVEL (default DEBUG, i.e. verbose), validated against loguru's levels."""
    name = os.environ.get("LOG_LEVEL", "DEBUG").strip().upper()
    try:
        logger.level(name)
    except ValueError:
        known = "TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR, CRITICAL"
        raise ValueError(f"LOG_LEVEL={name!r} is not a log level; use one of {known}") from None
    return name


def python_level(loguru_level_no: int) -> int:
    """TRACE -> DEBUG and SUCCESS -> INFO: Dagster accepts only the standard levels."""
    for threshold in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if loguru_level_no >= threshold:
            return threshold
    return logging.DEBUG


@contextmanager
def loguru_to_dagster(context) -> Iterator[None]:
    """Attach the two sinks for the body of one step and detach them whatever happens."""
    level = configured_level()
    labels = {"job": context.job_name, "run": context.run.run_id, "step": _step_name(context)}

    def forward(message) -> None:
        # The formatted message is the record's text plus, for logger.exception, its plain traceback.
        text = str(message).rstrip("\n")
        context.log.log(python_level(message.record["level"].no), text, extra={BRIDGED: True})

    plain = {"colorize": False, "backtrace": False, "diagnose": False}
    sinks = [
        logger.add(forward, level=level, format="{message}", catch=False, **plain),
        logger.add(sys.stdout, level=level, format=LINE_FORMAT, **plain),
    ]
    try:
        with logger.contextualize(**labels):
            yield
    finally:
        for sink in sinks:
            logger.remove(sink)


@dagster_logger(description="Dagster events as plain stdout lines; bridged loguru records are already there.")
def plain_console_logger(init_context: InitLoggerContext) -> logging.Logger:
    console = logging.Logger("dagster-console", level=python_level(logger.level(configured_level()).no))
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(PYTHON_LINE_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    handler.addFilter(lambda record: not getattr(record, BRIDGED, False))
    console.addHandler(handler)
    return console


def _step_name(context) -> str:
    return context.op_execution_context.op.name
