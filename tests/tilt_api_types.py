"""The argument types of Tilt's builtins, as its Go source declares them, for the Tiltfile stub.

Each builtin's parameters are listed in Tilt's order with the kind of value Tilt accepts. A kind is named after
the Go type the parameter is unpacked into (internal/tiltfile/value, links, k8s, v1alpha1 of tilt-dev/tilt), or,
where Tilt takes a raw starlark.Value and checks it afterwards, after the helper that does (VALUE_KINDS).
tests/test_tilt_api_stub.py reads Tilt's sources and checks every name and kind here against them.

Values arrive as starlark-pyo3 converts them (tuples become lists, structs dicts), so each check also gets the
Starlark type name the caller saw; messages follow go.starlark.net and Tilt ("got int, want string").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_SIGNATURES = {
    "docker_build": "ref:string context:path build_args?:string_dict dockerfile??:path dockerfile_contents?:any "
    "cache?:any live_update?:steps match_in_env_vars?:bool ignore?:strings_or_one only?:strings_or_one "
    "entrypoint?:cmd container_args?:string_seq target?:string ssh?:strings secret?:strings network?:stringable "
    "extra_tag?:strings cache_from?:strings pull?:bool platform?:stringable extra_hosts?:strings",
    "sync": "local_path:string remote_path:string",
    "run": "cmd:cmd trigger?:strings_or_one echo_off?:bool",
    "fall_back_on": "paths:paths",
    "k8s_yaml": "yaml:yaml allow_duplicates?:bool",
    "k8s_resource": "workload?:name new_name?:name port_forwards?:port_forwards extra_pod_selectors?:pod_selectors "
    "trigger_mode?:trigger_mode resource_deps?:string_seq objects?:string_seq auto_init?:optional_bool "
    "pod_readiness?:pod_readiness links?:links labels?:labels discovery_strategy?:discovery_strategy",
    "k8s_custom_deploy": "name:string apply_cmd:cmd delete_cmd:cmd deps:paths image_selector?:string "
    "live_update?:steps apply_dir?:dir apply_env?:string_dict apply_cmd_bat?:cmd delete_dir?:dir "
    "delete_env?:string_dict delete_cmd_bat?:cmd container_selector?:string image_deps?:image_list",
    "local_resource": "name:name cmd?:cmd deps?:paths trigger_mode?:trigger_mode resource_deps?:string_seq "
    "ignore?:strings_or_one auto_init?:bool serve_cmd?:cmd cmd_bat?:cmd serve_cmd_bat?:cmd allow_parallel?:bool "
    "links?:links labels?:labels env?:string_dict serve_env?:string_dict readiness_probe?:probe dir?:dir "
    "serve_dir?:dir",
    "allow_k8s_contexts": "contexts:strings_or_one",
    "k8s_context": "",
    "update_settings": "max_parallel_updates?:int_or_none k8s_upsert_timeout_secs?:int_or_none "
    "suppress_unused_image_warnings?:strings k8s_server_side_apply?:string",
    "read_file": "paths:path default?:optional_string",
    "listdir": "dir:path recursive?:bool",
    "link": "url:string name?:string",
    "warn": "msg:string",
    "config.define_string": "name:string args?:bool usage?:string",
    "config.define_bool": "name:string args?:bool usage?:string",
    "config.define_string_list": "name:string args?:bool usage?:string",
    "config.parse": "",
    "os.getenv": "key:stringable default?:any",
    "os.path.exists": "path:string",
    "os.path.abspath": "path:string",
    "os.path.dirname": "path:string",
    "os.path.basename": "path:string",
    # What ext://uibutton builds a button from (internal/tiltfile/v1alpha1/types.go).
    "v1alpha1.cmd": "name:string labels?:string_dict annotations?:string_dict args?:string_list dir?:path "
    "env?:string_list readiness_probe?:probe restart_on?:unsupported start_on?:start_on disable_source?:unsupported",
    "v1alpha1.ui_button": "name:string labels?:string_dict annotations?:string_dict location?:ui_location "
    "text?:string icon_name?:string icon_svg?:string disabled?:bool requires_confirmation?:bool inputs?:ui_inputs",
    "v1alpha1.start_on_spec": "start_after?:unsupported ui_buttons?:string_list",
    "v1alpha1.ui_input_spec": "name?:string label?:string text?:ui_text bool?:ui_bool hidden?:unsupported "
    "choice?:ui_choice",
    "v1alpha1.ui_bool_input_spec": "default_value?:bool true_string?:string false_string?:string",
    "v1alpha1.ui_text_input_spec": "default_value?:string placeholder?:string",
    "v1alpha1.ui_choice_input_spec": "choices?:string_list",
}


def _parse(spec: str) -> tuple[tuple[str, str], ...]:
    return tuple(tuple(item.split(":")) for item in spec.split())


SIGNATURES: dict[str, tuple[tuple[str, str], ...]] = {name: _parse(spec) for name, spec in _SIGNATURES.items()}
# Parameter names as Tilt hands them to UnpackArgs ("?" optional, "??" None counts as absent).
BUILTIN_PARAMS = {name: tuple(param for param, _ in params) for name, params in SIGNATURES.items()}


@dataclass(frozen=True)
class Arg:
    """One argument: its value as Python sees it and the type name Starlark gave it."""

    value: object
    starlark_type: str


class ArgTypeError(TypeError):
    pass


# -- the opaque values Tilt's own builtins return ------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    url: str
    name: str = ""


@dataclass(frozen=True)
class TriggerMode:
    name: str


@dataclass(frozen=True)
class Step:
    """A live_update step: kind is sync, run or fall_back_on."""

    kind: str
    args: dict


@dataclass(frozen=True)
class ApiObject:
    """What a v1alpha1.* constructor returns: its kind (ui_input_spec, ...) and its checked fields."""

    kind: str
    fields: dict


def type_name(arg: Arg) -> str:
    if arg.starlark_type != "opaque_python_object":
        return arg.starlark_type
    value = arg.value
    if isinstance(value, Step):
        return f"live_update_{value.kind}_step"
    if isinstance(value, ApiObject):
        return f"v1alpha1.{value.kind}"
    return {Link: "link", TriggerMode: "TriggerMode"}.get(type(value), type(value).__name__)


def _element(value: object) -> Arg:
    """A list element: starlark-pyo3 keeps no type name for it, so it is named from its Python type."""
    names = {str: "string", bool: "bool", int: "int", float: "float", type(None): "NoneType", list: "list"}
    return Arg(value, names.get(type(value), "dict" if isinstance(value, dict) else "opaque_python_object"))


def _one_or_many(arg: Arg) -> list[Arg]:
    """Tilt's ValueOrSequenceToSlice: a list or tuple gives its elements, anything else itself."""
    return [_element(v) for v in arg.value] if arg.starlark_type in ("list", "tuple") else [arg]


