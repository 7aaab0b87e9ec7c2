"""The Tilt API stub (tests/tilt_api_stub.py, tilt_api_types.py, tilt_ext/): strict where Tilt is strict, and
faithful to Tilt's own sources.

The first half always runs: the stub refuses what Tilt refuses (unknown parameters, wrong arity, wrong types)
and accepts what the extensions' own examples write. The second half reads git repositories of tilt-dev/tilt
and tilt-dev/tilt-extensions (TILT_SOURCE_GIT, TILT_EXTENSIONS_GIT): every builtin's parameter names and the
Go type each is unpacked into must match the stub's, and every ext:// stand-in must declare the extension's
parameters. Without those repositories the second half skips, saying how to provide them.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.tilt_api_stub import EXT_DIR, TiltfileError, evaluate
from tests.tilt_api_types import BUILTIN_PARAMS, KINDS, SIGNATURES, VALUE_KINDS

UIBUTTON = "load('ext://uibutton', 'cmd_button', 'bool_input', 'text_input')\nlocal_resource('r', 'true')\n"
HELM = "load('ext://helm_resource', 'helm_resource')\n"


def evaluate_snippet(tmp_path: Path, snippet: str):
    (tmp_path / "Tiltfile").write_text(snippet + "\n")
    return evaluate(tmp_path / "Tiltfile")


# -- the stub refuses what Tilt refuses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snippet", "error"),
    [
        ("docker_build('img', '.', live_updates=[])", "unexpected keyword argument live_updates"),
        ("docker_build('img')", "missing argument for context"),
        ("sync('a', '/b', '/c')", "got 3 arguments, want at most 2"),
        ("docker_build('img', '.', live_update=[run('x'), sync('.', '/app')])", "sync steps must precede"),
        ("docker_build('img', '.', live_update=[sync('.', '/app'), fall_back_on('x')])", "fall_back_on steps"),
        ("local_resource('x', labels=['a'])", "must have a cmd and/or a serve_cmd"),
        ("local_resource('x', 'true', label=['a'])", "unexpected keyword argument label (did you mean labels?)"),
        ("k8s_resource('nothing-deployed', labels=['a'])", "unknown resource 'nothing-deployed'"),
        ("update_settings(k8s_upsert_timeout=300)", "unexpected keyword argument k8s_upsert_timeout"),
        ("config.define_string('a', False, 'usage', 'extra')", "got 4 arguments, want at most 3"),
        ("link('http://x', 'X', 'Y')", "got 3 arguments, want at most 2"),
        (HELM + "helm_resource('r', 'c', values=['v.yaml'])", "values"),
        (HELM + "helm_resource('r', 'c', image_deps=['i'])", "same length"),
        ("load('ext://helm_resource', 'helm_repo')\nhelm_repo('r', 'https://x', lables=['t'])", "lables"),
        ("load('ext://uibutton', 'cmd_button')\ncmd_button('b', argv=['true'])", "Must provide a resource name"),
        (UIBUTTON + "cmd_button('b', resource='r', argv=['x'], icon='y')", "icon"),
        (UIBUTTON + "bool_input('B', label='b', checked=True)", "checked"),
        ("x = f'{1}'", "f-string"),
        ("local_resource('a', 'true', resource_deps=['b'])", "unknown resources ['b']"),
    ],
)
def test_stub_rejects_what_tilt_rejects(tmp_path, snippet, error):
    with pytest.raises(TiltfileError) as raised:
        evaluate_snippet(tmp_path, snippet)
    assert error in str(raised.value)


# Wrong argument types, each refused by Tilt's Go unpacking (the kind in tilt_api_types.py says which).
WRONG_TYPES = [
    ("local_resource('x', 'true', auto_init='yes')", "local_resource: for parameter auto_init: got string, want bool"),
    ("local_resource('x', 'true', env={'A': 1})", "local_resource: for parameter env: value is not a string: int"),
    ("local_resource('x', 'true', env={1: 'a'})", "local_resource: for parameter env: key is not a string"),
    ("local_resource('x', 'true', env=struct(A='1'))", "local_resource: for parameter env: expected dict, got struct"),
    ("local_resource('x', 'true', serve_env=['A=1'])", "for parameter serve_env: expected dict, got list"),
    ("local_resource('x', ['sh', 5])", "local_resource: for parameter cmd: a command must be a string or a list"),
    ("local_resource('x', 5)", "local_resource: for parameter cmd: a command must be a string or list of strings"),
    ("local_resource('x', 'true', trigger_mode='manual')", "for parameter trigger_mode: got string, want TriggerMode"),
    ("local_resource('x', 'true', resource_deps='y')", "for parameter resource_deps: got string, want starlark.Seq"),
    ("local_resource('x', 'true', resource_deps=[1])", "for parameter resource_deps: '1' is a int, not a string"),
    ("local_resource('x', 'true', labels=['two words'])", "for parameter labels: Invalid label 'two words'"),
    ("local_resource('x', 'true', links=[5])", "for parameter links: Want a string, a link, or a sequence"),
    ("local_resource('x', 'true', deps=[5])", "for parameter deps: unpacking list item at index 0"),
    ("local_resource('a/b', 'true')", "local_resource: for parameter name: invalid value 'a/b'"),
    ("link(5)", "link: for parameter url: got int, want string"),
    ("link('http://x', name=None)", "link: for parameter name: got NoneType, want string"),
    ("docker_build('img', 5)", "docker_build: for parameter context: expected path | string"),
    ("docker_build('img', '.', build_args={'A': True})", "for parameter build_args: value is not a string: bool"),
    ("docker_build('img', '.', live_update=['sync'])", "for parameter live_update: 'steps' must be a list of live"),
    ("docker_build('img', '.', container_args='x')", "for parameter container_args: got string, want starlark.Seq"),
    ("sync('a', 5)", "sync: for parameter remote_path: got int, want string"),
    ("run(['echo', 1])", "run: for parameter cmd: a command must be a string or a list of strings"),
    ("fall_back_on(5)", "fall_back_on: for parameter paths: value should be a string or List or Tuple"),
    ("k8s_yaml(5)", "k8s_yaml: for parameter yaml: must be a string or a sequence of strings"),
    ("k8s_yaml('x.yaml', allow_duplicates='yes')", "k8s_yaml: for parameter allow_duplicates: got string"),
    ("k8s_resource(new_name='s', objects=['a'], auto_init='no')", "auto_init: expected starlark.Bool or None"),
    ("k8s_resource(new_name='s', objects=['a'], port_forwards=[1.5])", "port_forwards must be an int"),
    ("k8s_resource(new_name='s', objects=['a'], pod_readiness='ready')", "pod_readiness: Invalid value"),
    ("update_settings(k8s_upsert_timeout_secs='300')", "k8s_upsert_timeout_secs: got string, want int"),
    ("update_settings(max_parallel_updates=True)", "max_parallel_updates: got bool, want int"),
    ("allow_k8s_contexts(['kind-a', 1])", "allow_k8s_contexts: for parameter contexts: must be a string or"),
    ("config.define_string('a', usage=5)", "config.define_string: for parameter usage: got int, want string"),
    ("config.define_bool('a', args='no')", "config.define_bool: for parameter args: got string, want bool"),
    ("os.getenv(5)", "os.getenv: for parameter key: Value should be convertible to string"),
    ("read_file('x', default=5)", "read_file: for parameter default: expected starlark.String or None"),
    (UIBUTTON + "cmd_button('b', resource='r', argv='sh x.sh')", "v1alpha1.cmd: for parameter args: value should"),
    (UIBUTTON + "cmd_button('b', resource='r', argv=['sh', 1])", "v1alpha1.cmd: for parameter args: value should"),
    # The extension joins a dict env with +, so a value that is not a string stops the Tiltfile there.
    (UIBUTTON + "cmd_button('b', resource='r', argv=['x'], env={'A': 1})", "not supported"),
    (UIBUTTON + "cmd_button('b', resource='r', argv=['x'], env='A=1')", "v1alpha1.cmd: for parameter env: value"),
    (UIBUTTON + "cmd_button('b', resource='r', argv=['x'], disabled='no')", "ui_button: for parameter disabled"),
    (UIBUTTON + "cmd_button('b', resource='r', argv=['x'], text=5)", "ui_button: for parameter text: got int"),
    (UIBUTTON + "cmd_button('b', resource='r', argv=['x'], dir=5)", "v1alpha1.cmd: for parameter dir: expected path"),
    (UIBUTTON + "cmd_button('b', resource='r', argv=['x'], inputs=(text_input('N'),))", "expected list, actual: tuple"),
    (UIBUTTON + "cmd_button('b', resource='r', argv=['x'], inputs=['N'])", "inputs: at index 0: expected an input"),
    (UIBUTTON + "bool_input('B', default='yes', true_string='y', false_string='n')", "default_value: got string"),
    # Tilt's ui_bool_input_spec reads a None string as a value, and refuses it.
    (UIBUTTON + "bool_input('B')", "v1alpha1.ui_bool_input_spec: for parameter true_string: got NoneType"),
    (UIBUTTON + "text_input('T', placeholder=5)", "ui_text_input_spec: for parameter placeholder: got int"),
    (HELM + "helm_resource('r', 5)", "k8s_custom_deploy: for parameter apply_env: value is not a string: int"),
    (HELM + "helm_resource('r', 'c', flags=['--x', 1])", "k8s_custom_deploy: for parameter apply_cmd: a command"),
    (HELM + "helm_resource('r', 'c', deps=[1])", "k8s_custom_deploy: for parameter deps: unpacking list item"),
    (HELM + "helm_resource('r', 'c', labels=['a b'])", "k8s_resource: for parameter labels: Invalid label 'a b'"),
]


@pytest.mark.parametrize(("snippet", "error"), WRONG_TYPES, ids=[w[0].splitlines()[-1] for w in WRONG_TYPES])
def test_stub_refuses_wrong_argument_types(tmp_path, snippet, error):
    (tmp_path / "x.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    with pytest.raises(TiltfileError) as raised:
        evaluate_snippet(tmp_path, snippet)
    assert error in str(raised.value)


def test_stub_accepts_the_extension_examples(tmp_path):
    """Calls written as in the extensions' READMEs/tests evaluate cleanly, so the stub is not merely strict."""
    run = evaluate_snippet(
        tmp_path,
        "load('ext://helm_resource', 'helm_resource', 'helm_repo')\n"
        "load('ext://uibutton', 'cmd_button', 'location', 'text_input', 'bool_input', 'choice_input')\n"
        "docker_build('helloworld-image', '.', dockerfile='./Dockerfile')\n"
        "helm_repo('bitnami', 'https://charts.bitnami.com/bitnami', labels=['memcached'], "
        "resource_name='helm-repo-bitnami')\n"
        "helm_resource('helloworld', './helloworld', deps=['./helloworld'], image_deps=['helloworld-image'],\n"
        "              image_keys=[('image.repository', 'image.tag')], labels=['helloworld'])\n"
        "k8s_resource('helloworld', port_forwards=['8080:80'])\n"
        "local_resource('vigoda', cmd='echo hello')\n"
        "cmd_button('nav-hello', argv=['sh', '-c', 'echo Hello, $NAME'], location=location.NAV,\n"
        "           icon_name='front_hand', text='Hello!', inputs=[text_input('NAME', placeholder='name')])\n"
        "cmd_button('env-dict', argv=['sh', '-c', 'echo $name'], env={'name': 'foo'}, resource='vigoda')\n"
        "cmd_button('env-list', argv=['sh', '-c', 'echo $name'], env=['name=foo'], resource='vigoda')\n"
        "cmd_button('choice', argv=['sh', '-c', 'echo $NAME'], resource='vigoda',\n"
        "           inputs=[choice_input('NAME', choices=['Alice', 'Bob']),\n"
        "                   bool_input('OK', default=True, label='ok?', true_string='y', false_string='n')])\n",
    )
    assert set(run.resources) == {"helloworld", "helm-repo-bitnami", "vigoda"}
    buttons = run.buttons()
    assert buttons["nav-hello"]["location"] == ("Global", "nav")
    assert buttons["nav-hello"]["resource"] == "(Tiltfile)"
    assert buttons["nav-hello"]["inputs"] == [
        {"name": "NAME", "label": "", "input": "text", "default": "", "placeholder": "name"}
    ]
    assert buttons["env-dict"]["env"] == buttons["env-list"]["env"] == ["name=foo"]
    assert buttons["env-dict"]["location"] == ("Resource", "vigoda")
    assert [i["input"] for i in buttons["choice"]["inputs"]] == ["choice", "bool"]


