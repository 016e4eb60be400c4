"""Channel construction shared by the sync and asyncio clients: retries on UNAVAILABLE through the
gRPC service config, for the RPCs whose retry class allows it (artimeta/retries.py reads them from
the proto, as every language's client does), message limits, TLS."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import grpc

from artimeta.retries import retried_methods

DEFAULT_TIMEOUT_S = 30.0
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    backoff_multiplier: float = 2.0

    def service_config(self) -> str:
        return json.dumps(
            {
                "methodConfig": [
                    {
                        "name": [{"service": service, "method": method} for service, method in retried_methods()],
                        "retryPolicy": {
                            "maxAttempts": self.max_attempts,
                            "initialBackoff": f"{self.initial_backoff_s}s",
                            "maxBackoff": f"{self.max_backoff_s}s",
                            "backoffMultiplier": self.backoff_multiplier,
                            "retryableStatusCodes": ["UNAVAILABLE"],
                        },
                    }
                ]
            }
        )


def channel_options(retry: Optional[RetryPolicy], max_message_bytes: int) -> List[Tuple[str, Any]]:
    options: List[Tuple[str, Any]] = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", 60_000),
    ]
    if retry is not None:
        options += [("grpc.enable_retries", 1), ("grpc.service_config", retry.service_config())]
    else:
        options.append(("grpc.enable_retries", 0))
    return options


def tls_credentials(
    root_certificates: Optional[bytes], private_key: Optional[bytes], certificate_chain: Optional[bytes]
) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)


# Read when the matching argument is not given, so code that builds a client with a target
# alone (the adapters, scripts) runs unchanged against a server that wants TLS and a token.
ENV_TOKEN = "ARTIMETA_CLIENT_TOKEN"
ENV_TOKEN_FILE = "ARTIMETA_CLIENT_TOKEN_FILE"
ENV_CA_FILE = "ARTIMETA_CLIENT_CA_FILE"
ENV_CERT_FILE = "ARTIMETA_CLIENT_CERT_FILE"
ENV_KEY_FILE = "ARTIMETA_CLIENT_KEY_FILE"


def _read_file(path: Optional[str]) -> Optional[bytes]:
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


@dataclass(frozen=True)
class Transport:
    credentials: Optional[grpc.ChannelCredentials]
    token: TokenSource


def transport(
    *,
    token: Optional[str],
    token_file: Optional[str],
    root_certificates: Optional[bytes],
    private_key: Optional[bytes],
    certificate_chain: Optional[bytes],
    secure: Optional[bool],
) -> Transport:
    """TLS credentials and the token source, from the arguments, else ARTIMETA_CLIENT_* variables."""
    env = os.environ
    if token is None and token_file is None:
        token = env.get(ENV_TOKEN) or None
        token_file = env.get(ENV_TOKEN_FILE) or None
    if root_certificates is None:
        root_certificates = _read_file(env.get(ENV_CA_FILE))
    if certificate_chain is None and private_key is None:
        certificate_chain = _read_file(env.get(ENV_CERT_FILE))
        private_key = _read_file(env.get(ENV_KEY_FILE))
    use_tls = secure if secure is not None else bool(root_certificates or certificate_chain)
    creds = tls_credentials(root_certificates, private_key, certificate_chain) if use_tls else None
    return Transport(creds, TokenSource(token, token_file))


class TokenSource:
    """The bearer token sent with every call: fixed, or read from a file and read again whenever
    the file changes (Kubernetes projected service-account tokens and rotated Secrets)."""

    def __init__(self, token: Optional[str] = None, token_file: Optional[str] = None) -> None:
        if token and token_file:
            raise ValueError("pass token or token_file, not both")
        self._file = token_file
        self._lock = threading.Lock()
        self._stamp: Optional[Tuple[int, int]] = None
        self._metadata: Tuple[Tuple[str, str], ...] = metadata(token)
        if token_file:
            self.metadata()

    def metadata(self) -> Tuple[Tuple[str, str], ...]:
        if self._file is None:
            return self._metadata
        st = os.stat(self._file)
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            with self._lock:
                with open(self._file, encoding="utf-8") as f:
                    self._metadata = metadata(f.read().strip())
                self._stamp = stamp
        return self._metadata


def metadata(token: Optional[str]) -> Tuple[Tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()
