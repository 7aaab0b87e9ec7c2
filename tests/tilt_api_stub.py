"""Evaluate a Tiltfile without Tilt, for tests: starlark-pyo3 runs it against stand-ins for Tilt's builtins
that accept exactly Tilt's parameters and record what the Tiltfile declares.

Parameter lists and argument types are Tilt's own (tests/tilt_api_types.py, read from tilt-dev/tilt v0.37
internal/tiltfile and checked against it by tests/test_tilt_api_stub.py). Binding follows go.starlark.net's
UnpackArgs, which Tilt uses: parameters bind by position or keyword, a name marked "?" and every later one are
optional, "??" also treats None as absent, and the errors read as Tilt's. Each builtin is a Starlark function
that hands its arguments to Python with the type names Starlark gave them, so a tuple, a struct or a bool is
told apart from a list, a dict or an int. The ext:// extensions are Starlark files in tests/tilt_ext/ with the
extensions' own parameter lists, building on the same builtins (uibutton on v1alpha1.cmd and ui_button).

After the Tiltfile runs, assemble() groups Kubernetes objects into resources the way Tilt does (a workload per
resource, Services joining the workload they select, k8s_resource objects= fragments, leftovers in
"uncategorized"), and fails as Tilt would on unknown resources, dependencies or a non-local kube context.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import starlark as sl
import yaml as pyyaml

from tests.tilt_api_types import BUILTIN_PARAMS, ApiObject, Arg, Link, Step, TriggerMode, check_arguments

__all__ = ["BUILTIN_PARAMS", "EXT_DIR", "Link", "Step", "TiltStub", "TiltfileError", "TriggerMode", "evaluate"]

EXT_DIR = Path(__file__).with_name("tilt_ext")
WORKLOAD_KINDS = {"deployment", "statefulset", "daemonset", "replicaset", "job", "cronjob", "pod"}
# clusterid.Product.IsDevCluster in Tilt, by kube context name (Tilt checks the cluster name, equal here).
DEV_CLUSTER_PREFIXES = (
    "minikube",
    "docker-desktop",
    "docker-for-desktop-cluster",
    "kind-",
    "microk8s",
    "api-crc-testing",
    "krucible-",
    "k3d-",
    "rancher-desktop",
    "colima",
)
DEV_CLUSTER_NAMES = {"kind", "orbstack"}


class TiltfileError(Exception):
    """What Tilt would report as a Tiltfile load error."""


def bind(fn: str, args: list[Arg], kwargs: dict[str, Arg]) -> dict[str, Arg]:
    """Bind a call's arguments to a builtin's parameters like go.starlark.net's UnpackArgs."""
    params = BUILTIN_PARAMS[fn]
    names = [p.rstrip("?") for p in params]
    if len(args) > len(names):
        raise TypeError(f"{fn}: got {len(args)} arguments, want at most {len(names)}")
    skips_none = {name for param, name in zip(params, names, strict=True) if param.endswith("??")}
    bound = {}
    for name, arg in zip(names, args, strict=False):
        if not (name in skips_none and arg.starlark_type == "NoneType"):
            bound[name] = arg
    given = set(names[: len(args)])
    for key, arg in kwargs.items():
        if key not in names:
            hint = "".join(f" (did you mean {n}?)" for n in difflib.get_close_matches(key, names, n=1))
            raise TypeError(f"{fn}: unexpected keyword argument {key}{hint}")
        if key in given:
            raise TypeError(f"{fn}: got multiple values for keyword argument {key}")
        given.add(key)
        if not (key in skips_none and arg.starlark_type == "NoneType"):
            bound[key] = arg
    for param, name in zip(params, names, strict=True):
        if param.endswith("?"):
            break
        if name not in given:
            raise TypeError(f"{fn}: missing argument for {name}")
    return bound


