"""redun's backend on artimeta: `Scheduler(backend=ArtimetaBackend(target=..., namespace=...))`.

Values are serialized and hashed by redun's own type registry here, in the client; the server
stores bytes and never unpickles anything. The cache decision (CSE, ultimate and single
reduction) is one CheckCache round trip, and rows known to exist (content-addressed, immutable)
are not written twice by one process.
"""

from __future__ import annotations

import atexit
import contextlib
import weakref
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

import grpc
from redun.backends.base import RedunBackend, TagEntity
from redun.hashing import hash_call_node
from redun.tags import CONTEXT_KEY
from redun.task import CacheCheckValid, CacheResult, CacheScope
from redun.value import InvalidValueError, TypeRegistry

from artimeta import errors
from artimeta.adapters._redun_codec import CHECK, REASON, RESULT, RESULT_BACK, SCOPE, find_arg_upstreams
from artimeta.adapters._redun_jobs import HandlesAndJobs
from artimeta.adapters._redun_tags import TagsAndRecords
from artimeta.client import Client
from artimeta.handles import NamespaceHandle
from artimeta.v1 import cache_pb2 as cpb
from artimeta.v1 import cache_pb2_grpc

__all__ = ["ArtimetaBackend"]

# redun's own limit (RedunBackendDb.max_value_size default).
MAX_VALUE_SIZE = 1_000_000_000
# Writes in flight before the next one waits for them.
MAX_PENDING = 256


def _flush_at_exit(ref: weakref.ReferenceType[ArtimetaBackend]) -> None:
    backend = ref()
    if backend is not None:
        backend._flush_quietly()


