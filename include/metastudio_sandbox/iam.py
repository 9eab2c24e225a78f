"""Fake IAM: ``POST /v3/auth/tokens`` with a password identity and a project scope (§13.1)."""

from __future__ import annotations

import hmac
from typing import Any

from metastudio_sandbox.auth import TokenIssuer
from metastudio_sandbox.errors import IAM_BAD_CREDENTIALS, IAM_BAD_REQUEST, ApiError
from metastudio_sandbox.settings import Settings
from metastudio_sandbox.timeutil import iam_time


def _path(body: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(body, dict) or key not in body:
            raise ApiError(400, IAM_BAD_REQUEST, f"The request body is invalid: {'.'.join(keys)} is required")
        body = body[key]
    return body


def _same(given: Any, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


def issue_token(body: Any, settings: Settings, tokens: TokenIssuer, with_catalog: bool) -> tuple[str, dict[str, Any]]:
    """Check the password request and return (token, response body); the token goes in X-Subject-Token."""
    methods = _path(body, "auth", "identity", "methods")
    if not isinstance(methods, list) or "password" not in methods:
        raise ApiError(400, IAM_BAD_REQUEST, "The request body is invalid: identity.methods must include password")
    user = _path(body, "auth", "identity", "password", "user")
    domain = _path(user, "domain", "name")
    project = _path(body, "auth", "scope", "project")
    if not isinstance(project, dict) or not ("id" in project or "name" in project):
        raise ApiError(400, IAM_BAD_REQUEST, "The request body is invalid: scope.project needs id or name")
    credentials_ok = (
        _same(domain, settings.iam_domain)
        & _same(user.get("name"), settings.iam_user)
        & _same(user.get("password"), settings.iam_password)
    )
    if not credentials_ok:
        raise ApiError(401, IAM_BAD_CREDENTIALS, "The username or password is wrong.")
    if (
        project.get("id", settings.project_id) != settings.project_id
        or project.get("name", settings.iam_project_name) != settings.iam_project_name
    ):
        raise ApiError(401, IAM_BAD_CREDENTIALS, "The project in the token scope does not exist for this user.")
    token, issued, expires = tokens.issue(settings.project_id, settings.token_ttl)
    answer: dict[str, Any] = {
        "token": {
            "expires_at": iam_time(expires),
            "issued_at": iam_time(issued),
            "methods": ["password"],
            "project": {
                "id": settings.project_id,
                "name": settings.iam_project_name,
                "domain": {"id": "0" * 32, "name": settings.iam_domain},
            },
            "user": {
                "id": "1" * 32,
                "name": settings.iam_user,
                "domain": {"id": "0" * 32, "name": settings.iam_domain},
                "password_expires_at": "",
            },
            "roles": [{"id": "2" * 32, "name": "te_admin"}],
        }
    }
    if with_catalog:
        answer["token"]["catalog"] = []
    return token, answer