def as_list(value) -> list:
    """Tilt's "string or list of strings" parameters."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


@dataclass
class Resource:
    name: str
    kind: str  # k8s, local or custom_deploy (k8s_custom_deploy, e.g. helm_resource)
    labels: list[str] = field(default_factory=list)
    links: list = field(default_factory=list)
    resource_deps: list[str] = field(default_factory=list)
    objects: list[dict] = field(default_factory=list)
    options: dict = field(default_factory=dict)


def fragments(obj: dict) -> list[str]:
    """The names k8s_resource(objects=...) may use for an object: name[:kind[:namespace]], lower case."""
    meta = obj.get("metadata", {})
    name, kind, ns = meta.get("name", "").lower(), obj.get("kind", "").lower(), meta.get("namespace", "").lower()
    return [name, f"{name}:{kind}", f"{name}:{kind}:{ns}"]


def pod_labels(workload: dict) -> dict:
    spec = workload.get("spec", {})
    if workload["kind"].lower() == "cronjob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return spec.get("template", {}).get("metadata", {}).get("labels", {}) if "template" in spec else {}


def parse_flags(args: list[str], defs: dict[str, str]) -> dict:
    """Tilt's config.parse() over `tilt up -- ARGS` (spf13/pflag): --name=value, --name value, --bool."""
    settings, rest = {}, list(args)
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("--"):
            raise TiltfileError(
                f'invalid Tiltfile config args: positional CLI args ("{arg}") were specified, but none were expected.'
            )
        name, eq, value = arg[2:].partition("=")
        if name not in defs:
            raise TiltfileError(f"invalid Tiltfile config args: unknown flag: --{name}")
        if defs[name] == "bool":
            if eq and value not in ("true", "false"):
                raise TiltfileError(f'invalid Tiltfile config args: invalid argument "{value}" for "--{name}"')
            settings[name] = value != "false"
            continue
        if not eq:
            if not rest:
                raise TiltfileError(f"invalid Tiltfile config args: flag needs an argument: --{name}")
            value = rest.pop(0)
        settings[name] = [*settings.get(name, []), value] if defs[name] == "string_list" else value
    return settings


