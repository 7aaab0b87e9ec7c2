"""Loguru -> Dagster: assets log with loguru; during a step every record goes to context.log, and only there, so
Dagster prints each line once in its own format (docs/dev-loop.md#logs)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from loguru import logger

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
    """Attach the sink for the body of one step and detach it whatever happens."""

    def forward(message) -> None:
        # The formatted message is the record's text plus, for logger.exception, its plain traceback.
        context.log.log(python_level(message.record["level"].no), str(message).rstrip("\n"))

    sink = logger.add(
        forward, level=configured_level(), format="{message}", colorize=False, backtrace=False, diagnose=False,
        catch=False,
    )  # fmt: skip
    try:
        yield
    finally:
        logger.remove(sink)
