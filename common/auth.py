"""Who is calling: bearer JWT verification, the caller's identity, and role checks.

Every RPC except health checking and reflection needs `authorization: Bearer <JWT>`. The subject
is the user id; the `roles` claim lists `teacher` and/or `admin`, and every RPC needs one of them:
teacher RPCs call `require_teacher()`, admin RPCs `require_admin()`.

Tokens are verified with an HS secret (development), a PEM public key, or the identity provider's
keys from a JWKS URL (production). There is no default key: `check_identity_settings` refuses to
start a service without one (common.server calls it before anything else).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

from common.errors import PermissionDenied, Unauthenticated
from common.settings import ConfigurationError, Settings

log = logging.getLogger(__name__)

TEACHER = "teacher"
ADMIN = "admin"
KNOWN_ROLES = frozenset({TEACHER, ADMIN})

# The HS256 secret this project once shipped as a default: it is public, so it is refused.
PUBLISHED_DEV_SECRET = "dev-only-secret-change-me-in-production-0123456789"
# Verified tokens kept so a client repeating its token is not verified again on every call (the
# signature check is most of an authenticated call's cost); expiry is checked on every use.
VERIFIED_TOKENS_CACHED = 1024
# Seconds a JWKS fetch may take before the call fails (it runs on a request's thread).
JWKS_FETCH_TIMEOUT_SECONDS = 5.0


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


def require_teacher() -> Identity:
    """The caller of a teacher RPC: a valid token without the teacher or admin role gets nothing."""
    identity = current_identity()
    if not identity.roles & {TEACHER, ADMIN}:
        raise PermissionDenied("this operation requires the teacher or admin role")
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


def allowed_algorithms(settings: Settings) -> list[str]:
    return [name.strip() for name in settings.jwt_algorithm.split(",") if name.strip()]


def check_identity_settings(settings: Settings) -> None:
    """ConfigurationError saying what to set when `settings` cannot verify tokens safely."""
    algorithms = allowed_algorithms(settings)
    unknown = [name for name in algorithms if name not in get_default_algorithms() or name == "none"]
    if not algorithms or unknown:
        raise ConfigurationError(
            f"JWT_ALGORITHM={settings.jwt_algorithm!r} names no usable signing algorithm; use HS256 with "
            "JWT_SECRET, or RS256 / ES256 (a comma-separated list is allowed) with JWT_JWKS_URL or JWT_PUBLIC_KEY"
        )
    if len({name.startswith("HS") for name in algorithms}) > 1:
        raise ConfigurationError(
            f"JWT_ALGORITHM={settings.jwt_algorithm!r} mixes HMAC (HS*) with public-key algorithms; choose one kind"
        )
    if algorithms[0].startswith("HS"):
        secret = settings.jwt_secret.get_secret_value()
        if not secret:
            raise ConfigurationError(
                "no JWT secret configured: set JWT_SECRET to a random string of at least 32 characters "
                "(e.g. `openssl rand -base64 48`), or verify an identity provider's tokens with "
                "JWT_ALGORITHM=RS256 and JWT_JWKS_URL. There is no default secret; the embedded dev stack "
                "(`make dev`) writes a random one per data folder."
            )
        needed = max(int(name[2:]) // 8 for name in algorithms)
        if len(secret.encode()) < needed:
            raise ConfigurationError(
                f"JWT_SECRET is {len(secret.encode())} bytes; {', '.join(algorithms)} needs at least {needed} "
                "(RFC 7518 section 3.2)"
            )
        if secret == PUBLISHED_DEV_SECRET:
            raise ConfigurationError("JWT_SECRET is the published development default; set a random secret")
    elif bool(settings.jwt_jwks_url) == bool(settings.jwt_public_key):
        raise ConfigurationError(
            f"JWT_ALGORITHM={settings.jwt_algorithm} needs exactly one source of public keys: JWT_JWKS_URL "
            "(the identity provider's key set) or JWT_PUBLIC_KEY (one PEM key)"
        )


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        check_identity_settings(settings)
        self._algorithms = allowed_algorithms(settings)
        self._jwks: jwt.PyJWKClient | None = None
        self._key: str = ""
        if settings.jwt_jwks_url:
            self._jwks = jwt.PyJWKClient(
                settings.jwt_jwks_url,
                lifespan=settings.jwt_jwks_cache_seconds,
                cooldown_duration=settings.jwt_jwks_refresh_cooldown_seconds,
                timeout=JWKS_FETCH_TIMEOUT_SECONDS,
            )
        elif self._algorithms[0].startswith("HS"):
            self._key = settings.jwt_secret.get_secret_value()
        else:
            self._key = settings.jwt_public_key
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._max_lifetime = settings.jwt_max_lifetime_seconds
        # Only successful verifications are cached (lru_cache does not keep exceptions).
        self._verified = functools.lru_cache(maxsize=VERIFIED_TOKENS_CACHED)(self._verify_uncached)

    def verify_header(self, authorization: str | None) -> Identity:
        """Identity from an `authorization` header value; Unauthenticated saying why otherwise."""
        if not authorization:
            raise Unauthenticated("missing credentials: send 'authorization: Bearer <token>'")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("malformed authorization header: expected 'Bearer <token>'")
        return self.verify(token.strip())

    def verify(self, token: str) -> Identity:
        identity, expires = self._verified(token)
        # A cached token is still subject to its expiry, with the same leeway as PyJWT applies.
        if expires <= time.time() - self._leeway:
            raise Unauthenticated("token expired")
        return identity

    def _verify_uncached(self, token: str) -> tuple[Identity, int]:
        claims = self._decode(token)
        lifetime = int(claims["exp"]) - int(claims["iat"])
        if lifetime > self._max_lifetime:
            raise Unauthenticated(
                f"token lifetime (exp - iat) is {lifetime} s; at most {self._max_lifetime} s is accepted"
            )
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise Unauthenticated("token has no subject (sub claim)")
        roles = claims.get("roles", [])
        if isinstance(roles, str):
            roles = [roles]
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthenticated("malformed roles claim: expected a list of strings")
        return Identity(user_id=subject, roles=frozenset(roles) & KNOWN_ROLES), int(claims["exp"])

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            key: Any = self._jwks.get_signing_key_from_jwt(token) if self._jwks is not None else self._key
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthenticated("token not yet valid (nbf or iat in the future)") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthenticated("bad token signature") from exc
        except jwt.MissingRequiredClaimError as exc:
            if exc.claim == "sub":
                raise Unauthenticated("token has no subject (sub claim)") from exc
            raise Unauthenticated(f"token lacks required claim {exc.claim!r}") from exc
        except jwt.DecodeError as exc:
            raise Unauthenticated("malformed token: not a valid JWT") from exc
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("cannot fetch the identity provider's keys: %s", exc)
            raise Unauthenticated("cannot verify the token now: the identity provider's keys are unreachable") from exc
        except jwt.PyJWKClientError as exc:
            raise Unauthenticated("token signed with a key the identity provider does not publish") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        return claims


def mint_token(settings: Settings, user_id: str, roles: Iterable[str], ttl_seconds: int = 12 * 3600) -> str:
    """A development token signed with the suite's HS secret."""
    if not settings.jwt_algorithm.startswith("HS"):
        raise ValueError("development tokens need an HS* algorithm; production tokens come from the IdP")
    check_identity_settings(settings)
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
