"""What the evaluated Tiltfile runs: the scripts its resources and buttons run, with the environment each gets,
and the commands it runs inside the code-server pod. Found by what they run, whatever the resource or button
is called, so ones added later are found too."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests._project import REPO_ROOT, load_project_env
from tests.tilt_api_stub import evaluate

SCRIPT_DIRS = (REPO_ROOT / "tilt", REPO_ROOT / "scripts")


@dataclass(frozen=True)
class Runner:
    """A resource command or a button that runs a script: what it runs and the environment it gives it."""

    what: str
    script: Path
    env: dict[str, str]
    inputs: frozenset[str] = frozenset()  # button inputs: Tilt sets each as a variable when clicked


def script_in(argv, cwd: Path) -> Path | None:
    words = shlex.split(argv) if isinstance(argv, str) else [w for w in argv if isinstance(w, str)]
    for word in words:
        for part in shlex.split(word) if " " in word else [word]:
            path = (cwd / part).resolve()
            if path.suffix == ".sh" and path.is_file() and path.parent in SCRIPT_DIRS:
                return path
    return None


@cache
def runners(mode: str, context: str) -> tuple[Runner, ...]:
    run = evaluate(REPO_ROOT / "Tiltfile", args=[f"--run-mode={mode}"], context=context)
    found = []
    for name, resource in run.resources.items():
        for command, env, directory in (("cmd", "env", "dir"), ("serve_cmd", "serve_env", "serve_dir")):
            argv = resource.options.get(command)
            cwd = Path(resource.options.get(directory) or run.root)
            script = script_in(argv, cwd) if argv else None
            if script:
                found.append(Runner(f"local_resource {name!r} {command}", script, resource.options.get(env) or {}))
    for name, button in run.buttons().items():
        script = script_in(button["argv"], Path(button["dir"]))
        if script:
            env = dict(entry.split("=", 1) for entry in button["env"])
            inputs = frozenset(i["name"] for i in button["inputs"])
            found.append(Runner(f"button {name!r}", script, env, inputs))
    return tuple(found)


def pod_commands(mode: str, context: str) -> list[tuple[str, list[str]]]:
    """Every command the Tiltfile runs in the code-server pod (buttons, resources, live_update steps)."""
    run = evaluate(REPO_ROOT / "Tiltfile", args=[f"--run-mode={mode}"], context=context)
    env = load_project_env()
    user_code = f"{env['HELM_RELEASE']}-dagster-user-deployments-{env['CODE_LOCATION']}"
    prefix = ["kubectl", "--context", context, "--namespace", env["NAMESPACE"], "exec", f"deploy/{user_code}", "--"]
    commands = [(f"button {name!r}", b["argv"]) for name, b in run.buttons().items()]
    commands += [
        (f"local_resource {name!r} {key}", r.options[key])
        for name, r in run.resources.items()
        for key in ("cmd", "serve_cmd")
        if isinstance(r.options.get(key), list)
    ]
    found = [(what, argv[len(prefix) :]) for what, argv in commands if argv[: len(prefix)] == prefix]
    steps = [s for s in run.images[env["IMAGE"]]["live_update"] if s.kind == "run"]
    return found + [("live_update run step", shlex.split(s.args["cmd"])) for s in steps]
