"""Identity: no usable default secret, production keys (a PEM key, an identity provider's JWKS),
the algorithm-confusion attack, clock skew and token lifetime, and the verified-token cache."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import SecretStr

from common.auth import ADMIN, PUBLISHED_DEV_SECRET, TokenVerifier, check_identity_settings
from common.errors import Unauthenticated
from common.settings import ConfigurationError, Settings
from devstack import Stack, StackPorts
from teaching.user.v1 import user_service_pb2 as user_pb
from teaching.user.v1 import user_service_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
SECRET = secrets.token_urlsafe(32)


def hs_settings(**overrides: Any) -> Settings:
    return Settings(jwt_secret=SecretStr(SECRET), **overrides)


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


# -- no usable default secret ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "no JWT secret configured: set JWT_SECRET"),
        ({"jwt_secret": SecretStr("short-secret")}, "needs at least 32"),
        ({"jwt_secret": SecretStr(PUBLISHED_DEV_SECRET)}, "published development default"),
        ({"jwt_algorithm": "HS512", "jwt_secret": SecretStr("x" * 40)}, "needs at least 64"),
        ({"jwt_algorithm": "none"}, "names no usable signing algorithm"),
        ({"jwt_algorithm": "HS256,RS256", "jwt_secret": SecretStr(SECRET)}, "mixes HMAC"),
        ({"jwt_algorithm": "RS256"}, "needs exactly one source of public keys"),
        ({"jwt_algorithm": "RS256", "jwt_public_key": "pem", "jwt_jwks_url": "http://idp/jwks"},
         "needs exactly one source"),
    ],
    ids=["no secret", "short secret", "published default", "short for HS512", "alg none", "mixed kinds",
         "RS256 without keys", "RS256 with two key sources"],
)
def test_settings_without_a_usable_key_are_refused(overrides: dict[str, Any], message: str) -> None:
    settings = Settings(**overrides)
    with pytest.raises(ConfigurationError, match=message):
        check_identity_settings(settings)
    with pytest.raises(ConfigurationError):
        TokenVerifier(settings)


def _free_ports_env(stack: Stack) -> dict[str, str]:
    ports = StackPorts.free()
    env = {**os.environ, **stack.env, "CONTENT_PORT": str(ports.content), "USER_PORT": str(ports.user),
           "INGEST_PORT": str(ports.ingest), "PYTHONUNBUFFERED": "1"}
    env.pop("JWT_SECRET", None)
    return env


@pytest.mark.parametrize("module", ["content_svc", "user_svc", "ingest_svc"])
@pytest.mark.parametrize(
    ("settings_env", "message"),
    [({}, "set JWT_SECRET"), ({"JWT_ALGORITHM": "RS256"}, "JWT_JWKS_URL"),
     ({"PAGE_TOKEN_SECRET": ""}, "PAGE_TOKEN_SECRET"), ({"PAGE_TOKEN_SECRET": "short"}, "PAGE_TOKEN_SECRET")],
    ids=["no secret", "no public keys", "no page token secret", "short page token secret"],
)
def test_a_service_without_a_key_refuses_to_start(
    stack: Stack, module: str, settings_env: dict[str, str], message: str
) -> None:
    # The stack's settings on free ports, minus a key: the service must exit, not serve.
    env = {**_free_ports_env(stack), **settings_env}
    if "PAGE_TOKEN_SECRET" in settings_env:
        env["JWT_SECRET"] = stack.env["JWT_SECRET"]
    result = subprocess.run([sys.executable, "-m", module], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert "refuses to start" in result.stderr and message in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("variable", ["JWT_SECRET", "PAGE_TOKEN_SECRET"])
def test_compose_requires_the_secrets(variable: str) -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    value = compose["x-app-environment"][variable]
    # `${VAR:?message}`: compose refuses to start when the variable is unset or empty.
    assert value.startswith("${" + variable + ":?"), value


# -- a single public key (PEM) ---------------------------------------------------------------------


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
    ids=["audience", "issuer"],
)
def test_wrong_audience_or_issuer_is_refused(keys: tuple[bytes, str], override: dict[str, str], reason: str) -> None:
    private_pem, public_pem = keys
    settings = Settings(jwt_algorithm="RS256", jwt_public_key=public_pem)
    token = jwt.encode(claims(settings, **override), private_pem, algorithm="RS256")
    with pytest.raises(Unauthenticated, match=reason):
        TokenVerifier(settings).verify_header(f"Bearer {token}")


def test_unsigned_tokens_are_refused() -> None:
    settings = hs_settings()
    token = jwt.encode(claims(settings), None, algorithm="none")
    with pytest.raises(Unauthenticated):
        TokenVerifier(settings).verify_header(f"Bearer {token}")


# -- an identity provider's keys (JWKS) ------------------------------------------------------------


class SigningKey:
    def __init__(self, kid: str, algorithm: str) -> None:
        self.kid, self.algorithm = kid, algorithm
        self.private: Any = (ec.generate_private_key(ec.SECP256R1()) if algorithm == "ES256"
                             else rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        family = jwt.algorithms.ECAlgorithm if self.algorithm == "ES256" else jwt.algorithms.RSAAlgorithm
        public: dict[str, Any] = family.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def sign(self, settings: Settings, **extra: object) -> str:
        return jwt.encode(claims(settings, **extra), self.private, algorithm=self.algorithm,
                          headers={"kid": self.kid})


class JwksServer:
    """A local identity provider's key endpoint: publishes `keys`, counts how often it is asked."""

    def __init__(self) -> None:
        self.keys: list[SigningKey] = []
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps({"keys": [key.jwk() for key in outer.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def idp() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def idp_keys() -> dict[str, SigningKey]:
    return {"rsa-1": SigningKey("rsa-1", "RS256"), "rsa-2": SigningKey("rsa-2", "RS256"),
            "ec-1": SigningKey("ec-1", "ES256")}


def jwks_settings(idp: JwksServer, **overrides: Any) -> Settings:
    return Settings(jwt_algorithm="RS256,ES256", jwt_jwks_url=idp.url, **overrides)


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"], ids=["RS256", "ES256"])
def test_tokens_verify_with_the_identity_providers_published_keys(
    idp: JwksServer, idp_keys: dict[str, SigningKey], kid: str
) -> None:
    idp.keys = [idp_keys["rsa-1"], idp_keys["ec-1"]]
    settings = jwks_settings(idp)
    identity = TokenVerifier(settings).verify(idp_keys[kid].sign(settings))
    assert identity.user_id == "prod-user" and ADMIN in identity.roles


def test_a_rotated_key_is_fetched_when_a_token_names_it(idp: JwksServer, idp_keys: dict[str, SigningKey]) -> None:
    idp.keys = [idp_keys["rsa-1"]]
    settings = jwks_settings(idp, jwt_jwks_refresh_cooldown_seconds=0)
    verifier = TokenVerifier(settings)
    assert verifier.verify(idp_keys["rsa-1"].sign(settings, sub="before")).user_id == "before"
    idp.keys = [idp_keys["rsa-2"]]  # the provider rotates: rsa-1 retired, rsa-2 in use
    assert verifier.verify(idp_keys["rsa-2"].sign(settings, sub="after")).user_id == "after"
    assert idp.fetches == 2
    with pytest.raises(Unauthenticated, match="does not publish"):
        verifier.verify(idp_keys["rsa-1"].sign(settings, sub="retired"))


def test_unknown_key_ids_cannot_make_us_hammer_the_provider(
    idp: JwksServer, idp_keys: dict[str, SigningKey]
) -> None:
    idp.keys = [idp_keys["rsa-1"]]
    settings = jwks_settings(idp, jwt_jwks_refresh_cooldown_seconds=600)
    verifier = TokenVerifier(settings)
    verifier.verify(idp_keys["rsa-1"].sign(settings))
    forger = SigningKey("forged", "ES256")
    for n in range(20):
        forger.kid = f"forged-{n}"
        with pytest.raises(Unauthenticated, match="does not publish"):
            verifier.verify(forger.sign(settings))
    assert idp.fetches == 1


def test_an_unreachable_provider_is_a_clear_refusal(idp_keys: dict[str, SigningKey], unused_port: int) -> None:
    settings = Settings(jwt_algorithm="RS256", jwt_jwks_url=f"http://127.0.0.1:{unused_port}/jwks")
    with pytest.raises(Unauthenticated, match="identity provider's keys are unreachable"):
        TokenVerifier(settings).verify(idp_keys["rsa-1"].sign(settings))


@pytest.fixture(scope="module")
def idp_service(stack: Stack, idp_keys: dict[str, SigningKey]) -> Iterator[tuple[Settings, grpc.Channel]]:
    """A UserService process of its own (the stack's database) verifying a local provider's tokens."""
    idp = JwksServer()
    idp.keys = [idp_keys["rsa-1"], idp_keys["ec-1"]]
    env = {**_free_ports_env(stack), "JWT_ALGORITHM": "RS256,ES256", "JWT_JWKS_URL": idp.url}
    process = subprocess.Popen([sys.executable, "-m", "user_svc"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{env['USER_PORT']}") as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            yield jwks_settings(idp), channel
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
        idp.close()
        assert "Traceback" not in errors, errors[-2000:]


def _get_profile(channel: grpc.Channel, token: str) -> user_pb.TeacherProfile:
    stub = user_service_pb2_grpc.UserServiceStub(channel)
    response = stub.GetProfile(user_pb.GetProfileRequest(), metadata=[("authorization", f"Bearer {token}")],
                               timeout=10)
    return response.profile


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"], ids=["RS256", "ES256"])
def test_a_service_verifies_the_identity_providers_tokens(
    idp_service: tuple[Settings, grpc.Channel], idp_keys: dict[str, SigningKey], kid: str
) -> None:
    settings, channel = idp_service
    token = idp_keys[kid].sign(settings, sub=f"idp-{kid}", roles=["teacher"])
    assert _get_profile(channel, token).user_id == f"idp-{kid}"


def test_a_service_refuses_a_key_the_provider_does_not_publish(idp_service: tuple[Settings, grpc.Channel]) -> None:
    settings, channel = idp_service
    stranger = SigningKey("rsa-1", "RS256")  # the provider's key id, someone else's key
    with pytest.raises(grpc.RpcError) as refused:
        _get_profile(channel, stranger.sign(settings, roles=["teacher"]))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


# -- clock skew and lifetime, through the stack ----------------------------------------------------


def _skewed(stack: Stack, **times: int | None) -> str:
    """A teacher token whose iat / nbf / exp are offsets from now (None: claim left out)."""
    settings, now = stack.settings, int(time.time())
    payload: dict[str, Any] = {"sub": "skewed-teacher", "roles": ["teacher"], "iss": settings.jwt_issuer,
                               "aud": settings.jwt_audience}
    for claim, offset in {"iat": 0, "exp": 600, **times}.items():
        if offset is not None:
            payload[claim] = now + offset
    return jwt.encode(payload, settings.jwt_secret.get_secret_value(), algorithm="HS256")


@pytest.mark.parametrize(
    ("times", "refusal"),
    [
        ({"iat": -630, "exp": -30}, None),
        ({"iat": -720, "exp": -120}, "token expired"),
        ({"nbf": 30}, None),
        ({"nbf": 120}, "not yet valid"),
        ({"iat": 30}, None),
        ({"iat": 120}, "not yet valid"),
        ({"exp": 25 * 3600}, "token lifetime"),
        ({"iat": None}, "'iat'"),
    ],
    ids=["expired within the leeway", "expired beyond it", "nbf ahead within the leeway", "nbf ahead beyond it",
         "issued ahead within the leeway", "issued ahead beyond it", "lifetime over the cap", "no iat"],
)
def test_clock_skew_within_the_leeway_is_tolerated_and_lifetimes_are_capped(
    stack: Stack, times: dict[str, int | None], refusal: str | None
) -> None:
    with grpc.insecure_channel(stack.address("user")) as channel:
        call = user_service_pb2_grpc.UserServiceStub(channel).GetProfile
        metadata = [("authorization", f"Bearer {_skewed(stack, **times)}")]
        if refusal is None:
            assert call(user_pb.GetProfileRequest(), metadata=metadata, timeout=10).profile.user_id == "skewed-teacher"
        else:
            with pytest.raises(grpc.RpcError) as error:
                call(user_pb.GetProfileRequest(), metadata=metadata, timeout=10)
            assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert refusal in (error.value.details() or "")


# -- the verified-token cache ----------------------------------------------------------------------


def test_a_cached_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = hs_settings(jwt_leeway_seconds=0)
    verifier = TokenVerifier(settings)
    token = jwt.encode(claims(settings, exp=int(time.time()) + 60), SECRET, algorithm="HS256")
    assert verifier.verify(token).user_id == "prod-user"  # verified once, now served from the cache
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Unauthenticated, match="token expired"):
        verifier.verify(token)

