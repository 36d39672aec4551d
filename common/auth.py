"""Who is calling: bearer JWT verification, the caller's identity, and role checks.

Every RPC except health checking and reflection needs `authorization: Bearer <JWT>`. The subject
is the user id; the `roles` claim lists `teacher` and/or `admin`.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterable
from dataclasses import dataclass

import jwt

from common.errors import PermissionDenied, Unauthenticated
from common.settings import Settings

TEACHER = "teacher"
ADMIN = "admin"
KNOWN_ROLES = frozenset({TEACHER, ADMIN})


@dataclass(frozen=True)
class Identity:
    user_id: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


_current: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("identity", default=None)


def current_identity() -> Identity:
    """The verified caller of the RPC being served (set by the auth interceptor)."""
    identity = _current.get()
    if identity is None:
        raise Unauthenticated("no authenticated caller for this call")
    return identity


def require_admin() -> Identity:
    identity = current_identity()
    if not identity.is_admin:
        raise PermissionDenied("this operation requires the admin role")
    return identity


def set_identity(identity: Identity | None) -> contextvars.Token[Identity | None]:
    return _current.set(identity)


def reset_identity(token: contextvars.Token[Identity | None]) -> None:
    _current.reset(token)


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self._algorithm = settings.jwt_algorithm
        if self._algorithm.startswith("HS"):
            self._key: str = settings.jwt_secret.get_secret_value()
        else:
            self._key = settings.jwt_public_key
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience

    def verify_header(self, authorization: str | None) -> Identity:
        """Identity from an `authorization` header value; Unauthenticated saying why otherwise."""
        if not authorization:
            raise Unauthenticated("missing credentials: send 'authorization: Bearer <token>'")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("malformed authorization header: expected 'Bearer <token>'")
        return self.verify(token.strip())

    def verify(self, token: str) -> Identity:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("token expired") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthenticated("bad token signature") from exc
        except jwt.MissingRequiredClaimError as exc:
            if exc.claim == "sub":
                raise Unauthenticated("token has no subject (sub claim)") from exc
            raise Unauthenticated(f"token lacks required claim {exc.claim!r}") from exc
        except jwt.DecodeError as exc:
            raise Unauthenticated("malformed token: not a valid JWT") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise Unauthenticated("token has no subject (sub claim)")
        roles = claims.get("roles", [])
        if isinstance(roles, str):
            roles = [roles]
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthenticated("malformed roles claim: expected a list of strings")
        return Identity(user_id=subject, roles=frozenset(roles) & KNOWN_ROLES)


def mint_token(settings: Settings, user_id: str, roles: Iterable[str], ttl_seconds: int = 12 * 3600) -> str:
    """A development token signed with the suite's HS256 secret."""
    if not settings.jwt_algorithm.startswith("HS"):
        raise ValueError("development tokens need an HS* algorithm; production tokens come from the IdP")
    now = int(time.time())
    claims = {
        "sub": user_id,
        "roles": sorted(set(roles)),
        "iat": now,
        "exp": now + ttl_seconds,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm)