# The parts come before RedunBackend so that their methods stand in for its abstract ones.
class ArtimetaBackend(TagsAndRecords, HandlesAndJobs, RedunBackend):  # type: ignore[misc]
    """A redun backend whose call graph, caches, jobs, handles and tags live in artimeta.

    `target` is "host:port", `namespace` the artimeta namespace (created on `load()` if missing).
    With `write_behind=True`, writes the scheduler does not read back at once are sent without
    waiting (awaited before this backend's next read, at the end of an execution and at exit):
    a replay costs about one round trip a task, but another process may briefly not see them.
    When redun builds the backend from its `[backend]` config section, `target` and `namespace`
    may come from its `artimeta_target` / `artimeta_namespace` keys; other keys are ignored.
    """

    def __init__(
        self,
        target: Optional[str] = None,
        namespace: Optional[str] = None,
        config: Optional[Any] = None,
        *,
        type_registry: Optional[TypeRegistry] = None,
        token: Optional[str] = None,
        root_certificates: Optional[bytes] = None,
        private_key: Optional[bytes] = None,
        certificate_chain: Optional[bytes] = None,
        secure: Optional[bool] = None,
        timeout: float = 60.0,
        create_namespace: bool = True,
        write_behind: bool = False,
    ) -> None:
        super().__init__(type_registry=type_registry)
        if config is not None:
            target = target or config.get("artimeta_target")
            namespace = namespace or config.get("artimeta_namespace")
        if not target or not namespace:
            raise ValueError("ArtimetaBackend needs target='host:port' and namespace='...'")
        self.target = target
        self.namespace = namespace
        self._client_options: Dict[str, Any] = dict(
            timeout=timeout,
            token=token,
            root_certificates=root_certificates,
            private_key=private_key,
            certificate_chain=certificate_chain,
            secure=secure,
        )
        self._create_namespace = create_namespace
        self.write_behind = write_behind
        self._client: Optional[Client] = None
        self._pending: List[Tuple[Any, bool]] = []
        # Content-addressed rows never change: what this process knows to exist is skipped.
        self._known_values: Set[str] = set()
        self._known_calls: Set[str] = set()
        self._subtrees: Dict[str, Set[str]] = {}
        # Starts of cached jobs not yet sent (job id -> request, with its start time): a cached job's end
        # usually follows at once, and RecordJobEnd creates a job whose start is missing.
        self._held_starts: Dict[str, cpb.RecordJobStartRequest] = {}
        # Jobs started and not yet ended: while one is open, its end (which waits for every write
        # in flight) is still to come, so writes on its way there need not be waited for one by one.
        self._open_jobs: Set[str] = set()
        # Writes still in flight when the interpreter exits are awaited, not dropped.
        atexit.register(_flush_at_exit, weakref.ref(self))

    # Connection

    def load(self, migrate: Optional[bool] = None) -> None:
        """Connects and makes sure the namespace exists; calling it again does nothing."""
        if self._client is not None:
            return
        client = Client(self.target, **self._client_options)
        try:
            client.ensure_namespace(
                self.namespace, create=self._create_namespace, description="redun call graph and cache"
            )
        except BaseException:
            client.close()
            raise
        self._client = client

    def close(self) -> None:
        if self._client is not None:
            self._send_held_starts()
            self.flush()
            self._client.close()
            self._client = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self.load()
        assert self._client is not None
        return self._client

    def _reading(self, *, job_starts: bool = True) -> NamespaceHandle:
        """The namespace's services once every write in flight has landed (and the held job
        starts, unless the read cannot see them: CheckCache only reads ended jobs)."""
        if job_starts:
            self._send_held_starts()
        self.flush()
        return self.client.namespace(self.namespace)

    def _send_held_starts(self) -> None:
        held, self._held_starts = self._held_starts, {}
        for request in held.values():
            self._write("RecordJobStart", request, deferred=True)

    def _write(self, rpc: str, request: Any, *, best_effort: bool = False, deferred: bool = False) -> None:
        """Calls CacheService's `rpc`: at once, or as a future awaited later: always when writing
        behind, and when `deferred` (a write whose awaiting the next synchronous write or read
        does, e.g. a job's call node, awaited with the job's end). The raw stub, since the typed
        methods wait for their answer."""
        client = self.client
        method = getattr(client.stub(cache_pb2_grpc.CacheServiceStub), rpc)
        if not self.write_behind and not deferred:
            if self._pending:
                # Sent beside the writes in flight, then every one of them awaited.
                self._pending.append(
                    (method.future(request, timeout=client.timeout, metadata=client._metadata), best_effort)
                )
                self.flush()
                return
            try:
                client.call(method, request)
            except errors.ArtimetaError:
                if not best_effort:
                    raise
            return
        fut = method.future(request, timeout=client.timeout, metadata=client._metadata)
        self._pending.append((fut, best_effort))
        if (deferred and not self.write_behind and not self._open_jobs) or len(self._pending) >= MAX_PENDING:
            self.flush()

    def _flush_quietly(self) -> None:
        with contextlib.suppress(Exception):  # at exit there is nobody left to tell
            self._send_held_starts()
            self.flush()

    def flush(self) -> None:
        """Waits for every write in flight; raises the first failure."""
        pending, self._pending = self._pending, []
        first: Optional[BaseException] = None
        for fut, best_effort in pending:
            try:
                fut.result()
            except grpc.RpcError as err:
                if not best_effort and first is None:
                    first = errors.from_rpc_error(err)
        if first is not None:
            raise first

    # Values

    def _serialize(self, value: Any, data: Optional[bytes] = None) -> cpb.CacheValue:
        registry = self.type_registry
        iface = registry.get_value(value)
        if data is None:
            data = iface.serialize()
        if len(data) > MAX_VALUE_SIZE:
            raise ValueError(f"value is too large ({len(data)} > {MAX_VALUE_SIZE} bytes) to store")
        return cpb.CacheValue(
            value_hash=iface.get_hash(data=data),
            type_name=registry.get_type_name(type(value)),
            format=iface.get_serialization_format(),
            data=data,
        )

    def _values(self, value: Any, data: Optional[bytes] = None) -> Tuple[str, List[cpb.CacheValue]]:
        """The hash of a value and the values (it and its subvalues) not yet known to exist."""
        main = self._serialize(value, data)
        if main.value_hash in self._known_values:
            return main.value_hash, []
        out = [main]
        for sub in self.type_registry.get_value(value).iter_subvalues():
            out.append(self._serialize(sub))
        return main.value_hash, [v for v in out if v.value_hash not in self._known_values]

    def _remember(self, values: Iterable[cpb.CacheValue]) -> None:
        self._known_values.update(v.value_hash for v in values)

    def record_value(self, value: Any, data: Optional[bytes] = None) -> str:
        value_hash, values = self._values(value, data)
        if values:
            self._write("RecordValues", cpb.RecordValuesRequest(namespace=self.namespace, values=values))
            self._remember(values)
        return value_hash

    def _deserialize(self, v: cpb.CacheValue) -> Tuple[Any, bool]:
        try:
            result = self.type_registry.deserialize(v.type_name, v.data)
        except InvalidValueError:
            return None, False
        self._known_values.add(v.value_hash)
        return result, True

    def get_value(self, value_hash: str) -> Tuple[Any, bool]:
        resp = self._reading().cache.get_values(value_hashes=[value_hash])
        if not resp.values:
            return None, False
        return self._deserialize(resp.values[0])

    # Call graph

    def record_call_node(
        self,
        task_name: str,
        task_hash: str,
        args_hash: str,
        expr_args: Tuple[Tuple[Any, ...], Dict[str, Any]],
        eval_args: Tuple[Tuple[Any, ...], Dict[str, Any]],
        result_hash: str,
        child_call_hashes: List[str],
        subtree_tasks: Iterable[Any] = (),
    ) -> str:
        call_hash: str = hash_call_node(task_hash, args_hash, result_hash, child_call_hashes)
        if call_hash in self._known_calls:
            return call_hash
        eval_pos, eval_kw = eval_args
        expr_pos, expr_kw = expr_args
        kw_keys = sorted(set(eval_kw) & set(expr_kw))
        entries: List[Tuple[Optional[int], Optional[str], Any, Any]] = [
            (i, None, e, v)
            for i, (e, v) in enumerate(zip(expr_pos, eval_pos))  # noqa: B905 - Python 3.9 has no strict=
        ]
        entries += [(None, k, expr_kw[k], eval_kw[k]) for k in kw_keys]
        entries += [(None, k, eval_kw[k], eval_kw[k]) for k in eval_kw if k not in expr_kw]
        values: List[cpb.CacheValue] = []
        arguments = []
        for position, key, expr_arg, eval_arg in entries:
            value_hash, new = self._values(eval_arg)
            values += new
            arguments.append(
                cpb.CallArgument(
                    position=position,
                    key=key,
                    value_hash=value_hash,
                    upstream_call_hashes=sorted(set(find_arg_upstreams(expr_arg))),
                )
            )
        subtree = {task_hash, *(t.hash for t in subtree_tasks)}
        request = cpb.RecordCallNodeRequest(
            namespace=self.namespace,
            task_name=task_name,
            task_hash=task_hash,
            args_hash=args_hash,
            result_hash=result_hash,
            child_call_hashes=child_call_hashes,
            arguments=arguments,
            subtree_task_hashes=sorted(subtree),
            values=list({v.value_hash: v for v in values}.values()),
        )
        if child_call_hashes:
            # Edges are written only to recorded children: the children's writes must land first.
            self.flush()
        # Inside a job, the job's end awaits it (nothing reads it back before); else at once.
        self._write("RecordCallNode", request, deferred=True)
        self._remember(values)
        self._known_calls.add(call_hash)
        self._subtrees[call_hash] = subtree
        return call_hash

    def get_subtree_tasks(self, call_hash: str) -> Set[str]:
        known = self._subtrees.get(call_hash)
        if known is not None:
            return set(known)
        try:
            resp = self._reading().cache.get_call_node(call_hash=call_hash)
        except errors.NotFound:
            return set()
        subtree = set(resp.subtree_task_hashes)
        self._subtrees[call_hash] = subtree
        return set(subtree)

    def record_call_node_context(self, call_hash: str, context_hash: Optional[str], context: dict) -> str:  # type: ignore[type-arg]
        if context_hash is None:
            context_hash = self.record_value(context)
        self.record_tags(TagEntity.CallNode, call_hash, [(CONTEXT_KEY, context_hash)])
        return context_hash

    # Cache

    def check_cache(
        self,
        task_hash: str,
        args_hash: str,
        eval_hash: str,
        execution_id: str,
        scheduler_task_hashes: Set[str],
        cache_scope: CacheScope,
        check_valid: CacheCheckValid,
        context_hash: Optional[str] = None,
        allowed_cache_results: Optional[Set[CacheResult]] = None,
    ) -> Tuple[Any, Optional[str], CacheResult]:
        if cache_scope == CacheScope.NONE:
            return None, None, CacheResult.MISS
        shallow = check_valid == CacheCheckValid.SHALLOW
        request = cpb.CheckCacheRequest(
            namespace=self.namespace,
            task_hash=task_hash,
            args_hash=args_hash,
            eval_hash=eval_hash,
            execution_id=execution_id,
            scheduler_task_hashes=sorted(scheduler_task_hashes) if shallow else [],
            scope=SCOPE[cache_scope],
            check=CHECK[check_valid],
            context_hash=context_hash,
            allowed_results=[RESULT[r] for r in (allowed_cache_results or ())],
        )
        if allowed_cache_results is not None and not allowed_cache_results:
            return None, None, CacheResult.MISS
        resp = self._reading(job_starts=False).cache.check_cache(request)
        kind = RESULT_BACK.get(resp.result, CacheResult.MISS)
        if kind == CacheResult.MISS:
            return None, None, CacheResult.MISS
        result, ok = self._deserialize(resp.value)
        if not ok:
            return None, None, CacheResult.MISS
        call_hash = resp.call_hash or None
        if call_hash:
            self._known_calls.add(call_hash)
            self._subtrees[call_hash] = set(resp.subtree_task_hashes)
        return result, call_hash, kind

    def set_eval_cache(
        self, eval_hash: str, task_hash: str, args_hash: str, value: Any, value_hash: Optional[str] = None
    ) -> None:
        request = cpb.SetEvalCacheRequest(
            namespace=self.namespace, eval_hash=eval_hash, task_hash=task_hash, args_hash=args_hash
        )
        serialized = self._serialize(value)
        if value_hash is None:
            value_hash = serialized.value_hash
        request.value_hash = value_hash
        if value_hash not in self._known_values and serialized.value_hash == value_hash:
            request.value.CopyFrom(serialized)
        self._write("SetEvalCache", request)
        self._known_values.add(value_hash)

    def explain_cache_miss(self, task: Any, args_hash: str) -> Optional[Dict[str, Any]]:
        resp = self._reading().cache.explain_cache_miss(
            task_name=task.fullname, task_hash=task.hash, args_hash=args_hash
        )
        reason = REASON.get(resp.reason)
        if reason is None:
            return None
        if reason == "new_call":
            return {"reason": reason}
        return {
            "reason": reason,
            "call_hash": resp.call_hash,
            "call_task_hash": resp.call_task_hash,
            "call_args_hash": resp.call_args_hash,
        }