def _is_str(arg: Arg) -> bool:
    return arg.starlark_type == "string"


def _items(arg: Arg, what: str) -> list[Arg]:
    if arg.starlark_type not in ("list", "tuple"):
        raise ArgTypeError(f"value should be {what}, but is of type {type_name(arg)}")
    return [_element(v) for v in arg.value]


def _strings(items: list[Arg], message: str) -> None:
    for item in items:
        if not _is_str(item):
            raise ArgTypeError(message.format(value=item.value, type=type_name(item)))


# -- kinds -----------------------------------------------------------------------------------------------------


def _string(arg: Arg) -> None:
    if not _is_str(arg):
        raise ArgTypeError(f"got {type_name(arg)}, want string")


def _bool(arg: Arg) -> None:
    if arg.starlark_type != "bool":
        raise ArgTypeError(f"got {type_name(arg)}, want bool")


def _int(arg: Arg) -> None:
    if arg.starlark_type != "int":
        raise ArgTypeError(f"got {type_name(arg)}, want int")


def _int_or_none(arg: Arg) -> None:
    if arg.starlark_type not in ("int", "NoneType"):
        raise ArgTypeError(f"got {type_name(arg)}, want int")


def _stringable(arg: Arg) -> None:
    if not _is_str(arg):
        raise ArgTypeError(f"Value should be convertible to string, but is type {type_name(arg)}")


def _name(arg: Arg) -> None:
    _stringable(arg)
    # content.IsPathSegmentName: Tilt names must be valid path segments.
    if arg.value in (".", "..") or any(c in arg.value for c in "/%"):
        raise ArgTypeError(f"invalid value {arg.value!r}: may not be '.' or '..' or contain '/' or '%'")


def _path(arg: Arg) -> None:
    if not _is_str(arg):
        raise ArgTypeError(f"expected path | string. Actual type: {type_name(arg)}")


def _dir(arg: Arg) -> None:
    if arg.starlark_type != "NoneType" and not _is_str(arg):
        raise ArgTypeError(f"a command directory must be empty or a string: got {type_name(arg)}")


def _paths(arg: Arg) -> None:
    if _is_str(arg) or arg.starlark_type == "NoneType":
        return
    for index, item in enumerate(_items(arg, "a string or List or Tuple of strings")):
        if not _is_str(item):
            problem = f"expected path | string. Actual type: {type_name(item)}"
            raise ArgTypeError(f"unpacking list item at index {index}: {problem}")


