"""The Helm chart, validated offline: `helm lint --strict` and `helm template` for the default
values and every example, each rendered manifest checked against the Kubernetes API schemas
(kubernetes-validate, strict), and the security context, probes, hooks and wiring asserted.
Helm is built from source once into ~/.cache/artimeta/helm/<version>/ (scripts/ensure-helm.sh);
without Go the module is skipped and says why."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "artimeta"
EXAMPLES = sorted((ROOT / "deploy" / "helm" / "examples").glob("*.yaml"))
KUBE_VERSION = "1.37.0"
VALUES = [None, *EXAMPLES]


@functools.cache
def helm() -> str:
    out = subprocess.run(["bash", str(ROOT / "scripts" / "ensure-helm.sh")], capture_output=True, text=True)
    if out.returncode == 3:
        pytest.skip(f"chart checks skipped: {out.stderr.strip()} (install Go to build helm)")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def _values_args(values: Path | None) -> list[str]:
    return ["-f", str(values)] if values else []


def _id(values: Path | None) -> str:
    return values.stem if values else "defaults"


@functools.cache
def render(values: Path | None) -> list[dict[str, Any]]:
    out = subprocess.run(
        [helm(), "template", "r", str(CHART), "--kube-version", KUBE_VERSION, *_values_args(values)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def kinds(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs}


@pytest.mark.parametrize("values", VALUES, ids=_id)
def test_helm_lint_strict(values: Path | None) -> None:
    out = subprocess.run(
        [helm(), "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, *_values_args(values)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


# ServiceMonitor is a Prometheus-operator CRD, outside the Kubernetes API schemas: checked here
# for the fields the operator needs.
def _check_service_monitor(doc: dict[str, Any], service: dict[str, Any]) -> None:
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    spec = doc["spec"]
    assert set(spec) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}
    assert spec["selector"]["matchLabels"].items() <= service["spec"]["selector"].items()
    port_names = {p["name"] for p in service["spec"]["ports"]}
    for ep in spec["endpoints"]:
        assert ep["port"] in port_names and ep["path"] == "/metrics"


@pytest.mark.parametrize("values", VALUES, ids=_id)
def test_rendered_manifests_match_the_kubernetes_schemas(values: Path | None) -> None:
    docs = render(values)
    by_kind = kinds(docs)
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":
            _check_service_monitor(doc, by_kind["Service"])
            continue
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


@pytest.mark.parametrize("values", VALUES, ids=_id)
def test_pods_are_locked_down(values: Path | None) -> None:
    by_kind = kinds(render(values))
    for kind in ("Deployment", "Job"):
        pod = by_kind[kind]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
            # A read-only root needs a writable /tmp for the per-worker metric files.
            assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"])


@pytest.mark.parametrize("values", VALUES, ids=_id)
def test_native_grpc_probes_on_the_health_port(values: Path | None) -> None:
    by_kind = kinds(render(values))
    container = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = by_kind["ConfigMap"]["data"]
    assert config["ARTIMETA_HEALTH_LISTEN"].endswith(f":{ports['health']}")
    assert config["ARTIMETA_LISTEN"].endswith(f":{ports['grpc']}")
    assert config["ARTIMETA_METRICS_LISTEN"].endswith(f":{ports['metrics']}")
    assert container["livenessProbe"]["grpc"]["port"] == ports["health"]
    # Readiness is the HTTP /healthz when the HTTP port is on (tests/deploy/test_chart_http.py).
    readiness = container["readinessProbe"]
    assert readiness.get("grpc", {}).get("port") == ports["health"] or readiness["httpGet"]["port"] == "http"


@pytest.mark.parametrize("values", VALUES, ids=_id)
def test_migration_runs_as_a_hook_before_the_pods(values: Path | None) -> None:
    by_kind = kinds(render(values))
    job = by_kind["Job"]
    hook = job["metadata"]["annotations"]
    assert set(hook["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    # Its configuration exists before it runs: hooks of a lower weight.
    for kind in ("ConfigMap", *(["Secret"] if "Secret" in by_kind else [])):
        annotations = by_kind[kind]["metadata"]["annotations"]
        assert "pre-install" in annotations["helm.sh/hook"]
        assert int(annotations["helm.sh/hook-weight"]) < int(hook["helm.sh/hook-weight"])
    deploy_env = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert job["spec"]["template"]["spec"]["containers"][0]["envFrom"] == deploy_env


def test_production_examples_keep_tls_and_auth() -> None:
    for values in EXAMPLES:
        if values.stem.startswith("local"):
            continue
        by_kind = kinds(render(values))
        config = by_kind["ConfigMap"]["data"]
        assert config["ARTIMETA_PLAINTEXT"] == "false"
        assert config.get("ARTIMETA_AUTH", "tokens") == "tokens"
        assert {"PodDisruptionBudget", "NetworkPolicy", "Service"} <= by_kind.keys()


def test_cloudnativepg_example_takes_the_dsn_from_the_operator_secret() -> None:
    by_kind = kinds(render(ROOT / "deploy" / "helm" / "examples" / "cnpg-minio.yaml"))
    env = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]
    dsn = next(e for e in env if e["name"] == "ARTIMETA_DATABASE_URL")
    assert dsn["valueFrom"]["secretKeyRef"] == {"name": "artimeta-db-app", "key": "uri"}
    assert "Secret" not in by_kind  # the S3 keys come from an existing Secret
    assert {"HorizontalPodAutoscaler", "ServiceMonitor"} <= by_kind.keys()


@pytest.mark.parametrize(("example", "limit"), [("citus", 200), ("minio-distributed", 100)])
def test_scale_out_examples_stay_inside_the_database_connection_budget(example: str, limit: int) -> None:
    # replicas at most x workers x pool max, against the max_connections the example assumes
    # (docs/scaling.md, "Connections").
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "examples" / f"{example}.yaml").read_text())
    by_kind = kinds(render(ROOT / "deploy" / "helm" / "examples" / f"{example}.yaml"))
    pods = by_kind["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] if "HorizontalPodAutoscaler" in by_kind else 0
    pods = max(pods, by_kind["Deployment"]["spec"].get("replicas", 0))
    workers = int(values.get("workers", 1))
    pool = int(by_kind["ConfigMap"]["data"]["ARTIMETA_DB_POOL_MAX"])
    assert pods * workers * pool <= limit, (pods, workers, pool)


def _helm_test_pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pods = [d for d in docs if d["kind"] == "Pod" and d["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    assert len(pods) == 1, [d["metadata"]["name"] for d in pods]
    return pods[0]


@pytest.mark.parametrize("values", VALUES, ids=_id)
def test_helm_test_probes_grpc_health_through_the_service(values: Path | None) -> None:
    docs = render(values)
    by_kind = kinds(docs)
    pod = _helm_test_pod(docs)
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    (probe,) = spec["containers"]
    assert probe["image"].startswith("ghcr.io/grpc-ecosystem/grpc-health-probe")
    assert not probe["image"].endswith(":latest") and ("@sha256:" in probe["image"] or ":v" in probe["image"])
    assert probe["securityContext"]["readOnlyRootFilesystem"] is True
    assert probe["securityContext"]["capabilities"]["drop"] == ["ALL"]
    args = dict(a.split("=", 1) if "=" in a else (a, "") for a in probe["args"])
    service = by_kind["Service"]
    grpc_port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc")
    assert args["-addr"] == f"{service['metadata']['name']}.default.svc:{grpc_port}"
    tls = by_kind["ConfigMap"]["data"]["ARTIMETA_PLAINTEXT"] == "false"
    assert ("-tls" in args) == tls
    assert ("-tls-no-verify" not in args) and ("-tls-client-cert" in args) == (
        "ARTIMETA_TLS_CLIENT_CA_FILE" in by_kind["ConfigMap"]["data"]
    )
    if "-tls-ca-cert" in args:
        # Only the CA of the server's Secret is mounted, never its key.
        (ca,) = [v for v in spec["volumes"] if v["name"] == "ca"]
        assert [i["key"] for i in ca["secret"]["items"]] == [Path(args["-tls-ca-cert"]).name]
    # Apart from the server's selector: its ReplicaSet would adopt the ownerless pod otherwise.
    selector = by_kind["Deployment"]["spec"]["selector"]["matchLabels"]
    assert not selector.items() <= pod["metadata"]["labels"].items()
    # Where the NetworkPolicy narrows who may call the gRPC port, the test pod is among them.
    policy = by_kind.get("NetworkPolicy")
    if policy is not None:
        grpc_rule = next(r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == "grpc")
        sources = [s.get("podSelector", {}).get("matchLabels", {}) for s in grpc_rule.get("from", [{}])]
        assert "from" not in grpc_rule or any(s and s.items() <= pod["metadata"]["labels"].items() for s in sources)


def test_helm_test_with_mutual_tls_needs_a_client_certificate() -> None:
    mtls = [helm(), "template", "r", str(CHART), "--kube-version", KUBE_VERSION, "--set", "tls.clientCASecretName=ca"]
    out = subprocess.run(mtls, capture_output=True, text=True)
    assert out.returncode != 0 and "test.clientCertSecretName" in out.stderr
    disabled = subprocess.run([*mtls, "--set", "test.enabled=false"], capture_output=True, text=True)
    assert disabled.returncode == 0, disabled.stderr
    assert not [d for d in yaml.safe_load_all(disabled.stdout) if d and d["kind"] == "Pod"]
