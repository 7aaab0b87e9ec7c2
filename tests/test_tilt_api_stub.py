"""The Tilt API stub against Tilt's own sources: every builtin's parameter list must equal the names Tilt's Go
code hands to unpackArgs, and every ext:// stand-in must declare the extension's parameters. The sources are
git repositories of tilt-dev/tilt and tilt-dev/tilt-extensions (TILT_SOURCE_GIT, TILT_EXTENSIONS_GIT);
without them these tests skip, and the stub's lists stay as last verified (Tilt v0.37.6)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.tilt_api_stub import BUILTIN_PARAMS, EXT_DIR

TILT_GIT = os.environ.get("TILT_SOURCE_GIT", "/work/.mirror/tilt-dev+tilt/repo")
EXTENSIONS_GIT = os.environ.get("TILT_EXTENSIONS_GIT", "/work/.mirror/tilt-dev+tilt-extensions/repo")

# Where Tilt implements each builtin the stub provides (internal/tiltfile/...). k8s_context and config.parse
# take no parameters and os.path.* share one helper taking "path".
GO_SOURCES = {
    "docker_build": "docker.go",
    "sync": "live_update.go",
    "run": "live_update.go",
    "fall_back_on": "live_update.go",
    "k8s_yaml": "k8s.go",
    "k8s_resource": "k8s.go",
    "k8s_custom_deploy": "k8s_custom_deploy.go",
    "local_resource": "local_resource.go",
    "allow_k8s_contexts": "k8scontext/k8scontext.go",
    "update_settings": "updatesettings/update_settings.go",
    "read_file": "io/io.go",
    "listdir": "io/io.go",
    "link": "links/links.go",
    "warn": "print/print.go",
    "config.define_string": "config/config_def.go",
    "config.define_bool": "config/config_def.go",
    "config.define_string_list": "config/config_def.go",
    "os.getenv": "os/os.go",
    "os.path.exists": "os/os.go",
    "os.path.abspath": "os/os.go",
    "os.path.dirname": "os/os.go",
    "os.path.basename": "os/os.go",
}


def git_show(git_dir: str, path: str) -> str:
    found = Path(git_dir).is_dir()
    require_tool("tilt-sources", found, f"no git repository at {git_dir} (set TILT_SOURCE_GIT / TILT_EXTENSIONS_GIT)")
    shown = subprocess.run(["git", "--git-dir", git_dir, "show", f"HEAD:{path}"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def unpack_calls(go_source: str) -> list[tuple[str, ...]]:
    """The quoted parameter names of every unpackArgs/UnpackArgs call in a Go file."""
    calls = []
    for match in re.finditer(r"[uU]npackArgs\(", go_source):
        depth, end = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(go_source[end], 0)
            end += 1
        calls.append(tuple(re.findall(r'"([^"]+)"', go_source[match.end() : end])))
    return calls


@pytest.mark.parametrize("builtin", sorted(GO_SOURCES))
def test_builtin_parameters_are_tilts(builtin):
    source = git_show(TILT_GIT, f"internal/tiltfile/{GO_SOURCES[builtin]}")
    assert BUILTIN_PARAMS[builtin] in unpack_calls(source)


def signatures(source: str) -> dict[str, dict]:
    """Public functions of a Starlark file (Starlark's def is Python's): parameters, literal defaults, **kwargs."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            args = node.args
            optional = [a.arg for a in args.args][len(args.args) - len(args.defaults) :]
            defaults = dict(zip(optional, args.defaults, strict=True))
            found[node.name] = {
                "params": [a.arg for a in args.args],
                "required": [a.arg for a in args.args if a.arg not in defaults],
                "literal_defaults": {k: ast.literal_eval(v) for k, v in defaults.items() if _literal(v)},
                "kwargs": args.kwarg is not None,
            }
    return found


def _literal(node) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("extension", ["helm_resource", "uibutton"])
def test_extension_stand_ins_declare_the_extensions_parameters(extension):
    real = signatures(git_show(EXTENSIONS_GIT, f"{extension}/Tiltfile"))
    ours = signatures((EXT_DIR / f"{extension}.star").read_text())
    assert set(ours) == set(real)
    for name, signature in real.items():
        assert ours[name]["params"] == signature["params"], name
        assert ours[name]["required"] == signature["required"], name
        assert ours[name]["kwargs"] == signature["kwargs"], name
        shared = set(ours[name]["literal_defaults"]) & set(signature["literal_defaults"])
        assert {k: ours[name]["literal_defaults"][k] for k in shared} == {
            k: signature["literal_defaults"][k] for k in shared
        }, name
