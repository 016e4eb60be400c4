"""Channel construction shared by the sync and asyncio clients: retries on UNAVAILABLE through the
gRPC service config (so every language's client can use the same policy), message limits, TLS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import grpc

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
                        "name": [{}],
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


def metadata(token: Optional[str]) -> Tuple[Tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()
