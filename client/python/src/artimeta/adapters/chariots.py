"""chariots' op store on artimeta: `ArtimetaOpStoreClient(target=..., namespace=...)`.

A drop-in for the op-store client chariots' pipelines and nodes call: the same methods
(get_all_versions_of_op, get_validated_links, get_op_bytes_for_version, save_op_bytes,
register_valid_link, pipeline_exists, register_new_pipeline) returning what chariots' client
returns, plus `post(route, json)` answering chariots' HTTP routes with their JSON shapes, so a
`BaseOpStoreClient` subclass can delegate to it. Versions are chariots' `Version` when chariots is
importable, else a compatible class defined here.

Where chariots' server has bugs the service does not copy them: versions are numbered against
the op's latest version, links and pipelines are idempotent, and failures raise artimeta's typed
errors (`FailedPrecondition` when saving bytes of an unregistered op or version, `NotFound` when
loading bytes that do not exist) instead of one generic error.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any, Callable, Dict, Optional, Set

from artimeta.client import Client
from artimeta.v1 import opstore_pb2 as pb

__all__ = ["ArtimetaOpStoreClient", "Version"]


class _Version:
    """chariots' Version: three sub-version hashes and a creation time. Equal when the hashes
    are; ordered by creation time; `str()` is "<major>.<minor>.<patch>_<creation_time>"."""

    def __init__(
        self,
        major: Optional[Any] = None,
        minor: Optional[Any] = None,
        patch: Optional[Any] = None,
        creation_time: Optional[float] = None,
    ) -> None:
        self._major = major or hashlib.sha1()  # chariots' version hashes are sha1
        self._minor = minor or hashlib.sha1()
        self._patch = patch or hashlib.sha1()
        self._creation_time = creation_time or time.time()

    @staticmethod
    def _hex(part: Any) -> str:
        return part if isinstance(part, str) else str(part.hexdigest())

    @property
    def major(self) -> str:
        return self._hex(self._major)

    @property
    def minor(self) -> str:
        return self._hex(self._minor)

    @property
    def patch(self) -> str:
        return self._hex(self._patch)

    @property
    def creation_time(self) -> float:
        return float(self._creation_time)

    def __eq__(self, other: object) -> bool:
        if not hasattr(other, "major"):
            return NotImplemented
        o: Any = other
        return bool(self.major == o.major and self.minor == o.minor and self.patch == o.patch)

    def __gt__(self, other: Any) -> bool:
        if self == other:
            return False
        return self.creation_time > float(other.creation_time)

    def __hash__(self) -> int:
        return hash(str(self))

    def __str__(self) -> str:
        return "_".join((".".join((self.major, self.minor, self.patch)), str(self._creation_time)))

    def __repr__(self) -> str:
        return f"<Version, major:{self.major[:5]}, minor: {self.minor[:5]}, patch: {self.patch[:5]}>"

    @classmethod
    def parse(cls, version_string: str) -> Any:
        hash_str, creation_time = version_string.split("_")
        major, minor, patch = hash_str.split(".")
        return cls(major, minor, patch, float(creation_time))


try:  # chariots' own class when it is installed, so its comparisons and `+` keep working
    from chariots.versioning import Version  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - chariots is not installable from PyPI
    Version = _Version


def _to_pb(version: Any) -> pb.OpVersion:
    if isinstance(version, str):
        version = Version.parse(version)
    return pb.OpVersion(
        major=version.major, minor=version.minor, patch=version.patch, creation_time=float(version.creation_time)
    )


def _version_string(v: pb.OpVersion) -> str:
    return str(Version(v.major, v.minor, v.patch, v.creation_time))


class ArtimetaOpStoreClient:
    """chariots' op-store client, backed by artimeta's OpStoreService in `namespace`."""

    def __init__(
        self,
        target: str,
        namespace: str,
        *,
        token: Optional[str] = None,
        root_certificates: Optional[bytes] = None,
        private_key: Optional[bytes] = None,
        certificate_chain: Optional[bytes] = None,
        secure: Optional[bool] = None,
        timeout: float = 60.0,
        create_namespace: bool = True,
    ) -> None:
        self.target = target
        self.namespace = namespace
        self._client = Client(
            target,
            timeout=timeout,
            token=token,
            root_certificates=root_certificates,
            private_key=private_key,
            certificate_chain=certificate_chain,
            secure=secure,
        )
        self.create_namespace = create_namespace
        self._ops = self._client.namespace(namespace).ops
        self._routes: Dict[str, Callable[[Dict[str, Any]], Any]] = {
            "/v1/get_all_versions_of_op": self._route_all_versions,
            "/v1/get_validated_links": self._route_validated_links,
            "/v1/get_op_bytes_for_version": self._route_get_bytes,
            "/v1/save_op_bytes": self._route_save_bytes,
            "/v1/register_valid_link": self._route_register_link,
            "/v1/pipeline_exists": self._route_pipeline_exists,
            "/v1/register_new_pipeline": self._route_register_pipeline,
        }

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ArtimetaOpStoreClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # chariots' HTTP routes, answered with their JSON shapes

    def post(self, route: str, arguments_json: Dict[str, Any]) -> Any:
        handler = self._routes.get(route)
        if handler is None:
            raise ValueError(f"unknown op store route {route!r}")
        # Every call comes through here: a missing namespace is created on the first one.
        self._client.ensure_namespace(self.namespace, create=self.create_namespace, description="chariots op store")
        return handler(arguments_json)

    def _route_all_versions(self, body: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        name = body["desired_op_name"]
        resp = self._ops.get_all_versions_of_op(op_name=name)
        if not resp.versions:
            return None
        return {"op_name": name, "all_versions": [_version_string(v) for v in resp.versions]}

    def _route_validated_links(self, body: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        resp = self._ops.get_validated_links(
            downstream_op_name=body["downstream_op_name"], upstream_op_name=body["upstream_op_name"]
        )
        if not resp.upstream_versions:
            return None
        return {
            "downstream_op_name": body["downstream_op_name"],
            "upstream_op_name": body["upstream_op_name"],
            "upstream_versions": [_version_string(v) for v in resp.upstream_versions],
        }

    def _route_get_bytes(self, body: Dict[str, Any]) -> Dict[str, Any]:
        resp = self._ops.get_op_bytes(op_name=body["desired_op_name"], version=_to_pb(body["version"]))
        return {
            "op_name": body["desired_op_name"],
            "op_version": _version_string(resp.version),
            "bytes": base64.b64encode(resp.op_bytes).decode("utf-8"),
        }

    def _route_save_bytes(self, body: Dict[str, Any]) -> Dict[str, Any]:
        self._ops.save_op_bytes(
            op_name=body["op_name"],
            version=_to_pb(body["version"]),
            op_bytes=base64.b64decode(body["bytes"].encode("utf-8")),
        )
        return {}

    def _route_register_link(self, body: Dict[str, Any]) -> Dict[str, Any]:
        self._ops.register_valid_link(
            downstream_op_name=body.get("downstream_op_name") or "",
            upstream_op_name=body["upstream_op_name"],
            upstream_version=_to_pb(body["upstream_op_version"]),
        )
        return {}

    def _route_pipeline_exists(self, body: Dict[str, Any]) -> Dict[str, Any]:
        resp = self._ops.pipeline_exists(pipeline_name=body["pipeline_name"])
        return {"exists": bool(resp.exists)}

    def _route_register_pipeline(self, body: Dict[str, Any]) -> Dict[str, Any]:
        self._ops.register_pipeline(pipeline_name=body["pipeline_name"], last_op_name=body["last_op_name"])
        return {}

    # The methods chariots' pipelines and nodes call (BaseOpStoreClient)

    def reload(self) -> None:
        """Nothing to reload: every call reads the service."""

    def save(self) -> None:
        """Nothing to save: every call writes the service."""

    def get_all_versions_of_op(self, desired_op: Any) -> Optional[Set[Any]]:
        response = self.post("/v1/get_all_versions_of_op", {"desired_op_name": desired_op.name})
        if not response:
            return None
        return {Version.parse(s) for s in response["all_versions"]}

    def get_validated_links(self, downstream_op_name: str, upstream_op_name: str) -> Optional[Set[Any]]:
        response = self.post(
            "/v1/get_validated_links",
            {"downstream_op_name": downstream_op_name, "upstream_op_name": upstream_op_name},
        )
        return {Version.parse(s) for s in response["upstream_versions"]} if response else None

    def get_op_bytes_for_version(self, desired_op: Any, version: Any) -> bytes:
        response = self.post(
            "/v1/get_op_bytes_for_version", {"desired_op_name": desired_op.name, "version": str(version)}
        )
        return base64.b64decode(response["bytes"].encode("utf-8"))

    def save_op_bytes(self, op_to_save: Any, version: Any, op_bytes: bytes) -> None:
        self.post(
            "/v1/save_op_bytes",
            {"op_name": op_to_save.name, "version": str(version), "bytes": base64.b64encode(op_bytes).decode("utf-8")},
        )

    def register_valid_link(
        self, downstream_op_name: Optional[str], upstream_op_name: str, upstream_op_version: Any
    ) -> None:
        self.post(
            "/v1/register_valid_link",
            {
                "downstream_op_name": downstream_op_name,
                "upstream_op_name": upstream_op_name,
                "upstream_op_version": str(upstream_op_version),
            },
        )

    def pipeline_exists(self, pipeline_name: str) -> bool:
        return bool(self.post("/v1/pipeline_exists", {"pipeline_name": pipeline_name})["exists"])

    def register_new_pipeline(self, pipeline: Any) -> None:
        for upstream_node, downstream_node in pipeline.get_all_op_links():
            if downstream_node is None:
                self.post(
                    "/v1/register_new_pipeline", {"pipeline_name": pipeline.name, "last_op_name": upstream_node.name}
                )
                return
        raise ValueError("did not manage to find last node of the pipeline")
