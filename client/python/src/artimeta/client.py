"""`Client` (blocking) and `AsyncClient` (asyncio) for an artimeta server.

Both set a default deadline on every call, retry UNAVAILABLE with exponential backoff (gRPC
service config), and raise typed exceptions (`artimeta.NotFound`, ...) carrying the server's
ErrorInfo reason. Stubs of every service are available for calls the helpers do not cover.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Dict, Iterator, Mapping, Optional, Set, Tuple, TypeVar

import grpc

from artimeta._channel import (
    DEFAULT_TIMEOUT_S,
    MAX_MESSAGE_BYTES,
    RetryPolicy,
    channel_options,
    transport,
)
from artimeta.errors import AlreadyExists, NotFound, PermissionDenied, from_rpc_error
from artimeta.retries import AsyncRequestIdInterceptor, RequestIdInterceptor
from artimeta.v1 import namespace_pb2 as ns_pb
from artimeta.v1 import namespace_pb2_grpc as ns_grpc

if TYPE_CHECKING:
    from artimeta.handles import AsyncNamespaceHandle, NamespaceHandle

S = TypeVar("S")
DEFAULT_RETRY = RetryPolicy()
R = TypeVar("R")


class _Base:
    def __init__(
        self,
        target: str,
        *,
        timeout: float,
        token: Optional[str],
        token_file: Optional[str],
        root_certificates: Optional[bytes],
        private_key: Optional[bytes],
        certificate_chain: Optional[bytes],
        secure: Optional[bool],
    ) -> None:
        self.target = target
        self.timeout = timeout
        t = transport(
            token=token,
            token_file=token_file,
            root_certificates=root_certificates,
            private_key=private_key,
            certificate_chain=certificate_chain,
            secure=secure,
        )
        self._credentials = t.credentials
        self._token = t.token
        self._stubs: Dict[Any, Any] = {}
        # Namespaces this client saw exist: ensure_namespace() asks the server once per name.
        self._known_namespaces: Set[str] = set()
        self._handles: Dict[str, Any] = {}

    @property
    def _metadata(self) -> Tuple[Tuple[str, str], ...]:
        """Call metadata (the bearer token, re-read from its file when that changed)."""
        return self._token.metadata()

    def _deadline(self, timeout: Optional[float]) -> float:
        return self.timeout if timeout is None else timeout


def _missing(name: str) -> NotFound:
    return NotFound(
        f"namespace {name!r} does not exist and create_namespace=False: create it first "
        f"(client.create_namespace({name!r}) with a token holding the admin role on '*')",
        reason="NAMESPACE_NOT_FOUND",
        metadata={"namespace": name},
    )


def _cannot_create(name: str, err: PermissionDenied) -> PermissionDenied:
    """CreateNamespace needs the admin role on every namespace ("*"): say so, and for which name."""
    role = err.metadata.get("role") or "admin"
    return PermissionDenied(
        f"namespace {name!r} does not exist, and this token may not create it: creating a namespace "
        f"needs the {role} role on every namespace ('*'). Ask an operator to create {name!r}, or use a "
        f"token with that role ({err.message})",
        reason=err.reason or "PERMISSION_DENIED",
        metadata={**err.metadata, "namespace": name, "role": role, "scope": "*"},
    )


class Client(_Base):
    """A blocking client. Use as a context manager, or call close()."""

    def __init__(
        self,
        target: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: Optional[RetryPolicy] = DEFAULT_RETRY,
        token: Optional[str] = None,
        token_file: Optional[str] = None,
        root_certificates: Optional[bytes] = None,
        private_key: Optional[bytes] = None,
        certificate_chain: Optional[bytes] = None,
        secure: Optional[bool] = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        super().__init__(
            target,
            timeout=timeout,
            token=token,
            token_file=token_file,
            root_certificates=root_certificates,
            private_key=private_key,
            certificate_chain=certificate_chain,
            secure=secure,
        )
        options = channel_options(retry, max_message_bytes)
        if self._credentials is not None:
            channel = grpc.secure_channel(target, self._credentials, options=options)
        else:
            channel = grpc.insecure_channel(target, options=options)
        self.channel = grpc.intercept_channel(channel, RequestIdInterceptor())

    def stub(self, stub_class: Callable[[Any], S]) -> S:
        """A cached stub of any artimeta.v1 service on this client's channel."""
        stub = self._stubs.get(stub_class)
        if stub is None:
            stub = self._stubs[stub_class] = stub_class(self.channel)
        return stub

    def call(self, method: Callable[..., R], request: Any, *, timeout: Optional[float] = None) -> R:
        """Calls a unary stub method with this client's deadline and token; raises typed errors."""
        try:
            return method(request, timeout=self._deadline(timeout), metadata=self._token.metadata())
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    def stream(
        self, method: Callable[..., Iterator[R]], request: Any, *, timeout: Optional[float] = None
    ) -> Iterator[R]:
        """Calls a server-streaming stub method; raises typed errors while iterating."""
        try:
            yield from method(request, timeout=self._deadline(timeout), metadata=self._token.metadata())
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    def namespace(self, name: str) -> NamespaceHandle:
        """Namespace `name`'s services (`.graphs`, `.tags`, `.cache`, `.ops`, `.blobs`, `.records`),
        typed, on this client. Nothing is asked of the server until a method is called."""
        from artimeta.handles import NamespaceHandle

        handle = self._handles.get(name)
        if not isinstance(handle, NamespaceHandle):
            handle = self._handles[name] = NamespaceHandle(self, name)
        return handle

    # Namespaces

    @property
    def _ns(self) -> ns_grpc.NamespaceServiceStub:
        return self.stub(ns_grpc.NamespaceServiceStub)

    def create_namespace(
        self, name: str, *, description: str = "", labels: Optional[Mapping[str, str]] = None
    ) -> ns_pb.Namespace:
        spec = ns_pb.Namespace(name=name, description=description, labels=dict(labels or {}))
        return self.call(self._ns.CreateNamespace, ns_pb.CreateNamespaceRequest(namespace=spec)).namespace

    def get_namespace(self, name: str) -> ns_pb.Namespace:
        return self.call(self._ns.GetNamespace, ns_pb.GetNamespaceRequest(name=name)).namespace

    def list_namespaces(self, *, page_size: int = 0) -> Iterator[ns_pb.Namespace]:
        token = ""
        while True:
            page = self.call(
                self._ns.ListNamespaces, ns_pb.ListNamespacesRequest(page_size=page_size, page_token=token)
            )
            yield from page.namespaces
            token = page.next_page_token
            if not token:
                return

    def delete_namespace(self, name: str, *, allow_missing: bool = False) -> ns_pb.DeleteNamespaceResponse:
        self._known_namespaces.discard(name)
        return self.call(self._ns.DeleteNamespace, ns_pb.DeleteNamespaceRequest(name=name, allow_missing=allow_missing))

    def ensure_namespace(self, name: str, *, create: bool = True, description: str = "") -> None:
        """Makes sure namespace `name` exists, as every adapter does on first use: a missing one is
        created with one CreateNamespace (ALREADY_EXISTS, another process winning the race, counts
        as success). With `create=False` a missing namespace is NotFound. A token that may not
        create namespaces gets PermissionDenied naming the namespace and the missing role, and
        nothing is created. A name seen to exist is not asked about again by this client."""
        if name in self._known_namespaces:
            return
        try:
            self.get_namespace(name)
        except NotFound:
            if not create:
                raise _missing(name) from None
            try:
                self.create_namespace(name, description=description)
            except AlreadyExists:
                pass
            except PermissionDenied as err:
                raise _cannot_create(name, err) from None
        self._known_namespaces.add(name)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Base):
    """An asyncio client. Use with `async with`, or await close()."""

    def __init__(
        self,
        target: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: Optional[RetryPolicy] = DEFAULT_RETRY,
        token: Optional[str] = None,
        token_file: Optional[str] = None,
        root_certificates: Optional[bytes] = None,
        private_key: Optional[bytes] = None,
        certificate_chain: Optional[bytes] = None,
        secure: Optional[bool] = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        super().__init__(
            target,
            timeout=timeout,
            token=token,
            token_file=token_file,
            root_certificates=root_certificates,
            private_key=private_key,
            certificate_chain=certificate_chain,
            secure=secure,
        )
        options = channel_options(retry, max_message_bytes)
        interceptors = [AsyncRequestIdInterceptor()]
        if self._credentials is not None:
            self.channel = grpc.aio.secure_channel(
                target, self._credentials, options=options, interceptors=interceptors
            )
        else:
            self.channel = grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)

    def stub(self, stub_class: Callable[[Any], S]) -> S:
        stub = self._stubs.get(stub_class)
        if stub is None:
            stub = self._stubs[stub_class] = stub_class(self.channel)
        return stub

    async def call(self, method: Callable[..., Any], request: Any, *, timeout: Optional[float] = None) -> Any:
        try:
            return await method(request, timeout=self._deadline(timeout), metadata=self._token.metadata())
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    async def stream(
        self, method: Callable[..., Any], request: Any, *, timeout: Optional[float] = None
    ) -> AsyncIterator[Any]:
        try:
            async for item in method(request, timeout=self._deadline(timeout), metadata=self._token.metadata()):
                yield item
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    def namespace(self, name: str) -> AsyncNamespaceHandle:
        """`Client.namespace` on this asyncio client: the same services, methods awaited."""
        from artimeta.handles import AsyncNamespaceHandle

        handle = self._handles.get(name)
        if not isinstance(handle, AsyncNamespaceHandle):
            handle = self._handles[name] = AsyncNamespaceHandle(self, name)
        return handle

    @property
    def _ns(self) -> ns_grpc.NamespaceServiceStub:
        return self.stub(ns_grpc.NamespaceServiceStub)

    async def create_namespace(
        self, name: str, *, description: str = "", labels: Optional[Mapping[str, str]] = None
    ) -> ns_pb.Namespace:
        spec = ns_pb.Namespace(name=name, description=description, labels=dict(labels or {}))
        resp = await self.call(self._ns.CreateNamespace, ns_pb.CreateNamespaceRequest(namespace=spec))
        return resp.namespace  # type: ignore[no-any-return]

    async def get_namespace(self, name: str) -> ns_pb.Namespace:
        resp = await self.call(self._ns.GetNamespace, ns_pb.GetNamespaceRequest(name=name))
        return resp.namespace  # type: ignore[no-any-return]

    async def list_namespaces(self, *, page_size: int = 0) -> AsyncIterator[ns_pb.Namespace]:
        token = ""
        while True:
            page = await self.call(
                self._ns.ListNamespaces, ns_pb.ListNamespacesRequest(page_size=page_size, page_token=token)
            )
            for ns in page.namespaces:
                yield ns
            token = page.next_page_token
            if not token:
                return

    async def ensure_namespace(self, name: str, *, create: bool = True, description: str = "") -> None:
        """Client.ensure_namespace for asyncio."""
        if name in self._known_namespaces:
            return
        try:
            await self.get_namespace(name)
        except NotFound:
            if not create:
                raise _missing(name) from None
            try:
                await self.create_namespace(name, description=description)
            except AlreadyExists:
                pass
            except PermissionDenied as err:
                raise _cannot_create(name, err) from None
        self._known_namespaces.add(name)

    async def delete_namespace(self, name: str, *, allow_missing: bool = False) -> ns_pb.DeleteNamespaceResponse:
        self._known_namespaces.discard(name)
        resp = await self.call(
            self._ns.DeleteNamespace, ns_pb.DeleteNamespaceRequest(name=name, allow_missing=allow_missing)
        )
        return resp  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
