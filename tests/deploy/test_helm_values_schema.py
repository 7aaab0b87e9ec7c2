"""The values build-and-deploy.sh installs satisfy the chart's values.schema.json, as `helm upgrade`
checks them on a developer machine.

Helm cannot run that check here: the schema refers to Kubernetes definitions on raw.githubusercontent.com.
This test applies the same schema with jsonschema, answering those references from the Kubernetes schemas
bundled with kubernetes-validate (its oldest, v1.25, stands in for the v1.19 the chart names), to values
merged the way helm merges them: chart defaults, then each -f file, then --set.
"""

import json
import tarfile
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import referencing
import yaml

from tests.support.helm import chart_path, helm_upgrade_words, require_pinned_chart
from tests.support.project import REPO_ROOT, RUN_MODES

pytestmark = pytest.mark.helm

SUBCHART = "dagster-user-deployments"
REMOTE_DEFINITIONS = "https://raw.githubusercontent.com/yannh/kubernetes-json-schema/master/"
LOCAL_DEFINITIONS = (
    Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / "v1.25.0-local" / "_definitions.json"
)


@cache
def chart_file(relative: str) -> str:
    """A file of the chart, from its directory or from inside the .tgz (paths under `dagster/`)."""
    chart = Path(chart_path())
    if chart.is_dir():
        return (chart / relative).read_text()
    with tarfile.open(chart) as archive:
        return archive.extractfile(f"dagster/{relative}").read().decode()


def merge(base: dict, override: dict) -> dict:
    """Helm's coalescing: maps merge key by key, anything else replaces, null removes the key."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def set_value(values: dict, assignment: str) -> dict:
    """Apply one `--set a.b[0].c=v` (the only form the script uses) to a copy of `values`."""
    path, _, raw = assignment.partition("=")
    values = json.loads(json.dumps(values))
    node = values
    keys = path.split(".")
    for key in keys[:-1]:
        name, _, index = key.partition("[")
        node = node[name][int(index[:-1])] if index else node.setdefault(name, {})
    node[keys[-1]] = raw
    return values


def installed_values(run_mode: str) -> dict:
    _, _, args = helm_upgrade_words(run_mode)
    values = yaml.safe_load(chart_file("values.yaml"))
    for option, argument in zip(args[::2], args[1::2], strict=True):
        if option in {"-f", "--values"}:
            values = merge(values, yaml.safe_load((REPO_ROOT / argument).read_text()))
        elif option == "--set":
            values = set_value(values, argument)
    subchart_defaults = yaml.safe_load(chart_file(f"charts/{SUBCHART}/values.yaml"))
    values[SUBCHART] = merge(subchart_defaults, values[SUBCHART])
    values[SUBCHART]["global"] = merge(subchart_defaults.get("global", {}), values.get("global", {}))
    return values


def kubernetes_definitions(uri: str) -> referencing.Resource:
    assert uri.startswith(REMOTE_DEFINITIONS), f"unexpected remote schema {uri}"
    definitions = json.loads(LOCAL_DEFINITIONS.read_text())["$defs"]
    # The chart points into `#/definitions/...`, the bundled file's own references into `#/$defs/...`.
    contents = {"definitions": definitions, "$defs": definitions}
    return referencing.Resource.from_contents(contents, default_specification=referencing.jsonschema.DRAFT202012)


def validate(schema_text: str, values: dict) -> None:
    schema = json.loads(schema_text)
    registry = referencing.Registry(retrieve=kubernetes_definitions)
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    errors = sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


@pytest.mark.parametrize("run_mode", RUN_MODES)
def test_values_satisfy_the_chart_schema(run_mode):
    require_pinned_chart()
    values = installed_values(run_mode)
    validate(chart_file("values.schema.json"), values)
    validate(chart_file(f"charts/{SUBCHART}/values.schema.json"), values[SUBCHART])


def test_the_schema_check_catches_a_wrong_value():
    """Guards the test above against a registry or merge that silently accepts anything."""
    require_pinned_chart()
    values = installed_values("inprocess")
    values[SUBCHART]["deployments"][0]["port"] = "not-a-port"
    with pytest.raises(AssertionError, match="port"):
        validate(chart_file(f"charts/{SUBCHART}/values.schema.json"), values[SUBCHART])
    # Reaches the Kubernetes definitions through the remote reference.
    values = installed_values("inprocess")
    values[SUBCHART]["deployments"][0]["podSecurityContext"]["fsGroup"] = "staff"
    with pytest.raises(AssertionError, match="podSecurityContext"):
        validate(chart_file(f"charts/{SUBCHART}/values.schema.json"), values[SUBCHART])
    values = installed_values("inprocess")
    values["runLauncher"]["type"] = "NoSuchLauncher"
    with pytest.raises(AssertionError, match="runLauncher"):
        validate(chart_file("values.schema.json"), values)
