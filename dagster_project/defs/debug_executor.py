"""The executor of every run: Dagster's in-process executor, preceded for a run tagged medallion/debug=true by a
wait for a debugger (VS Code's, over debugpy) before its first step (docs/debugging.md#how-a-debug-run-works)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping

from dagster import DagsterLogManager, Executor, ExecutorDefinition, Failure, in_process_executor

from dagster_project.contract.names import DEBUG_TAG, DEFAULT_DEBUG_PORT

# Long enough to click *Debug* and then start *Attach to Dagster run* in VS Code.
DEFAULT_WAIT_SECONDS = 300
LISTEN_HOST = "127.0.0.1"
# Run tag of Dagster's run retries: a retried debug run would wait for a debugger nobody is attaching.
MAX_RETRIES_TAG = "dagster/max_retries"
PORT_RETRY_SECONDS = 1.0


class DebuggerNotAttached(Failure):
    """The run's deadline passed with no debugger attached (or with its port still taken)."""


def wants_debugger(tags: Mapping[str, str]) -> bool:
    """Whether the run asks for a debugger; a tag value other than true or false is an error, not a no."""
    value = tags.get(DEBUG_TAG)
    if value is None or value.strip().lower() == "false":
        return False
    if value.strip().lower() == "true":
        return True
    raise Failure(description=f'run tag {DEBUG_TAG} must be "true" or "false", not {value!r}')


def _setting(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise Failure(description=f"{name}={raw!r} must be a whole number from {low} to {high}")
    return value


def debug_port() -> int:
    return _setting("DEBUG_PORT", DEFAULT_DEBUG_PORT, 1, 65535)


def wait_seconds() -> int:
    return _setting("DEBUG_WAIT_SECONDS", DEFAULT_WAIT_SECONDS, 1, 24 * 3600)


def wait_for_debugger(log: DagsterLogManager, port: int, timeout: float) -> float:
    """Start debugpy on LISTEN_HOST:port and block until a client has attached and sent its breakpoints
    (DAP configurationDone). Waits up to `timeout` for a taken port to be free, then up to `timeout` for the
    client; returns the seconds the client took, raises DebuggerNotAttached when either wait runs out."""
    # pydevd warns on every start that the interpreter's frozen stdlib modules hide their sources; breakpoints
    # in dagster_project are unaffected, so the warning would only add noise to the run's logs.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    import debugpy  # here: a run without the tag never imports it

    port_deadline = time.monotonic() + timeout
    reported_busy = False
    while True:
        try:
            debugpy.listen((LISTEN_HOST, port))
            break
        except RuntimeError as error:  # debugpy's words for EADDRINUSE and the like
            if time.monotonic() + PORT_RETRY_SECONDS > port_deadline:
                raise DebuggerNotAttached(
                    description=f"Debug run: port {port} stayed in use for {timeout:.0f}s ({error}). Another "
                    "debug run or program holds it; nothing was run, every layer is unchanged. Stop it, or set "
                    "DEBUG_PORT to a free port, and re-execute this run."
                ) from error
            if not reported_busy:
                log.warning(f"Debug run: port {port} is in use ({error}); waiting up to {timeout:.0f}s for it.")
                reported_busy = True
            time.sleep(PORT_RETRY_SECONDS)

    listening = time.monotonic()
    log.warning(
        f"Debug run: waiting up to {timeout:.0f}s for a debugger on port {port} (run worker pid {os.getpid()}, "
        f"listening on {LISTEN_HOST} only). In VS Code run 'Attach to Dagster run'; the run starts its first "
        "step once the debugger is attached."
    )
    attached = threading.Thread(target=debugpy.wait_for_client, name="wait-for-debugger", daemon=True)
    attached.start()
    attached.join(timeout)
    if attached.is_alive():
        debugpy.wait_for_client.cancel()
        raise DebuggerNotAttached(
            description=f"Debug run: no debugger attached to port {port} within {timeout:.0f}s, so the run "
            "stopped before its first step; every layer is unchanged. Start VS Code's 'Attach to Dagster run' "
            "(with the port forwarded, see docs/debugging.md), then re-execute this run: the re-execution keeps "
            "the debug tag."
        )
    waited = time.monotonic() - listening
    log.info(f"Debug run: debugger attached on port {port} after {waited:.1f}s; running the steps.")
    return waited


class DebuggableExecutor(Executor):
    """The in-process executor, preceded for tagged runs by the wait for a debugger."""

    def __init__(self, inner: Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan) -> Iterator:
        if wants_debugger(plan_context.run_tags):
            plan_context.instance.add_run_tags(plan_context.run_id, {MAX_RETRIES_TAG: "0"})
            wait_for_debugger(plan_context.log, debug_port(), wait_seconds())
        yield from self._inner.execute(plan_context, execution_plan)


def _create(init_context) -> Executor:
    return DebuggableExecutor(in_process_executor.executor_creation_fn(init_context))


# Same name and run config as Dagster's in_process executor, so run configs written for it keep working.
debuggable_in_process_executor = ExecutorDefinition(
    name=in_process_executor.name,
    config_schema=in_process_executor.config_schema,
    executor_creation_fn=_create,
    description=(
        "Executes all steps in one process. A run tagged medallion/debug=true first waits for a debugger "
        "(debugpy, port DEBUG_PORT, default 5678) before its first step."
    ),
)
