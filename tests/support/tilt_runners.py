"""What the Tiltfile runs, as the real Tilt loaded it (support/tilt.py): the scripts its resources and buttons run,
with the environment each gets, and the commands it runs inside the code-server pod. Found by what they run,
whatever the resource or button is called, so ones added later are found too."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.support.project import REPO_ROOT, USER_CODE_DEPLOYMENT, WEBSERVER_URL, load_project_env
from tests.support.tilt import buttons, tiltfile_result

SCRIPT_DIRS = (REPO_ROOT / "tilt", REPO_ROOT / "scripts")
# The control CLI as the Tiltfile runs it in the pod, against the chart's webserver.
CONTROL = ["python", "-m", "dagster_project.control", "--url", WEBSERVER_URL,
           "--location", load_project_env()["CODE_LOCATION"]]  # fmt: skip


def in_user_code(context: str = "orbstack") -> list[str]:
    """What precedes a command the Tiltfile runs in the code-server pod."""
    namespace = load_project_env()["NAMESPACE"]
    return ["kubectl", "--context", context, "--namespace", namespace, "exec", f"deploy/{USER_CODE_DEPLOYMENT}", "--"]


@dataclass(frozen=True)
class Runner:
    """A resource command or a button that runs a script: what it runs and the environment it gives it."""

    what: str
    script: Path
    env: dict[str, str]
    inputs: frozenset[str] = frozenset()  # button inputs: Tilt sets each as a variable when clicked


def script_in(argv: list[str], cwd: Path) -> Path | None:
    for word in argv:
        for part in shlex.split(word) if " " in word else [word]:
            path = (cwd / part).resolve()
            if path.suffix == ".sh" and path.is_file() and path.parent in SCRIPT_DIRS:
                return path
    return None


@cache
def runners(mode: str, context: str) -> tuple[Runner, ...]:
    run = tiltfile_result(f"--run-mode={mode}", context=context)
    found = []
    for name, resource in run.resources.items():
        for kind, argv, env, directory in (
            ("cmd", resource.cmd, resource.env, resource.dir),
            ("serve_cmd", resource.serve_cmd, resource.serve_env, resource.serve_dir),
        ):
            script = script_in(argv, Path(directory or REPO_ROOT)) if argv else None
            if script:
                found.append(Runner(f"local_resource {name!r} {kind}", script, env))
    for name, button in buttons(f"--run-mode={mode}", context=context).items():
        script = script_in(button.argv, Path(button.dir))
        if script:
            inputs = frozenset(i["name"] for i in button.inputs)
            found.append(Runner(f"button {name!r}", script, button.env, inputs))
    return tuple(found)


def pod_commands(mode: str, context: str) -> list[tuple[str, list[str]]]:
    """Every command the Tiltfile runs in the code-server pod (buttons, resources, live_update steps)."""
    run = tiltfile_result(f"--run-mode={mode}", context=context)
    prefix = in_user_code(context)
    commands = [(f"button {name!r}", b.argv) for name, b in buttons(f"--run-mode={mode}", context=context).items()]
    commands += [
        (f"local_resource {name!r} {kind}", argv)
        for name, r in run.resources.items()
        for kind, argv in (("cmd", r.cmd), ("serve_cmd", r.serve_cmd))
        if argv
    ]
    found = [(what, argv[len(prefix) :]) for what, argv in commands if argv[: len(prefix)] == prefix]
    execs = run.images[load_project_env()["IMAGE"]].live_update.get("execs") or []
    # Tilt runs a live_update run() step given as a string with `sh -c`.
    return found + [("live_update run step", shlex.split(e["args"][-1])) for e in execs]
