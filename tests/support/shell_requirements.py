"""What a POSIX shell script needs from its caller, read from its text: the environment variables it requires and
the positional arguments it uses.

A variable is required when the script expands it with `${VAR:?...}` / `${VAR?...}`, or, under `set -u`, expands
it at all (`$VAR`, `${VAR}`, `${#VAR}`, `${VAR%...}`) without a default (`${VAR:-...}` and friends), without
assigning it, and without getting it from project.env (which the scripts source). Names the shell or every
login environment provides (PATH, HOME, ...) are not asked of the caller. Expansions inside single quotes are
counted too: a false "required" fails loudly, a missed one would not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.support.project import REPO_ROOT, load_project_env

PROVIDED_BY_SHELL_OR_LOGIN = {
    "HOME", "PATH", "PWD", "OLDPWD", "IFS", "PPID", "UID", "EUID", "USER", "SHELL", "TERM", "TMPDIR", "LANG",
    "HOSTNAME", "LINENO", "RANDOM", "SECONDS", "OPTIND", "OPTARG", "BASH_SOURCE", "BASH_VERSION", "PIPESTATUS",
}  # fmt: skip
_BRACED = re.compile(r"\$\{(#?)([A-Za-z_]\w*|\d+)(\[[^\]]*\])?([^}]*)\}")
_PLAIN = re.compile(r"\$([A-Za-z_]\w*|\d)")
_ASSIGNED = [
    re.compile(r"(?:^|[\s;&|(])(?:export\s+|local\s+|readonly\s+)?([A-Za-z_]\w*)(?:\[[^\]]*\])?\+?="),
    re.compile(r"\bfor\s+([A-Za-z_]\w*)\s+in\b"),
    re.compile(r"\bread\s+(?:-\w+\s+)*((?:[A-Za-z_]\w*\s*)+)"),
]
_DEFAULTS = (":-", "-", ":=", "=", ":+", "+")
_REQUIRES = (":?", "?")


@dataclass(frozen=True)
class Needs:
    """What a script needs: environment variables (required, and optional ones it reads with a default) and the
    highest positional argument it uses without a default."""

    required: frozenset[str]
    optional: frozenset[str]
    positional: int


def _code(text: str) -> str:
    """The script without its comment lines (a `#` inside a line may be `${x##*/}`, so only whole lines)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def sources_project_env(text: str) -> bool:
    return bool(re.search(r"^\s*(?:\.|source)\s+\S*project\.env\b", _code(text), re.M))


def needs(script: Path) -> Needs:
    text = _code(script.read_text())
    strict = bool(re.search(r"^\s*set\s+(?:-\w*u|-o\s+nounset)", text, re.M))
    defined = set(PROVIDED_BY_SHELL_OR_LOGIN)
    if sources_project_env(text):
        defined |= set(load_project_env())
    for pattern in _ASSIGNED:
        for match in pattern.finditer(text):
            defined |= set(match.group(1).split())

    required, optional, positional = set(), set(), 0
    for length, name, _index, operation in _BRACED.findall(text):
        if not length and operation.startswith(_REQUIRES):
            needed = True
        elif not length and operation.startswith(_DEFAULTS):
            if not name.isdigit():
                optional.add(name)
            continue
        else:
            needed = strict
        if needed and name.isdigit():
            positional = max(positional, int(name))
        elif needed:
            required.add(name)
    for name in _PLAIN.findall(text):
        if strict and name.isdigit():
            positional = max(positional, int(name))
        elif strict:
            required.add(name)
    required -= {name for name in defined if not _asserted(text, name)}
    return Needs(frozenset(required), frozenset(optional - required - defined), positional)


def _asserted(text: str, name: str) -> bool:
    """`${NAME:?}`: required even if the script also assigns it later (it checks before it assigns)."""
    return bool(re.search(rf"\$\{{{name}:?\?", text))


def scripts() -> list[Path]:
    """Every script the Tiltfile or a user may run: tilt/ and scripts/."""
    return sorted([*(REPO_ROOT / "tilt").glob("*.sh"), *(REPO_ROOT / "scripts").glob("*.sh")])


def sent_to_pods(script: Path) -> list[tuple[Path, list[str]]]:
    """The pod-side scripts a host script runs with `sh -c "$(cat FILE)" NAME ARGS...`, with those ARGS."""
    sent = []
    for match in re.finditer(r'sh -c "\$\(cat (\S+)\)"((?:[ \t]+(?:"[^"]*"|\S+))*)', _code(script.read_text())):
        words = re.findall(r'"[^"]*"|\S+', match.group(2))
        sent.append((REPO_ROOT / match.group(1), words[1:]))  # words[0] is $0, the name the script runs as
    return sent