@pytest.mark.parametrize(
    "snippet",
    [
        "local_resource('x', 'echo one string')",  # a string command runs under sh -c
        "local_resource('x', ('echo', 'tuple'), labels='one', links='localhost:1', env=None, auto_init=False)",
        "local_resource('x', 'true', links=[link('http://a', 'A'), 'http://b'], trigger_mode=TRIGGER_MODE_AUTO)",
        "k8s_yaml(['x.yaml'])\nk8s_resource(new_name='s', objects=['a'], auto_init=None, port_forwards=8000)",
        "update_settings(max_parallel_updates=None, k8s_upsert_timeout_secs=60)",
        "docker_build('img', '.', dockerfile=None, build_args=None, ignore='x', only=['y'], entrypoint='run')",
    ],
)
def test_stub_accepts_what_tilt_accepts(tmp_path, snippet):
    (tmp_path / "x.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    evaluate_snippet(tmp_path, snippet)


# -- the stub against Tilt's sources ------------------------------------------------------------------------

TILT_REPO, EXTENSIONS_REPO = "https://github.com/tilt-dev/tilt.git", "https://github.com/tilt-dev/tilt-extensions.git"

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
    **{name: "v1alpha1/types.go" for name in BUILTIN_PARAMS if name.startswith("v1alpha1.")},
}