class TiltStub:
    """One evaluation of a Tiltfile: the builtins it sees and everything it declared."""

    def __init__(self, tiltfile: Path, args=(), context="orbstack", subcommand="up", environ=None):
        self.tiltfile = tiltfile.resolve()
        self.root = self.tiltfile.parent
        self.args, self.context, self.subcommand = list(args), context, subcommand
        self.environ = dict(environ or {})
        self.calls: list[tuple[str, dict]] = []
        self.images: dict[str, dict] = {}
        self.k8s_objects: list[dict] = []
        self.k8s_resource_calls: list[dict] = []
        self.custom_deploys: dict[str, dict] = {}
        self.local_resources: dict[str, dict] = {}
        self.records: dict[str, list[dict]] = {}
        self.api_objects: dict[str, dict[str, dict]] = {}
        self.config_defs: dict[str, str] = {}
        self.config_parsed = False
        self.allowed_contexts: list[str] = []
        self.settings: dict = {}
        self.warnings: list[str] = []
        self.files_read: list[Path] = []
        self.resources: dict[str, Resource] = {}

    # -- paths and values ---------------------------------------------------------------------------------
    def path(self, value: str) -> Path:
        return (self.root / value).resolve()

    def read_file(self, paths, default=None):
        path = self.path(paths)
        self.files_read.append(path)
        if not path.exists() and default is not None:
            return default
        return path.read_text()

    def listdir(self, dir, recursive=False):
        base = self.path(dir)
        found = base.rglob("*") if recursive else base.iterdir()
        return sorted(str(p) for p in found if p.is_file())

    # -- config, contexts, settings -----------------------------------------------------------------------
    def define(self, kind):
        def define_setting(name, args=False, usage=""):
            if self.config_parsed:
                raise TypeError(f"config.define_{kind} cannot be called after config.parse is called")
            if name in self.config_defs:
                raise TypeError(f"{name} defined multiple times")
            self.config_defs[name] = kind

        return define_setting

    def config_parse(self):
        self.config_parsed = True
        return parse_flags(self.args, self.config_defs)

    def allow_k8s_contexts(self, contexts):
        self.allowed_contexts += as_list(contexts)

    def update_settings(self, **settings):
        for key in ("max_parallel_updates", "k8s_upsert_timeout_secs"):
            if settings.get(key) is not None and settings[key] < 1:
                raise TypeError(f"update_settings: {key} must be >= 1, got {settings[key]!r}")
        self.settings.update(settings)

    # -- images and live update ---------------------------------------------------------------------------
    def docker_build(self, ref, context, live_update=(), dockerfile="Dockerfile", **options):
        if ref in self.images:
            raise TypeError(f"Image for ref {ref!r} has already been defined")
        context_dir = self.path(context)
        steps = list(live_update or [])
        self.check_live_update(steps, context_dir)
        self.images[ref] = {
            "ref": ref,
            "context": context_dir,
            "dockerfile": self.path(dockerfile),
            "live_update": steps,
            **options,
        }

    def check_live_update(self, steps: list, context_dir: Path) -> None:
        """Tilt's liveUpdateFromSteps ordering rules, plus syncs that must come from the build context."""
        order = {"fall_back_on": 0, "sync": 1, "run": 2}
        seen = 0
        for step in steps:
            if not isinstance(step, Step):
                raise TypeError(f"'steps' must be a list of live update steps - got value '{step}'")
            if order[step.kind] < seen:
                raise TypeError(
                    "fall_back_on steps must appear at the start of the list"
                    if step.kind == "fall_back_on"
                    else "all sync steps must precede all run steps"
                )
            seen = order[step.kind]
            if step.kind == "sync":
                local = Path(step.args["local_path"])
                if not local.is_relative_to(context_dir):
                    raise TypeError(f"live_update sync '{local}' is not a child of the build context {context_dir}")
                if not step.args["remote_path"].startswith("/"):
                    raise TypeError(f"sync remote path must be absolute: {step.args['remote_path']!r}")

    # -- Kubernetes ---------------------------------------------------------------------------------------
    def k8s_yaml(self, yaml, allow_duplicates=False):
        for item in as_list(yaml):
            path = self.path(item)
            self.files_read.append(path)
            for obj in pyyaml.safe_load_all(path.read_text()):
                if not obj:
                    continue
                obj = {**obj, "_source": path}
                duplicate = any(fragments(o)[2] == fragments(obj)[2] for o in self.k8s_objects)
                if duplicate and not allow_duplicates:
                    raise TypeError(f"k8s_yaml: duplicate object {fragments(obj)[2]} (from {path})")
                self.k8s_objects.append(obj)

    def k8s_resource(self, **options):
        workload, new_name = options.get("workload", ""), options.get("new_name", "")
        if not workload and not new_name:
            raise TypeError(
                "Resource name missing. Must give a name for an existing resource or a new_name "
                "to create a new resource."
            )
        self.k8s_resource_calls.append(options)

    def k8s_custom_deploy(self, name, **options):
        self.custom_deploys[name] = options

    def local_resource(self, name, **options):
        if name in self.local_resources:
            raise TypeError(f"local_resource named {name!r} already exists")
        if not options.get("cmd") and not options.get("serve_cmd"):
            raise TypeError(f"local_resource {name!r}: must have a cmd and/or a serve_cmd, but both were empty")
        self.local_resources[name] = options

    def record(self, kind, **fields):
        self.records.setdefault(kind, []).append(fields)

    # -- v1alpha1 objects (what ext://uibutton registers) --------------------------------------------------
    def register(self, kind: str, name: str, fields: dict) -> None:
        objects = self.api_objects.setdefault(kind, {})
        if name in objects:
            raise TypeError(f"{kind} {name!r} is already registered")
        objects[name] = fields

    def api_constructor(self, kind: str):
        def construct(**fields):
            return ApiObject(kind, fields)

        return construct

    # -- evaluation ---------------------------------------------------------------------------------------
    def builtin(self, name, impl, wrap=None):
        """The Python half of a builtin: gets the arguments and the Starlark type name of each."""

        def call(args, kwargs, arg_types, kwarg_types):
            typed_args = [Arg(value, kind) for value, kind in zip(args, arg_types, strict=True)]
            typed_kwargs = {key: Arg(value, kwarg_types[key]) for key, value in kwargs.items()}
            bound = bind(name, typed_args, typed_kwargs)
            check_arguments(name, bound)
            values = {key: arg.value for key, arg in bound.items()}
            self.calls.append((name, values))
            result = impl(**values)
            return sl.OpaquePythonObject(result) if wrap and result is not None else result

        return call

    def builtins(self) -> dict:
        step = lambda kind: lambda **a: Step(kind, a)  # noqa: E731
        impls = {
            "docker_build": self.docker_build,
            "sync": lambda local_path, remote_path: Step(
                "sync", {"local_path": str(self.path(local_path)), "remote_path": remote_path}
            ),
            "run": step("run"),
            "fall_back_on": lambda paths: Step("fall_back_on", {"paths": [str(self.path(p)) for p in as_list(paths)]}),
            "k8s_yaml": self.k8s_yaml,
            "k8s_resource": self.k8s_resource,
            "k8s_custom_deploy": self.k8s_custom_deploy,
            "local_resource": self.local_resource,
            "allow_k8s_contexts": self.allow_k8s_contexts,
            "k8s_context": lambda: self.context,
            "update_settings": self.update_settings,
            "read_file": self.read_file,
            "listdir": self.listdir,
            "link": lambda url, name="": Link(url, name),
            "warn": lambda msg: self.warnings.append(msg),
            "config.define_string": self.define("string"),
            "config.define_bool": self.define("bool"),
            "config.define_string_list": self.define("string_list"),
            "config.parse": self.config_parse,
            "os.getenv": lambda key, default=None: self.environ.get(key, default),
            "os.path.exists": lambda path: self.path(path).exists(),
            "os.path.abspath": lambda path: str(self.path(path)),
            "os.path.dirname": lambda path: str(Path(path).parent),
            "os.path.basename": lambda path: Path(path).name,
            "v1alpha1.cmd": lambda name, dir="", **fields: self.register(
                "cmd", name, {**fields, "dir": str(self.path(dir))}
            ),
            "v1alpha1.ui_button": lambda name, **fields: self.register("ui_button", name, fields),
        }
        specs = ("start_on_spec", "ui_input_spec", "ui_bool_input_spec", "ui_text_input_spec", "ui_choice_input_spec")
        impls.update({f"v1alpha1.{kind}": self.api_constructor(kind) for kind in specs})
        opaque = {"sync", "run", "fall_back_on", "link", *(f"v1alpha1.{kind}" for kind in specs)}
        return {name: self.builtin(name, impl, wrap=name in opaque) for name, impl in impls.items()}

    def module(self) -> sl.Module:
        """A module holding Tilt's predeclared names: the builtins, the config/os/v1alpha1 namespaces, trigger
        modes. Each builtin is a Starlark def forwarding to its Python half with the arguments' type names."""
        module = sl.Module()
        wrappers = []
        for name, fn in self.builtins().items():
            starlark_name = name.replace(".", "__")
            module.add_callable(f"_py_{starlark_name}", fn)
            wrappers.append(
                f"def {starlark_name}(*args, **kwargs):\n"
                f"    return _py_{starlark_name}(args, kwargs, [type(a) for a in args], "
                "{k: type(v) for k, v in kwargs.items()})\n"
            )
        module.add_callable("_stub_record", self.record)
        module["TRIGGER_MODE_AUTO"] = sl.OpaquePythonObject(TriggerMode("auto"))
        module["TRIGGER_MODE_MANUAL"] = sl.OpaquePythonObject(TriggerMode("manual"))
        module["_tilt_subcommand"] = self.subcommand
        module["_main_dir"] = str(self.root)
        module["_main_path"] = str(self.tiltfile)
        namespaces = """
config = struct(define_string=config__define_string, define_bool=config__define_bool,
                define_string_list=config__define_string_list, parse=config__parse,
                tilt_subcommand=_tilt_subcommand, main_dir=_main_dir, main_path=_main_path)
os = struct(getenv=os__getenv, name='posix',
            path=struct(exists=os__path__exists, abspath=os__path__abspath, dirname=os__path__dirname,
                        basename=os__path__basename))
v1alpha1 = struct(cmd=v1alpha1__cmd, ui_button=v1alpha1__ui_button, start_on_spec=v1alpha1__start_on_spec,
                  ui_input_spec=v1alpha1__ui_input_spec, ui_bool_input_spec=v1alpha1__ui_bool_input_spec,
                  ui_text_input_spec=v1alpha1__ui_text_input_spec,
                  ui_choice_input_spec=v1alpha1__ui_choice_input_spec)
"""
        source = "".join(wrappers) + namespaces
        sl.eval(module, sl.parse("<tilt predeclared>", source, dialect()), globals_())
        return module

    def load_extension(self, module_id: str) -> sl.FrozenModule:
        if not module_id.startswith("ext://"):
            raise TiltfileError(f"only ext:// loads are provided, not {module_id!r}")
        source = EXT_DIR / f"{module_id.removeprefix('ext://')}.star"
        if not source.exists():
            raise TiltfileError(f"no stand-in for extension {module_id!r} in {EXT_DIR}")
        module = self.module()
        sl.eval(module, sl.parse(module_id, source.read_text(), dialect()), globals_())
        return module.freeze()

    def evaluate(self) -> TiltStub:
        module = self.module()
        try:
            ast = sl.parse(str(self.tiltfile), self.tiltfile.read_text(), dialect())
            sl.eval(module, ast, globals_(), sl.FileLoader(self.load_extension))
        except sl.StarlarkError as error:
            raise TiltfileError(str(error)) from error
        self.assemble()
        return self

    # -- assembly -----------------------------------------------------------------------------------------
    def assemble(self) -> None:
        unresourced = list(self.k8s_objects)
        for obj in [o for o in unresourced if o["kind"].lower() in WORKLOAD_KINDS]:
            name = obj["metadata"]["name"]
            self.add_resource(Resource(name, "k8s", objects=[obj]))
            unresourced.remove(obj)
            labels = pod_labels(obj).items()
            selects = [o for o in unresourced if o["kind"] == "Service" and o.get("spec", {}).get("selector")]
            for svc in [o for o in selects if o["spec"]["selector"].items() <= labels]:
                self.resources[name].objects.append(svc)
                unresourced.remove(svc)
        for name, options in self.custom_deploys.items():
            self.add_resource(Resource(name, "custom_deploy", options=options))
        for options in self.k8s_resource_calls:
            unresourced = self.apply_k8s_resource(options, unresourced)
        for name, options in self.local_resources.items():
            deps = list(options.get("resource_deps") or [])
            links = list(options.get("links") or [])
            self.add_resource(Resource(name, "local", as_list(options.get("labels")), links, deps, options=options))
        if unresourced:
            self.add_resource(Resource("uncategorized", "k8s", objects=unresourced))
        for resource in self.resources.values():
            unknown = [dep for dep in resource.resource_deps if dep not in self.resources]
            if unknown:
                raise TiltfileError(f"resource {resource.name} specified a dependency on unknown resources {unknown}")
        self.check_images_used()
        self.check_context_allowed()

    def add_resource(self, resource: Resource) -> None:
        if resource.name in self.resources:
            raise TiltfileError(f"a resource named {resource.name!r} already exists")
        self.resources[resource.name] = resource

    def apply_k8s_resource(self, options: dict, unresourced: list[dict]) -> list[dict]:
        name = options.get("workload") or ""
        if not name:
            name = options["new_name"]
            self.add_resource(Resource(name, "k8s"))
        if name not in self.resources or self.resources[name].kind == "local":
            raise TiltfileError(
                f"k8s_resource specified unknown resource {name!r}. known k8s resources: "
                + ", ".join(n for n, r in self.resources.items() if r.kind != "local")
            )
        resource = self.resources[name]
        for fragment in as_list(options.get("objects")):
            matches = [o for o in unresourced if fragment.lower() in fragments(o)]
            if len(matches) != 1:
                raise TiltfileError(
                    f"No single object identified by the fragment {fragment!r} could be found in remaining YAML"
                )
            resource.objects.append(matches[0])
            unresourced = [o for o in unresourced if o is not matches[0]]
        resource.labels += [label for label in as_list(options.get("labels")) if label not in resource.labels]
        resource.links += as_list(options.get("links"))
        resource.resource_deps += list(options.get("resource_deps") or [])
        resource.options.update({k: v for k, v in options.items() if k not in ("workload", "objects")})
        return unresourced

    def check_images_used(self) -> None:
        in_yaml = {
            container.get("image", "").split(":")[0] for obj in self.k8s_objects for container in walk_containers(obj)
        }
        in_deploys = {ref for options in self.custom_deploys.values() for ref in options.get("image_deps") or []}
        for ref in self.images:
            if ref not in in_yaml | in_deploys:
                self.warnings.append(f"Image not used in any deploy config: {ref}")

    def check_context_allowed(self) -> None:
        if not any(r.kind != "local" for r in self.resources.values()):
            return
        dev = self.context in DEV_CLUSTER_NAMES or self.context.startswith(DEV_CLUSTER_PREFIXES)
        if not dev and self.context not in self.allowed_contexts:
            raise TiltfileError(f"Stop! {self.context} might be production.")

    # -- queries for tests --------------------------------------------------------------------------------
    def buttons(self) -> dict[str, dict]:
        """Each UIButton with the Cmd it starts (what ext://uibutton registers), flattened for tests."""
        cmds = self.api_objects.get("cmd", {})
        found = {}
        for name, button in self.api_objects.get("ui_button", {}).items():
            starters = [c for c in cmds.values() if name in started_by(c)]
            if len(starters) != 1:
                raise TiltfileError(f"button {name!r} starts {len(starters)} commands, not one")
            (cmd,) = starters
            location = button.get("location", {})
            found[name] = {
                "name": name,
                "resource": (cmd.get("annotations") or {}).get("tilt.dev/resource", ""),
                "location": (location.get("component_type", ""), location.get("component_id", "")),
                "argv": list(cmd.get("args") or []),
                "env": list(cmd.get("env") or []),
                "dir": cmd["dir"],
                "text": button.get("text", ""),
                "icon_name": button.get("icon_name", ""),
                "disabled": button.get("disabled", False),
                "requires_confirmation": button.get("requires_confirmation", False),
                "inputs": [input_fields(i) for i in button.get("inputs") or []],
            }
        return found


