"""JWT verification against a JWKS file (an OIDC provider's keys, or a Kubernetes cluster's
service-account issuer keys), re-read when the file changes. Roles come from a claim holding
`<namespace>:<role>` strings, e.g. {"artimeta_roles": ["team-a:writer", "*:reader"]}."""

from __future__ import annotations

import os
import threading

import jwt

from artimeta_server.domain.auth.models import Grant, Principal, parse_grant
from artimeta_server.domain.errors import DomainError, Unauthenticated
from artimeta_server.domain.reasons import Reason

_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]


class JwksVerifier:
    def __init__(self, jwks_file: str, *, issuer: str, audience: str, roles_claim: str) -> None:
        self._path = jwks_file
        if not issuer or not audience:
            raise ValueError("a JWT verifier needs the issuer and the audience it accepts")
        self._issuer = issuer
        self._audience = audience
        self._roles_claim = roles_claim
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._keys: jwt.PyJWKSet | None = None
        self._load()

    def _load(self) -> jwt.PyJWKSet:
        st = os.stat(self._path)
        stamp = (st.st_mtime, st.st_size)
        with self._lock:
            if self._keys is None or stamp != self._stamp:
                with open(self._path, encoding="utf-8") as f:
                    self._keys = jwt.PyJWKSet.from_json(f.read())
                self._stamp = stamp
            return self._keys

    def verify(self, token: str) -> Principal:
        try:
            keys = self._load()
            kid = jwt.get_unverified_header(token).get("kid")
            candidates = [k for k in keys.keys if kid is None or k.key_id == kid]
            if not candidates:
                raise Unauthenticated("the JWT's signing key is not known", reason=Reason.TOKEN_INVALID)
            claims = jwt.decode(
                token,
                key=candidates[0],
                algorithms=_ALGORITHMS,
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the JWT has expired", reason=Reason.TOKEN_EXPIRED) from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(
                f"the JWT does not verify: {type(exc).__name__}", reason=Reason.TOKEN_INVALID
            ) from None
        raw = claims.get(self._roles_claim) or []
        if isinstance(raw, str):
            raw = raw.split()
        grants: list[Grant] = []
        for item in raw:
            try:
                grants.append(parse_grant(str(item)))
            except DomainError:
                continue
        return Principal(subject=f"jwt:{claims['sub']}", grants=tuple(grants), expires_at=float(claims["exp"]))
