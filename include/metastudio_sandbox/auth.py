"""Gateway authentication: SDK-HMAC-SHA256 (AK/SK) and IAM tokens, verified independently of any client.

The AK/SK verifier rebuilds the canonical request from what was *received* (method, raw path, raw
query, listed headers, body), exactly as API Gateway would; it shares no code with the provider's
signer, so a signing bug on either side shows up as a 401 in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qsl, quote, unquote

from metastudio_sandbox.errors import APIGW_AUTH, APIGW_CLOCK_SKEW, ApiError

ALGORITHM = "SDK-HMAC-SHA256"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
REQUIRED_SIGNED = ("host", "x-sdk-date")
TOKEN_PREFIX = "MIIS"  # noqa: S105 - not a secret; real IAM tokens start with "MII"


def _deny(reason: str) -> ApiError:
    # The message names what is wrong, never the received secret values.
    return ApiError(401, APIGW_AUTH, f"Incorrect IAM authentication information: {reason}")


def canonical_uri(raw_path: str) -> str:
    segments = [quote(segment, safe="~") for segment in unquote(raw_path).split("/")]
    uri = "/".join(segments)
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(raw_query: str) -> str:
    pairs = sorted(parse_qsl(raw_query, keep_blank_values=True))
    return "&".join(f"{quote(key, safe='~')}={quote(value, safe='~')}" for key, value in pairs)


@dataclass(frozen=True)
class ReceivedRequest:
    """The parts of an HTTP request that take part in the signature, as received."""

    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]  # lowercase names
    body: bytes


def parse_authorization(value: str) -> tuple[str, list[str], str]:
    """Split ``SDK-HMAC-SHA256 Access=..., SignedHeaders=a;b, Signature=hex``."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _deny(f"unsupported signing algorithm, expected {ALGORITHM}")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            fields[key] = val.strip()
    missing = [name for name in ("Access", "SignedHeaders", "Signature") if not fields.get(name)]
    if missing:
        raise _deny(f"Authorization header lacks {', '.join(missing)}")
    return fields["Access"], fields["SignedHeaders"].split(";"), fields["Signature"]


def string_to_sign(request: ReceivedRequest, signed_headers: list[str]) -> str:
    canonical_headers = "".join(f"{name}:{request.headers[name].strip()}\n" for name in signed_headers)
    # Same precedence as the SDK signer: empty body, then the declared hash, then the real one.
    payload_hash = (
        EMPTY_SHA256
        if not request.body
        else request.headers.get("x-sdk-content-sha256") or hashlib.sha256(request.body).hexdigest()
    )
    canonical = "\n".join(
        [
            request.method.upper(),
            canonical_uri(request.raw_path),
            canonical_query(request.raw_query),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        ]
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{request.headers['x-sdk-date']}\n{digest}"


class AkSkVerifier:
    """Checks SDK-HMAC-SHA256 signatures for one access key pair."""

    def __init__(self, ak: str, sk: str, max_skew: float) -> None:
        self._ak = ak
        self._sk = sk.encode()
        self.max_skew = max_skew

    def __repr__(self) -> str:
        return "AkSkVerifier(<redacted>)"

    def verify(self, request: ReceivedRequest, now: float | None = None) -> None:
        access, signed, signature = parse_authorization(request.headers.get("authorization", ""))
        if not hmac.compare_digest(access.encode(), self._ak.encode()):
            raise _deny("unknown access key")
        if signed != sorted(signed) or any(name != name.lower() or not name for name in signed):
            raise _deny("SignedHeaders must be lowercase and sorted")
        for name in REQUIRED_SIGNED:
            if name not in signed:
                raise _deny(f"header {name} must be signed")
        absent = [name for name in signed if name not in request.headers]
        if absent:
            raise _deny(f"signed header {absent[0]} is missing from the request")
        self._check_date(request.headers["x-sdk-date"], time.time() if now is None else now)
        expected = hmac.new(self._sk, string_to_sign(request, signed).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise _deny("verify aksk signature fail")

    def _check_date(self, value: str, now: float) -> None:
        try:
            sent = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            raise _deny("X-Sdk-Date must look like 20250101T000000Z") from None
        if abs(now - sent) > self.max_skew:
            raise ApiError(
                401,
                APIGW_CLOCK_SKEW,
                f"Incorrect IAM authentication information: X-Sdk-Date is more than "
                f"{int(self.max_skew)} s away from the server time",
            )


class TokenIssuer:
    """Stateless IAM-style tokens: an HMAC over (project, expiry) with the server secret.

    Being stateless, tokens survive a restart with the same data dir (the secret lives there).
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def __repr__(self) -> str:
        return "TokenIssuer(<redacted>)"

    def issue(self, project_id: str, ttl: float, now: float | None = None) -> tuple[str, float, float]:
        """Return (token, issued_at, expires_at)."""
        issued = time.time() if now is None else now
        claims = {"p": project_id, "iat": issued, "exp": issued + ttl, "n": secrets.token_hex(8)}
        body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode()
        return f"{TOKEN_PREFIX}{body}.{self._mac(body)}", issued, issued + ttl

    def verify(self, token: str, project_id: str, now: float | None = None) -> None:
        body, _, mac = token.removeprefix(TOKEN_PREFIX).rpartition(".")
        if not token.startswith(TOKEN_PREFIX) or not body or not hmac.compare_digest(mac, self._mac(body)):
            raise _deny("invalid token")
        claims = json.loads(base64.urlsafe_b64decode(body))
        if claims["exp"] <= (time.time() if now is None else now):
            raise _deny("the token has expired, obtain a new one")
        if claims["p"] != project_id:
            raise _deny("token is scoped to another project")

    def _mac(self, body: str) -> str:
        return hmac.new(self._secret, b"token:" + body.encode(), hashlib.sha256).hexdigest()


class Authenticator:
    """Decides whether a MetaStudio request is authenticated, and how (``aksk`` or ``token``)."""

    def __init__(self, verifier: AkSkVerifier, tokens: TokenIssuer, project_id: str) -> None:
        self.verifier = verifier
        self.tokens = tokens
        self.project_id = project_id

    def authenticate(self, request: ReceivedRequest) -> str:
        token = request.headers.get("x-auth-token")
        if token:
            self.tokens.verify(token, self.project_id)
            return "token"
        if "authorization" not in request.headers:
            raise _deny("no X-Auth-Token or Authorization header")
        project = request.headers.get("x-project-id")
        if project is None:
            raise _deny("X-Project-Id header is required with AK/SK")
        if project != self.project_id:
            raise _deny("X-Project-Id does not match the access key's project")
        self.verifier.verify(request)
        return "aksk"
