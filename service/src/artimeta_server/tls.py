"""Server TLS from files, re-read when they change: gRPC asks for the certificate configuration
on every new handshake, and gets a new one only when a file's mtime or size moved (cert-manager
and Kubernetes Secret volumes replace the files in place). A half-written pair is ignored and
the previous one kept until the next handshake."""

from __future__ import annotations

import logging
import os
import threading

import grpc

log = logging.getLogger("artimeta.tls")


class ReloadingCertificates:
    def __init__(self, cert_file: str, key_file: str, client_ca_file: str = "") -> None:
        self._files = [f for f in (cert_file, key_file, client_ca_file) if f]
        self._cert_file, self._key_file, self._ca_file = cert_file, key_file, client_ca_file
        self._lock = threading.Lock()
        self._stamp = self._stamps()
        self.initial = self._read()

    def _stamps(self) -> tuple[tuple[int, int], ...]:
        out = []
        for f in self._files:
            st = os.stat(f)
            out.append((st.st_mtime_ns, st.st_size))
        return tuple(out)

    def _read(self) -> grpc.ServerCertificateConfiguration:
        with open(self._key_file, "rb") as f:
            key = f.read()
        with open(self._cert_file, "rb") as f:
            chain = f.read()
        roots = None
        if self._ca_file:
            with open(self._ca_file, "rb") as f:
                roots = f.read()
        if b"PRIVATE KEY" not in key or b"CERTIFICATE" not in chain:
            raise ValueError("the TLS key or certificate file is not PEM")
        return grpc.ssl_server_certificate_configuration([(key, chain)], root_certificates=roots)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        try:
            with self._lock:
                stamp = self._stamps()
                if stamp == self._stamp:
                    return None
                config = self._read()
                self._stamp = stamp
            log.info("TLS certificate reloaded", extra={"cert_file": self._cert_file})
            return config
        except (OSError, ValueError) as exc:
            log.warning("TLS files unreadable, keeping the previous certificate: %s", exc)
            return None


def server_credentials(cert_file: str, key_file: str, client_ca_file: str = "") -> grpc.ServerCredentials:
    certs = ReloadingCertificates(cert_file, key_file, client_ca_file)
    return grpc.dynamic_ssl_server_credentials(
        certs.initial,
        certs.fetch,  # type: ignore[arg-type]  # returning None (= unchanged) is what gRPC documents
        require_client_authentication=bool(client_ca_file),
    )