# The stub's kind for each Go type a parameter is unpacked into. A raw starlark.Value is checked by a helper
# after unpacking; the stub names that helper's rule (VALUE_KINDS).
GO_KINDS = {
    "string": {"string"},
    "bool": {"bool"},
    "int": {"int"},
    "value.Name": {"name"},
    "value.Stringable": {"stringable"},
    "value.LocalPath": {"path"},
    "value.LocalPathList": {"paths"},
    "value.StringOrStringList": {"strings"},
    "value.StringList": {"string_list"},
    "starlark.Sequence": {"string_seq"},
    "value.StringStringMap": {"string_dict"},
    "value.LabelSet": {"labels"},
    "value.ImageList": {"image_list"},
    "value.Optional[starlark.Bool]": {"optional_bool"},
    "value.Optional[starlark.String]": {"optional_string"},
    "links.LinkList": {"links"},
    "triggerMode": {"trigger_mode"},
    "tiltfile_k8s.PodReadinessMode": {"pod_readiness"},
    "tiltfile_k8s.DiscoveryStrategy": {"discovery_strategy"},
    "probe.Probe": {"probe"},
    "Probe": {"probe"},
    "RestartOnSpec": {"unsupported"},
    "DisableSource": {"unsupported"},
    "UIHiddenInputSpec": {"unsupported"},
    "StartOnSpec": {"start_on"},
    "UIComponentLocation": {"ui_location"},
    "UIInputSpecList": {"ui_inputs"},
    "UITextInputSpec": {"ui_text"},
    "UIBoolInputSpec": {"ui_bool"},
    "UIChoiceInputSpec": {"ui_choice"},
    "starlark.Value": VALUE_KINDS,
    # A constructor parameter its type's Unpack has no branch for: any value is refused.
    "(refused by Unpack)": {"unsupported"},
}