def _strings_kind(arg: Arg) -> None:
    """value.StringOrStringList: a string, a list or tuple of strings, or None."""
    if _is_str(arg) or arg.starlark_type == "NoneType":
        return
    items = _items(arg, "a string or List or Tuple of strings")
    _strings(items, "list should contain only strings, but element {value!r} was of type {type}")


def _string_list(arg: Arg) -> None:
    """value.StringList: a list or tuple of strings, or None; a bare string is refused."""
    if arg.starlark_type == "NoneType":
        return
    items = _items(arg, "a List or Tuple of strings")
    _strings(items, "value should contain only strings, but element {value!r} was of type {type}")


def _string_seq(arg: Arg) -> None:
    """A starlark.Sequence read with value.SequenceToStringSlice (resource_deps, objects, container_args)."""
    if arg.starlark_type not in ("list", "tuple", "dict"):
        raise ArgTypeError(f"got {type_name(arg)}, want starlark.Sequence")
    _strings([_element(v) for v in arg.value], "'{value}' is a {type}, not a string")


def _strings_or_one(arg: Arg) -> None:
    """A raw value Tilt turns into strings with ValueOrSequenceToSlice: one string or a sequence of them."""
    if arg.starlark_type == "NoneType":
        return
    items = _one_or_many(arg)
    _strings(items, "must be a string or a sequence of strings; found a {type}")


def _string_dict(arg: Arg) -> None:
    if arg.starlark_type == "NoneType":
        return
    if arg.starlark_type != "dict":
        raise ArgTypeError(f"expected dict, got {type_name(arg)}")
    for key, value in arg.value.items():
        if not isinstance(key, str):
            raise ArgTypeError(f"key is not a string: {_element(key).starlark_type} ({key!r})")
        if not isinstance(value, str):
            raise ArgTypeError(f"value is not a string: {_element(value).starlark_type} ({value!r}) for key {key!r}")


_LABEL = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def _label(arg: Arg) -> None:
    _stringable(arg)
    text = arg.value
    if len(text) > 63 or not _LABEL.fullmatch(text) or "/" in text:
        raise ArgTypeError(f"Invalid label {text!r}: a label is at most 63 alphanumeric characters, '-', '_' or '.'")


def _labels(arg: Arg) -> None:
    if arg.starlark_type == "NoneType":
        return
    if _is_str(arg):
        _label(arg)
        return
    for item in _items(arg, "a label or List or Tuple of labels"):
        _label(item)


def _links(arg: Arg) -> None:
    if arg.starlark_type == "NoneType":
        return
    items = _one_or_many(arg)
    for item in items:
        if _is_str(item):
            if not item.value:
                raise ArgTypeError("url empty")
        elif not isinstance(item.value, Link):
            found = f"{item.value!r} ({type_name(item)})"
            raise ArgTypeError(f"Want a string, a link, or a sequence of these; found {found}")


def _trigger_mode(arg: Arg) -> None:
    if not isinstance(arg.value, TriggerMode):
        raise ArgTypeError(f"got {type_name(arg)}, want TriggerMode (TRIGGER_MODE_AUTO or TRIGGER_MODE_MANUAL)")


def _optional_bool(arg: Arg) -> None:
    if arg.starlark_type not in ("bool", "NoneType"):
        raise ArgTypeError(f"expected starlark.Bool or None, got {type_name(arg)}")


def _optional_string(arg: Arg) -> None:
    if arg.starlark_type not in ("string", "NoneType"):
        raise ArgTypeError(f"expected starlark.String or None, got {type_name(arg)}")


def _image_list(arg: Arg) -> None:
    _string_list(arg)


def _one_of(*allowed: str) -> Callable[[Arg], None]:
    def check(arg: Arg) -> None:
        if not _is_str(arg):
            raise ArgTypeError(f"Must be a string. Got: {type_name(arg)}")
        if arg.value not in allowed:
            raise ArgTypeError(f"Invalid value. Allowed: {', '.join(repr(a) for a in allowed)}. Got: {arg.value!r}")

    return check


def _cmd(arg: Arg) -> None:
    if arg.starlark_type in ("NoneType", "string"):
        return
    if arg.starlark_type not in ("list", "tuple"):
        raise ArgTypeError(f"a command must be a string or list of strings. found {type_name(arg)}")
    message = "a command must be a string or a list of strings: '{value}' is a {type}, not a string"
    _strings(_items(arg, "a list of strings"), message)


def _steps(arg: Arg) -> None:
    items = _one_or_many(arg)
    for item in items:
        if item.starlark_type != "NoneType" and not isinstance(item.value, Step):
            found = f"'{item.value}' of type {type_name(item)}"
            raise ArgTypeError(f"'steps' must be a list of live update steps - got value {found}")


