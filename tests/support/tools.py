"""Tools a test needs but the machine lacks make it skip with the reason, unless MEDALLION_REQUIRE lists the tool
(CI sets it): there a missing tool is a failure, never a silent skip."""

import os

import pytest


def require_tool(name: str, available: bool, reason: str) -> None:
    """Skip when `available` is false, or fail if CI declared the tool required."""
    if available:
        return
    required = {item.strip() for item in os.environ.get("MEDALLION_REQUIRE", "").split(",") if item.strip()}
    if name in required:
        pytest.fail(f"{name} is required here (MEDALLION_REQUIRE) but unavailable: {reason}")
    pytest.skip(reason)