def source_repo(variable: str, url: str) -> str:
    git_dir = os.environ.get(variable, "")
    enable = f"`git clone --bare {url} DIR && export {variable}=DIR` enables this check"
    require_tool("tilt-sources", bool(git_dir), f"{variable} is not set: {enable}")
    require_tool("tilt-sources", Path(git_dir).is_dir(), f"{variable}={git_dir} is not a directory: {enable}")
    return git_dir


@cache
def git_show(variable: str, url: str, path: str) -> str:
    git_dir = source_repo(variable, url)
    shown = subprocess.run(["git", "--git-dir", git_dir, "show", f"HEAD:{path}"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def tilt_source(path: str) -> str:
    return git_show("TILT_SOURCE_GIT", TILT_REPO, path)


def call_end(source: str, start: int) -> int:
    depth, end = 1, start
    while depth:
        depth += {"(": 1, ")": -1}.get(source[end], 0)
        end += 1
    return end


def unpack_calls(go_source: str) -> list[tuple[int, list[tuple[str, str]]]]:
    """Every unpackArgs/UnpackArgs call in a Go file: its offset and its ("name?", pointer expression) pairs."""
    calls = []
    for match in re.finditer(r"[uU]npackArgs\(", go_source):
        body = go_source[match.end() : call_end(go_source, match.end()) - 1]
        body = re.sub(r"//[^\n]*", "", body)
        words = [w.strip() for w in body.split(",") if w.strip()]
        first = next((i for i, w in enumerate(words) if w.startswith('"')), len(words))
        pairs = [(words[i].strip('"'), words[i + 1].lstrip("&")) for i in range(first, len(words) - 1, 2)]
        calls.append((match.start(), pairs))
    return calls


def declared_type(function: str, variable: str) -> str:
    """The Go type of a local variable, from its last declaration in the function's text."""
    found = None
    patterns = [
        (rf"var\s+(?:\w+\s*,\s*)*{variable}(?:\s*,\s*\w+)*\s+([A-Za-z_][\w.]*(?:\[[\w.]+\])?)", None),
        (rf"var\s+{variable}\s*=\s*([A-Za-z_][\w.]*(?:\[[\w.]+\])?)\{{", None),
        (rf"\b{variable}\s*:=\s*value\.NewLocalPathUnpacker\(", "value.LocalPath"),
        (rf"\b{variable}\s*:=\s*value\.NewLocalPathListUnpacker\(", "value.LocalPathList"),
        (rf"\b{variable}\s*:=\s*(?:true|false)\b", "bool"),
    ]
    for pattern, fixed in patterns:
        for match in re.finditer(pattern, function):
            if found is None or match.start() > found[0]:
                found = (match.start(), fixed or match.group(1))
    assert found, f"no declaration of {variable} in:\n{function[-1500:]}"
    return found[1]


def struct_field_type(struct: str, field: str) -> str:
    source = git_grep_struct(struct)
    match = re.search(rf"^\s*{field}\s+(\S+)", source, re.M)
    assert match, f"no field {field} in struct {struct}"
    return match.group(1).lstrip("*")


@cache
def git_grep_struct(struct: str) -> str:
    git_dir = source_repo("TILT_SOURCE_GIT", TILT_REPO)
    command = ["git", "--git-dir", git_dir, "grep", "-h", "-A80", f"^type {struct} struct", "HEAD", "--"]
    found = subprocess.run([*command, "pkg/apis/core/v1alpha1"], capture_output=True, text=True).stdout
    return found.split("\n}", 1)[0]


def unpacked_through(source: str, function: str, param: str) -> str:
    """v1alpha1 spec constructors take every parameter as a starlark.Value, put them in a dict and unpack it
    with their type's Unpack method: the branch for the key says what the value must be."""
    owner = re.search(r"var obj \*(\w+) = &", function)
    if not owner:
        return "starlark.Value"
    method = re.search(rf"func \(o \*{owner.group(1)}\) Unpack\(", source)
    assert method, owner.group(1)
    body = source[method.end() : source.index("\nfunc ", method.end())]
    branch = re.search(rf'if key == "{param}" \{{\n(.*?)\n\t\t\}}', body, re.S)
    if not branch:
        return "(refused by Unpack)"
    code = branch.group(1)
    for pattern, go_type in [(r"val\.\(starlark\.Bool\)", "bool"), (r"starlark\.AsString\(val\)", "string")]:
        if re.search(pattern, code):
            return go_type
    nested = re.search(r"var v (value\.\w+)|v := (\w+)\{", code)
    assert nested, code
    return nested.group(1) or nested.group(2)


def go_parameter_types(builtin: str) -> dict[str, str]:
    """Tilt's parameters for a builtin, each with the Go type it is unpacked into."""
    source = tilt_source(f"internal/tiltfile/{GO_SOURCES[builtin]}")
    wanted = BUILTIN_PARAMS[builtin]
    matching = [(offset, pairs) for offset, pairs in unpack_calls(source) if tuple(p for p, _ in pairs) == wanted]
    assert matching, f"no unpackArgs call in {GO_SOURCES[builtin]} takes exactly {wanted}"
    offset, pairs = matching[0]
    start = source.rfind("\nfunc ", 0, offset)
    function, whole_function = source[start:offset], source[start : source.find("\nfunc ", offset)]
    types = {}
    for param, pointer in pairs:
        if pointer.startswith("obj.ObjectMeta."):
            go_type = "string"
        elif pointer.startswith("obj.Spec."):
            kind = re.search(r"obj := &v1alpha1\.(\w+)\{", function).group(1)
            go_type = struct_field_type(f"{kind}Spec", pointer.removeprefix("obj.Spec."))
        else:
            go_type = declared_type(function, pointer)
        if go_type == "starlark.Value":
            go_type = unpacked_through(source, whole_function, param.rstrip("?"))
        types[param.rstrip("?")] = go_type
    return types


@pytest.mark.parametrize("builtin", sorted(set(BUILTIN_PARAMS) - {"k8s_context", "config.parse"}))
def test_builtin_parameters_and_types_are_tilts(builtin):
    source = tilt_source(f"internal/tiltfile/{GO_SOURCES[builtin]}")
    assert BUILTIN_PARAMS[builtin] in [tuple(p for p, _ in pairs) for _, pairs in unpack_calls(source)]
    go_types = go_parameter_types(builtin)
    for param, kind in SIGNATURES[builtin]:
        name = param.rstrip("?")
        assert go_types[name] in GO_KINDS, f"{builtin}({name}): no stub kind known for Go type {go_types[name]}"
        assert kind in GO_KINDS[go_types[name]], f"{builtin}({name}) is a {go_types[name]} in Tilt, not {kind}"


def test_every_kind_is_known():
    assert {kind for params in SIGNATURES.values() for _, kind in params} <= set(KINDS)


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
    real = signatures(git_show("TILT_EXTENSIONS_GIT", EXTENSIONS_REPO, f"{extension}/Tiltfile"))
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


def test_uibutton_stand_in_calls_what_the_extension_calls():
    """The extension builds buttons from v1alpha1.ui_button and v1alpha1.cmd; so does the stand-in, so Tilt's
    argument types for those apply to every button."""
    real = git_show("TILT_EXTENSIONS_GIT", EXTENSIONS_REPO, "uibutton/Tiltfile")
    ours = (EXT_DIR / "uibutton.star").read_text()
    calls = lambda text: set(re.findall(r"\b(v1alpha1\.\w+)\(", text))  # noqa: E731
    assert calls(ours) == calls(real)
    assert calls(real) <= set(BUILTIN_PARAMS)