def started_by(cmd: dict) -> list[str]:
    start_on = cmd.get("start_on")
    return start_on.fields.get("ui_buttons", []) if start_on else []


def input_fields(spec: ApiObject) -> dict:
    """A button input as a flat dict: its name, label, what kind of input it is and that kind's settings."""
    fields = {"name": spec.fields.get("name", ""), "label": spec.fields.get("label", "")}
    for kind in ("text", "bool", "choice"):
        if kind in spec.fields:
            settings = spec.fields[kind].fields
            defaults = {"bool": False, "text": ""}.get(kind)
            return {
                **fields,
                "input": kind,
                "default": settings.get("default_value", defaults),
                **{k: v for k, v in settings.items() if k != "default_value"},
            }
    return {**fields, "input": "none"}


def walk_containers(obj: dict):
    spec = obj.get("spec", {})
    if obj.get("kind", "").lower() == "cronjob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    pod_spec = spec.get("template", {}).get("spec", {}) if "template" in spec else spec
    yield from pod_spec.get("initContainers", []) or []
    yield from pod_spec.get("containers", []) or []


def dialect() -> sl.Dialect:
    """Tilt's starlark-go options: top-level if/for allowed; no f-strings or type annotations."""
    options = sl.Dialect.standard()
    options.enable_top_level_stmt = True
    options.enable_keyword_only_arguments = True
    options.enable_lambda = True
    options.enable_f_strings = False
    options.enable_types = sl.DialectTypes.DISABLE
    return options


def globals_() -> sl.Globals:
    # `struct` is predeclared in Tilt; print is Starlark's own.
    return sl.Globals.extended_by([sl.LibraryExtension.StructType, sl.LibraryExtension.Print])


def evaluate(tiltfile: Path, args=(), context="orbstack", subcommand="up", environ=None) -> TiltStub:
    return TiltStub(tiltfile, args, context, subcommand, environ).evaluate()
