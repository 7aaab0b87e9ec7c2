"""Every manifest in k8s/ validates offline against the Kubernetes OpenAPI schemas (kubernetes-validate,
strict: unknown fields fail) and carries the properties the deployment depends on."""

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.support.project import REPO_ROOT, load_project_env

ENV = load_project_env()
# An older release a not-updated Docker Desktop may still run, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
MANIFEST_FILES = sorted((REPO_ROOT / "k8s").glob("*.yaml"))
LAYER_PVCS = {ENV["BRONZE_PVC"], ENV["SILVER_PVC"], ENV["GOLD_PVC"]}


def load(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def all_objects() -> list[dict]:
    return [obj for path in MANIFEST_FILES for obj in load(path)]


def by_kind(kind: str) -> dict[str, dict]:
    return {obj["metadata"]["name"]: obj for obj in all_objects() if obj["kind"] == kind}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: p.name)
def test_manifest_validates_strictly(path, version):
    objects = load(path)
    assert objects, f"{path.name} holds no object"
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


def test_expected_manifests_exist():
    names = {p.name for p in MANIFEST_FILES}
    assert {
        "namespace.yaml",
        "bronze-pvc.yaml",
        "silver-pvc.yaml",
        "gold-pvc.yaml",
        "postgres.yaml",
        "dagster-ui-nodeport.yaml",
        "bronze-seed-job.yaml",
    } <= names


def test_every_object_lives_in_the_project_namespace():
    for obj in all_objects():
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == ENV["NAMESPACE"]
        else:
            assert obj["metadata"]["namespace"] == ENV["NAMESPACE"], obj["metadata"]["name"]


def test_namespace_survives_tilt_down():
    (namespace,) = by_kind("Namespace").values()
    assert namespace["metadata"]["annotations"]["tilt.dev/down-policy"] == "keep"


@pytest.mark.parametrize("claim", sorted(LAYER_PVCS | {"postgres-pvc"}))
def test_pvc_is_rwo_on_the_default_class_and_kept(claim):
    pvc = by_kind("PersistentVolumeClaim")[claim]
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert "storageClassName" not in pvc["spec"]  # absent = the cluster's default class
    annotations = pvc["metadata"]["annotations"]
    assert annotations["helm.sh/resource-policy"] == "keep"
    assert annotations["tilt.dev/down-policy"] == "keep"


def test_ui_nodeport_service():
    service = by_kind("Service")["dagster-ui-nodeport"]
    assert service["spec"]["type"] == "NodePort"
    (port,) = service["spec"]["ports"]
    assert port["nodePort"] == int(ENV["UI_NODE_PORT"])
    assert 30000 <= port["nodePort"] <= 32767  # the default NodePort range
    assert service["spec"]["selector"]["app.kubernetes.io/instance"] == ENV["HELM_RELEASE"]


def test_postgres_uses_the_official_image_and_the_chart_secret():
    statefulset = by_kind("StatefulSet")["postgres"]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    repository, _, tag = container["image"].rpartition(":")
    assert repository == "docker.io/library/postgres"
    assert tag and tag != "latest"
    # One pod at a time on the data directory: a replacement starts only once the old pod is gone.
    assert statefulset["spec"]["replicas"] == 1
    password = next(e for e in container["env"] if e["name"] == "POSTGRES_PASSWORD")
    secret_ref = password["valueFrom"]["secretKeyRef"]
    helm_values = yaml.safe_load((REPO_ROOT / "helm" / "values.yaml").read_text())
    assert secret_ref == {"name": helm_values["global"]["postgresqlSecretName"], "key": "postgresql-password"}
    assert secret_ref["name"] in by_kind("Secret")
    claims = [v["persistentVolumeClaim"]["claimName"] for v in statefulset["spec"]["template"]["spec"]["volumes"]]
    assert claims == ["postgres-pvc"]


def test_images_are_official_or_our_own():
    images = {
        container["image"]
        for obj in all_objects()
        if obj["kind"] in {"Deployment", "StatefulSet", "Job"}
        for container in obj["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"docker.io/library/postgres:17-bookworm", f"{ENV['IMAGE']}:latest"}
