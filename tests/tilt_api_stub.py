"""Evaluate a Tiltfile without Tilt, for tests: starlark-pyo3 runs it against stand-ins for Tilt's builtins
that accept exactly Tilt's parameters and record what the Tiltfile declares.

Parameter lists are Tilt's own, read from tilt-dev/tilt v0.37 internal/tiltfile (the names each builtin hands
to unpackArgs) and cross-checked with the API reference (internal/tiltfile/api/__init__.py, docs.tilt.dev/api).
Binding follows go.starlark.net's UnpackArgs, which Tilt uses: parameters bind by position or keyword, a name
marked "?" and every later one are optional, "??" also treats None as absent, and the errors read as Tilt's.
The ext:// extensions are Starlark files in tests/tilt_ext/ with the extensions' own parameter lists.

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

_PARAMS = {
    "docker_build": "ref context build_args? dockerfile?? dockerfile_contents? cache? live_update? match_in_env_vars? "
    "ignore? only? entrypoint? container_args? target? ssh? secret? network? extra_tag? cache_from? pull? platform? "
    "extra_hosts?",
    "sync": "local_path remote_path",
    "run": "cmd trigger? echo_off?",
    "fall_back_on": "paths",
    "k8s_yaml": "yaml allow_duplicates?",
    "k8s_resource": "workload? new_name? port_forwards? extra_pod_selectors? trigger_mode? resource_deps? objects? "
    "auto_init? pod_readiness? links? labels? discovery_strategy?",
    "k8s_custom_deploy": "name apply_cmd delete_cmd deps image_selector? live_update? apply_dir? apply_env? "
    "apply_cmd_bat? delete_dir? delete_env? delete_cmd_bat? container_selector? image_deps?",
    "local_resource": "name cmd? deps? trigger_mode? resource_deps? ignore? auto_init? serve_cmd? cmd_bat? "
    "serve_cmd_bat? allow_parallel? links? labels? env? serve_env? readiness_probe? dir? serve_dir?",
    "allow_k8s_contexts": "contexts",
    "k8s_context": "",
    "update_settings": "max_parallel_updates? k8s_upsert_timeout_secs? suppress_unused_image_warnings? "
    "k8s_server_side_apply?",
    "read_file": "paths default?",
    "listdir": "dir recursive?",
    "link": "url name?",
    "warn": "msg",
    "config.define_string": "name args? usage?",
    "config.define_bool": "name args? usage?",
    "config.define_string_list": "name args? usage?",
    "config.parse": "",
    "os.getenv": "key default?",
    "os.path.exists": "path",
    "os.path.abspath": "path",
    "os.path.dirname": "path",
    "os.path.basename": "path",
}
BUILTIN_PARAMS = {name: tuple(spec.split()) for name, spec in _PARAMS.items()}


class TiltfileError(Exception):
    """What Tilt would report as a Tiltfile load error."""


def bind(fn: str, args: tuple, kwargs: dict) -> dict:
    """Bind a call's arguments to a builtin's parameters like go.starlark.net's UnpackArgs."""
    params = BUILTIN_PARAMS[fn]
    names = [p.rstrip("?") for p in params]
    if len(args) > len(names):
        raise TypeError(f"{fn}: got {len(args)} arguments, want at most {len(names)}")
    bound = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names:
            hint = "".join(f" (did you mean {n}?)" for n in difflib.get_close_matches(key, names, n=1))
            raise TypeError(f"{fn}: unexpected keyword argument {key}{hint}")
        if key in bound:
            raise TypeError(f"{fn}: got multiple values for keyword argument {key}")
        if value is None and params[names.index(key)].endswith("??"):
            continue
        bound[key] = value
    for param, name in zip(params, names, strict=True):
        if param.endswith("?"):
            break
        if name not in bound:
            raise TypeError(f"{fn}: missing argument for {name}")
    return bound


def as_list(value) -> list:
    """Tilt's "string or list of strings" parameters."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


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
            if key in settings and (not isinstance(settings[key], int) or settings[key] < 1):
                raise TypeError(f"update_settings: {key} must be a positive integer, got {settings[key]!r}")
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
        if "trigger_mode" in options and not isinstance(options["trigger_mode"], TriggerMode):
            raise TypeError("k8s_resource: trigger_mode must be TRIGGER_MODE_AUTO or TRIGGER_MODE_MANUAL")
        self.k8s_resource_calls.append(options)

    def k8s_custom_deploy(self, name, **options):
        self.custom_deploys[name] = options

    def local_resource(self, name, **options):
        if name in self.local_resources:
            raise TypeError(f"local_resource named {name!r} already exists")
        if not options.get("cmd") and not options.get("serve_cmd"):
            raise TypeError(f"local_resource {name!r}: must have a cmd and/or a serve_cmd, but both were empty")
        if "trigger_mode" in options and not isinstance(options["trigger_mode"], TriggerMode):
            raise TypeError("local_resource: trigger_mode must be TRIGGER_MODE_AUTO or TRIGGER_MODE_MANUAL")
        self.local_resources[name] = options

    def record(self, kind, **fields):
        self.records.setdefault(kind, []).append(fields)

    # -- evaluation ---------------------------------------------------------------------------------------
    def builtin(self, name, impl, wrap=None):
        def call(*args, **kwargs):
            bound = bind(name, args, kwargs)
            self.calls.append((name, bound))
            result = impl(**bound)
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
        }
        opaque = {"sync", "run", "fall_back_on", "link"}
        return {name: self.builtin(name, impl, wrap=name in opaque) for name, impl in impls.items()}

    def module(self) -> sl.Module:
        """A module holding Tilt's predeclared names: the builtins, the config/os namespaces, trigger modes."""
        module = sl.Module()
        for name, fn in self.builtins().items():
            module.add_callable(name.replace(".", "__"), fn)
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
"""
        sl.eval(module, sl.parse("<tilt predeclared>", namespaces, dialect()), globals_())
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
        return {button["name"]: button for button in self.records.get("button", [])}


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
