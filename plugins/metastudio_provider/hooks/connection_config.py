"""Turn an Airflow connection into a validated, typed MetaStudio configuration.

The extras are an explicit allowlist, described once as a JSON Schema in ``get_provider_info``
(which also builds the UI form) and validated here with ``jsonschema``: a misspelt key
(``projectid``) fails loudly instead of being forwarded as an HTTP header, which is what plain
``HttpHook`` would do. Credentials are checked when the connection is read: an AK with a trailing
newline or a non-ASCII character would otherwise surface much later as a raw ``ValueError``
quoting the signed header. Errors name the field, never its value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema

from metastudio_provider.exceptions import MetaStudioConfigError
from metastudio_provider.get_provider_info import connection_extras_schema

AuthMethod = Literal["aksk", "token"]

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_RETRY_LIMIT = 5
DEFAULT_RETRY_DELAY = 1.0
DEFAULT_RETRY_MAX_DELAY = 60.0
DEFAULT_RETRY_DEADLINE = 600.0
DEFAULT_REQUEST_TIMEOUT = 120.0
DEFAULT_UPLOAD_DEADLINE = 3600.0
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
DEFAULT_IAM_ENDPOINT = "https://iam.myhuaweicloud.com"

EXTRAS_SCHEMA: dict[str, Any] = connection_extras_schema()
# Every extra the connection may carry, with its one-line description.
ALLOWED_EXTRAS: dict[str, str] = {name: spec["description"] for name, spec in EXTRAS_SCHEMA["properties"].items()}
_EXTRAS_VALIDATOR = jsonschema.Draft202012Validator(EXTRAS_SCHEMA)

# AK and SK go into a header and an HMAC key: printable ASCII, no whitespace.
_KEY_CHARACTERS = re.compile(r"[\x21-\x7e]+")
# IAM password, account and user name: printable ASCII; Huawei allows inner spaces, never at the ends.
_IAM_CHARACTERS = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")

_PROJECT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# X-App-UserId: 1-256 printable ASCII characters (no Chinese, no control characters).
_APP_USER_ID = re.compile(r"^[\x21-\x7e]{1,256}$")


@dataclass(frozen=True)
class MetaStudioConnectionConfig:
    """Everything the hook needs from the connection; ``repr`` never shows secrets."""

    conn_id: str
    base_url: str
    project_id: str
    auth_method: AuthMethod
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    iam_endpoint: str | None = None
    domain_name: str | None = None
    user_name: str | None = None
    iam_password: str | None = field(default=None, repr=False)
    app_user_id: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    retry_limit: int = DEFAULT_RETRY_LIMIT
    retry_delay: float = DEFAULT_RETRY_DELAY
    retry_max_delay: float = DEFAULT_RETRY_MAX_DELAY
    retry_deadline: float = DEFAULT_RETRY_DEADLINE
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    upload_deadline: float = DEFAULT_UPLOAD_DEADLINE
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    verify: bool | str = True

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


def config_from_connection(conn: Any) -> MetaStudioConnectionConfig:
    """Validate ``conn`` (an Airflow ``Connection``) and build the config, naming every problem."""
    conn_id = conn.conn_id or "<unnamed>"
    extras = _extras(conn, conn_id)
    unknown = sorted(
        {
            key
            for error in _EXTRAS_VALIDATOR.iter_errors(extras)
            if error.validator == "additionalProperties"
            for key in error.instance
            if key not in EXTRAS_SCHEMA["properties"]
        }
    )
    if unknown:
        allowed = ", ".join(sorted(ALLOWED_EXTRAS))
        raise MetaStudioConfigError(
            f"Connection {conn_id!r} has unknown extra field(s) {', '.join(unknown)}; "
            f"allowed extras are: {allowed}. Nothing is forwarded as an HTTP header."
        )
    problems: list[str] = []
    base_url = _base_url(conn, problems)

    project_id = _string(extras, "project_id", problems)
    if project_id is None:
        problems.append("extra 'project_id' is required")
    elif not _PROJECT_ID.fullmatch(project_id):
        problems.append("extra 'project_id' must be 1-64 letters, digits, '-' or '_'")

    auth_method = (_string(extras, "auth_method", problems) or "aksk").lower()
    if auth_method not in ("aksk", "token"):
        problems.append(f"extra 'auth_method' must be 'aksk' or 'token', got {auth_method!r}")

    app_user_id = _string(extras, "app_user_id", problems)
    if app_user_id is not None and not _APP_USER_ID.fullmatch(app_user_id):
        problems.append("extra 'app_user_id' (X-App-UserId) must be 1-256 printable ASCII characters without spaces")

    numbers = {
        "connect_timeout": _number(extras, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, problems),
        "read_timeout": _number(extras, "read_timeout", DEFAULT_READ_TIMEOUT, problems),
        "retry_delay": _number(extras, "retry_delay", DEFAULT_RETRY_DELAY, problems, allow_zero=True),
        "retry_max_delay": _number(extras, "retry_max_delay", DEFAULT_RETRY_MAX_DELAY, problems, allow_zero=True),
        "retry_deadline": _number(extras, "retry_deadline", DEFAULT_RETRY_DEADLINE, problems),
        "request_timeout": _number(extras, "request_timeout", DEFAULT_REQUEST_TIMEOUT, problems),
        "upload_deadline": _number(extras, "upload_deadline", DEFAULT_UPLOAD_DEADLINE, problems),
    }
    retry_limit = _integer(extras, "retry_limit", DEFAULT_RETRY_LIMIT, problems)
    max_response_bytes = _integer(
        extras, "max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES, problems, minimum=1, maximum=2**31
    )
    verify = parse_verify(extras.get("verify", True), problems)
    if not problems:
        checked = {**extras, **numbers, "retry_limit": retry_limit, "max_response_bytes": max_response_bytes}
        problems.extend(_schema_problems(checked | {"verify": verify, "auth_method": auth_method}))

    token_fields: dict[str, str | None] = {}
    if auth_method == "token":
        token_fields = {
            "iam_endpoint": _string(extras, "iam_endpoint", problems) or DEFAULT_IAM_ENDPOINT,
            "domain_name": _string(extras, "domain_name", problems),
            "user_name": _string(extras, "user_name", problems),
        }
        for name in ("domain_name", "user_name"):
            if not token_fields[name]:
                problems.append(f"extra {name!r} is required when auth_method is 'token'")
            elif not _IAM_CHARACTERS.fullmatch(str(extras[name])):
                problems.append(f"extra {name!r} {_IAM_RULE}")
        if not conn.password:
            problems.append("the password field must hold the IAM password when auth_method is 'token'")
        elif not _IAM_CHARACTERS.fullmatch(conn.password):
            problems.append(f"the password field (IAM password) {_IAM_RULE}")
        if not str(token_fields["iam_endpoint"]).startswith(("http://", "https://")):
            problems.append("extra 'iam_endpoint' must be an http(s) URL")
    else:
        if not conn.login:
            problems.append("the login field must hold the access key (AK)")
        elif not _KEY_CHARACTERS.fullmatch(conn.login):
            problems.append(f"the login field (access key, AK) {_KEY_RULE}")
        if not conn.password:
            problems.append("the password field must hold the secret key (SK)")
        elif not _KEY_CHARACTERS.fullmatch(conn.password):
            problems.append(f"the password field (secret key, SK) {_KEY_RULE}")

    if problems:
        raise MetaStudioConfigError(f"Connection {conn_id!r} is not usable: " + "; ".join(problems))

    if auth_method == "token":
        return MetaStudioConnectionConfig(
            conn_id=conn_id,
            base_url=base_url,
            project_id=str(project_id),
            auth_method="token",
            iam_password=conn.password,
            app_user_id=app_user_id,
            retry_limit=retry_limit,
            max_response_bytes=max_response_bytes,
            verify=verify,
            **token_fields,  # type: ignore[arg-type]
            **numbers,
        )
    return MetaStudioConnectionConfig(
        conn_id=conn_id,
        base_url=base_url,
        project_id=str(project_id),
        auth_method="aksk",
        access_key=conn.login,
        secret_key=conn.password,
        app_user_id=app_user_id,
        retry_limit=retry_limit,
        max_response_bytes=max_response_bytes,
        verify=verify,
        **numbers,
    )


_KEY_RULE = (
    "must be printable ASCII without spaces, line breaks or other control characters (check for a pasted newline)"
)
_IAM_RULE = (
    "must be printable ASCII without control characters or leading/trailing whitespace (check for a pasted newline)"
)


def _schema_problems(values: dict[str, Any]) -> list[str]:
    """Whatever the schema in ``get_provider_info`` says beyond the checks above (lengths, enums)."""
    return [
        f"extra {'.'.join(map(str, error.absolute_path)) or '<extras>'!r} is invalid ({error.validator} "
        f"{error.validator_value!r})"
        for error in _EXTRAS_VALIDATOR.iter_errors(values)
    ]


def _extras(conn: Any, conn_id: str) -> dict[str, Any]:
    # Airflow's ``extra_dejson`` silently turns malformed JSON into {}; we want the real reason.
    raw = conn.extra
    if not raw:
        return {}
    try:
        extras = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise MetaStudioConfigError(
            f"Connection {conn_id!r}: the extra field is not valid JSON ({exc.msg} at position {exc.pos})"
        ) from None
    if not isinstance(extras, dict):
        raise MetaStudioConfigError(f"Connection {conn_id!r}: the extra field must be a JSON object")
    # The UI's connection form saves every field it shows, the empty ones as null: null means "not set".
    return {key: value for key, value in extras.items() if value is not None}


def _base_url(conn: Any, problems: list[str]) -> str:
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        problems.append("the host field must hold the MetaStudio endpoint URL")
        return ""
    if "://" not in host:
        host = f"{conn.schema or 'https'}://{host}"
    if not host.startswith(("http://", "https://")):
        problems.append(f"the host field must be an http(s) URL, got scheme of {host.split('://')[0]!r}")
    if conn.port:
        host = f"{host}:{conn.port}"
    return host


def _string(extras: dict[str, Any], key: str, problems: list[str]) -> str | None:
    value = extras.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append(f"extra {key!r} must be a string, got {type(value).__name__}")
        return None
    return value.strip()


def _number(
    extras: dict[str, Any], key: str, default: float, problems: list[str], *, allow_zero: bool = False
) -> float:
    value = extras.get(key, default)
    try:
        number = float(value)
        if isinstance(value, bool):
            raise TypeError
    except (TypeError, ValueError):
        problems.append(f"extra {key!r} must be a number of seconds, got {value!r}")
        return default
    if number < 0 or (number == 0 and not allow_zero):
        problems.append(f"extra {key!r} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
        return default
    return number


def _integer(
    extras: dict[str, Any], key: str, default: int, problems: list[str], *, minimum: int = 0, maximum: int = 100
) -> int:
    value = extras.get(key, default)
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError):
        problems.append(f"extra {key!r} must be a whole number, got {value!r}")
        return default
    if not minimum <= number <= maximum:
        problems.append(f"extra {key!r} must be between {minimum} and {maximum}, got {value!r}")
        return default
    return number


def parse_verify(value: Any, problems: list[str]) -> bool | str:
    """``verify`` as ``requests`` takes it: a bool or a CA bundle path (for any connection type)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        if lowered:
            return value.strip()  # path to a CA bundle
    problems.append(f"extra 'verify' must be true, false or a CA bundle path, got {value!r}")
    return True
