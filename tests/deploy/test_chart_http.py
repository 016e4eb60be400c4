"""The chart's HTTP port (Connect, gRPC-Web, /healthz, console) wired end to end: the setting the
server reads, the container port, the Service port, the NetworkPolicy, the readiness probe, and the
optional Ingress routing to that Service port; nothing of it when the port is off."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.test_chart import CHART, EXAMPLES, KUBE_VERSION, VALUES, _id, _values_args, helm, kinds

INGRESS = (
    "ingress.enabled=true",
    "ingress.hosts[0].host=meta.example.com",
    "ingress.hosts[0].paths[0].path=/",
    "ingress.hosts[0].paths[0].pathType=Prefix",
)
OFF_WITH_INGRESS = ("--set", "http.enabled=false", "--set", "ingress.enabled=true")


@functools.cache
def render(values: Path | None, *sets: str) -> list[dict[str, Any]]:
    args = [a for s in sets for a in ("--set", s)]
    out = subprocess.run(
        [helm(), "template", "r", str(CHART), "--kube-version", KUBE_VERSION, *_values_args(values), *args],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def _container(by_kind: dict[str, dict[str, Any]]) -> dict[str, Any]:
    container: dict[str, Any] = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    return container


@pytest.mark.parametrize("values", VALUES, ids=_id)
def test_http_port_is_wired_from_setting_to_ingress(values: Path | None) -> None:
    docs = render(values, *INGRESS)
    by_kind = kinds(docs)
    container = _container(by_kind)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    # The server listens where the container port says.
    listen = by_kind["ConfigMap"]["data"]["ARTIMETA_HTTP_LISTEN"]
    assert listen == f"0.0.0.0:{ports['http']}"
    # The Service exposes it by name, with the scheme the server speaks there.
    service = by_kind["Service"]
    [svc_port] = [p for p in service["spec"]["ports"] if p["name"] == "http"]
    assert svc_port["targetPort"] == "http"
    tls = by_kind["ConfigMap"]["data"]["ARTIMETA_PLAINTEXT"] == "false"
    assert svc_port["appProtocol"] == ("https" if tls else "http")
    # The Ingress routes every path of every host to that Service port.
    ingress = by_kind["Ingress"]
    kubernetes_validate.validate(ingress, KUBE_VERSION, strict=True)
    backends = [p["backend"]["service"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
    assert backends and all(b == {"name": service["metadata"]["name"], "port": {"name": "http"}} for b in backends)
    assert ingress["spec"]["rules"][0]["host"] == "meta.example.com"
    # A NetworkPolicy, when there is one, admits the HTTP port.
    if "NetworkPolicy" in by_kind:
        rules = by_kind["NetworkPolicy"]["spec"]["ingress"]
        assert any({"port": "http", "protocol": "TCP"} in r["ports"] for r in rules)
    # Readiness asks /healthz on that port, in the server's scheme, unless the kubelet would need
    # a client certificate (mutual TLS): then it stays on the plaintext gRPC health port.
    readiness = container["readinessProbe"]
    if "ARTIMETA_TLS_CLIENT_CA_FILE" in by_kind["ConfigMap"]["data"]:
        assert readiness["grpc"]["port"] == ports["health"]
    else:
        assert readiness["httpGet"] == {"path": "/healthz", "port": "http", "scheme": "HTTPS" if tls else "HTTP"}
    assert container["livenessProbe"]["grpc"]["port"] == ports["health"]


def test_production_example_ingress_reaches_the_https_backend() -> None:
    example = next(v for v in EXAMPLES if v.stem == "cnpg-minio")
    by_kind = kinds(render(example))
    ingress = by_kind["Ingress"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "HTTPS"
    assert ingress["spec"]["tls"][0]["hosts"] == ["artimeta.example.com"]
    rules = by_kind["NetworkPolicy"]["spec"]["ingress"]
    [http_rule] = [r for r in rules if {"port": "http", "protocol": "TCP"} in r["ports"]]
    assert http_rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]


def test_http_port_off_leaves_no_trace() -> None:
    by_kind = kinds(render(None, "http.enabled=false"))
    container = _container(by_kind)
    assert "ARTIMETA_HTTP_LISTEN" not in by_kind["ConfigMap"]["data"]
    assert "http" not in {p["name"] for p in container["ports"]}
    assert "http" not in {p["name"] for p in by_kind["Service"]["spec"]["ports"]}
    assert all(
        {"port": "http", "protocol": "TCP"} not in r["ports"] for r in by_kind["NetworkPolicy"]["spec"]["ingress"]
    )
    assert container["readinessProbe"]["grpc"]["port"] == 8081
    assert "Ingress" not in by_kind


def test_ingress_without_the_http_port_is_refused() -> None:
    out = subprocess.run(
        [helm(), "template", "r", str(CHART), "--kube-version", KUBE_VERSION, *OFF_WITH_INGRESS],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "ingress.enabled needs http.enabled" in out.stderr


def test_helm_lint_strict_with_the_ingress_on() -> None:
    args = [a for s in INGRESS for a in ("--set", s)]
    out = subprocess.run(
        [helm(), "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, *args], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