def _yaml(arg: Arg) -> None:
    # k8s_yaml takes paths or blobs; the stub reads paths only.
    _strings_or_one(arg)


def _port_forwards(arg: Arg) -> None:
    items = _one_or_many(arg)
    for item in items:
        if item.starlark_type not in ("int", "string", "NoneType"):
            expected = "an int, a port_forward, or a sequence of those"
            raise ArgTypeError(f"port_forwards must be {expected}; is a {type_name(item)}")


def _pod_selectors(arg: Arg) -> None:
    items = _one_or_many(arg)
    for item in items:
        if item.starlark_type == "NoneType":
            continue
        if item.starlark_type != "dict":
            raise ArgTypeError(f"extra_pod_selectors must be a dict or a list of dicts; found {type_name(item)}")
        for key, value in item.value.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ArgTypeError(f"pod label keys and values must be strings; got {key!r}: {value!r}")


def _api_object(kind: str) -> Callable[[Arg], None]:
    def check(arg: Arg) -> None:
        if not (isinstance(arg.value, ApiObject) and arg.value.kind == kind):
            raise ArgTypeError(f"expected v1alpha1.{kind}(...), actual: {type_name(arg)}")

    return check


def _ui_location(arg: Arg) -> None:
    if arg.starlark_type != "dict":
        raise ArgTypeError(f"expected dict, actual: {type_name(arg)}")
    for key, value in arg.value.items():
        if key not in ("component_id", "component_type"):
            raise ArgTypeError(f"Unexpected attribute name: {key}")
        if not isinstance(value, str):
            raise ArgTypeError(f"{key}: Expected string, actual: {_element(value).starlark_type}")


def _ui_inputs(arg: Arg) -> None:
    # UIInputSpecList takes a list only, not a tuple.
    if arg.starlark_type != "list":
        raise ArgTypeError(f"expected list, actual: {type_name(arg)}")
    for index, item in enumerate(_element(v) for v in arg.value):
        if not (isinstance(item.value, ApiObject) and item.value.kind == "ui_input_spec"):
            expected = "an input (text_input, bool_input, ...)"
            raise ArgTypeError(f"at index {index}: expected {expected}, actual: {type_name(item)}")


def _unsupported(arg: Arg) -> None:
    raise ArgTypeError("the Tiltfile stub does not model this parameter; add it to tests/tilt_api_types.py")


KINDS: dict[str, Callable[[Arg], None]] = {
    "any": lambda arg: None,
    "string": _string,
    "stringable": _stringable,
    "name": _name,
    "bool": _bool,
    "int": _int,
    "int_or_none": _int_or_none,
    "path": _path,
    "paths": _paths,
    "dir": _dir,
    "strings": _strings_kind,
    "string_list": _string_list,
    "string_seq": _string_seq,
    "strings_or_one": _strings_or_one,
    "string_dict": _string_dict,
    "labels": _labels,
    "links": _links,
    "trigger_mode": _trigger_mode,
    "optional_bool": _optional_bool,
    "optional_string": _optional_string,
    "image_list": _image_list,
    "pod_readiness": _one_of("", "ignore", "wait", "succeeded"),
    "discovery_strategy": _one_of("", "default", "selectors-only"),
    "cmd": _cmd,
    "steps": _steps,
    "yaml": _yaml,
    "port_forwards": _port_forwards,
    "pod_selectors": _pod_selectors,
    "probe": _unsupported,
    "unsupported": _unsupported,
    "start_on": _api_object("start_on_spec"),
    "ui_location": _ui_location,
    "ui_inputs": _ui_inputs,
    "ui_text": _api_object("ui_text_input_spec"),
    "ui_bool": _api_object("ui_bool_input_spec"),
    "ui_choice": _api_object("ui_choice_input_spec"),
}
# Kinds of parameters Tilt unpacks as a raw starlark.Value and checks with its own helper afterwards
# (valueToCmdHelper, liveUpdateFromSteps, convertPortForwards, ...): the Go declaration says nothing more.
VALUE_KINDS = {"any", "cmd", "dir", "steps", "strings_or_one", "yaml", "port_forwards", "pod_selectors", "int_or_none"}


def check_arguments(fn: str, bound: dict[str, Arg]) -> None:
    """Refuse any argument whose type Tilt would refuse, naming the builtin and the parameter."""
    kinds = {param.rstrip("?"): kind for param, kind in SIGNATURES[fn]}
    for param, arg in bound.items():
        try:
            KINDS[kinds[param]](arg)
        except ArgTypeError as error:
            raise ArgTypeError(f"{fn}: for parameter {param}: {error}") from None
