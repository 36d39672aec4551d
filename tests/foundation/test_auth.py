"""Token verification in production mode (RS256 public key) and the classic algorithm-confusion attack."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from common.auth import ADMIN, TokenVerifier
from common.errors import Unauthenticated
from common.settings import Settings


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private_pem, public_pem


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def claims(settings: Settings, **extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"sub": "prod-user", "roles": ["admin"], "iat": now, "exp": now + 60,
            "iss": settings.jwt_issuer, "aud": settings.jwt_audience, **extra}


def test_rs256_tokens_verify_with_the_public_key(keys: tuple[bytes, str]) -> None:
    private_pem, public_pem = keys
    settings = Settings(jwt_algorithm="RS256", jwt_public_key=public_pem)
    token = jwt.encode(claims(settings), private_pem, algorithm="RS256")
    identity = TokenVerifier(settings).verify_header(f"Bearer {token}")
    assert identity.user_id == "prod-user"
    assert ADMIN in identity.roles


def test_hs256_token_signed_with_the_public_key_is_refused(keys: tuple[bytes, str]) -> None:
    _private_pem, public_pem = keys
    settings = Settings(jwt_algorithm="RS256", jwt_public_key=public_pem)
    # Algorithm confusion: an attacker signs HS256 using the (public) key as the HMAC secret.
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims(settings)).encode())
    signature = hmac.new(public_pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}.{_b64(signature)}"
    with pytest.raises(Unauthenticated):
        TokenVerifier(settings).verify_header(f"Bearer {forged}")


@pytest.mark.parametrize(
    "override, reason",
    [({"aud": "someone-else"}, "invalid token"), ({"iss": "evil-issuer"}, "invalid token")],
)
def test_wrong_audience_or_issuer_is_refused(keys: tuple[bytes, str], override: dict[str, str], reason: str) -> None:
    private_pem, public_pem = keys
    settings = Settings(jwt_algorithm="RS256", jwt_public_key=public_pem)
    token = jwt.encode(claims(settings, **override), private_pem, algorithm="RS256")
    with pytest.raises(Unauthenticated, match=reason):
        TokenVerifier(settings).verify_header(f"Bearer {token}")


def test_unsigned_tokens_are_refused() -> None:
    settings = Settings()
    token = jwt.encode(claims(settings), None, algorithm="none")
    with pytest.raises(Unauthenticated):
        TokenVerifier(settings).verify_header(f"Bearer {token}")
