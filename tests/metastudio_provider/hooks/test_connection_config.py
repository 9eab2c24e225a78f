"""Connection validation: the extras allowlist and every field checked with a clear message."""

from __future__ import annotations

import pytest
from airflow.sdk import Connection

from metastudio_provider.exceptions import MetaStudioConfigError
from metastudio_provider.get_provider_info import connection_extras_schema, get_provider_info
from metastudio_provider.hooks.connection_config import ALLOWED_EXTRAS, config_from_connection


def conn(**overrides) -> Connection:
    fields = {
        "conn_id": "ms",
        "conn_type": "metastudio",
        "host": "https://metastudio.cn-north-4.myhuaweicloud.com",
        "login": "AK",
        "password": "SK-secret",
        "extra": {"project_id": "0123456789abcdef0123456789abcdef"},
    }
    fields.update(overrides)
    if isinstance(fields["extra"], dict):
        import json

        fields["extra"] = json.dumps(fields["extra"])
    return Connection(**fields)


def test_defaults() -> None:
    config = config_from_connection(conn())
    assert config.base_url == "https://metastudio.cn-north-4.myhuaweicloud.com"
    assert (config.auth_method, config.access_key, config.timeout, config.verify) == ("aksk", "AK", (10.0, 60.0), True)
    assert "SK-secret" not in repr(config) and "'AK'" not in repr(config)


def test_host_without_scheme_defaults_to_https_and_port_is_kept() -> None:
    assert (
        config_from_connection(conn(host="metastudio.example", port=8443)).base_url == "https://metastudio.example:8443"
    )
    assert config_from_connection(conn(host="http://127.0.0.1:8089/")).base_url == "http://127.0.0.1:8089"


def test_numbers_and_booleans_from_strings_are_accepted() -> None:
    extra = {"project_id": "p1", "read_timeout": "30", "retry_limit": "2", "verify": "false"}
    config = config_from_connection(conn(extra=extra))
    assert (config.read_timeout, config.retry_limit, config.verify) == (30.0, 2, False)


def test_empty_fields_saved_by_the_ui_form_mean_not_set() -> None:
    """The UI's connection form stores every field it shows, the empty ones as null (tests/ui)."""
    extra = {name: None for name in ALLOWED_EXTRAS} | {"project_id": "p1", "auth_method": "aksk", "read_timeout": 30}
    config = config_from_connection(conn(extra=extra))
    assert (config.project_id, config.read_timeout, config.connect_timeout, config.retry_limit, config.verify) == (
        "p1",
        30.0,
        10.0,
        5,
        True,
    )
    with pytest.raises(MetaStudioConfigError, match="extra 'project_id' is required"):
        config_from_connection(conn(extra=extra | {"project_id": None}))


def test_unknown_extras_are_rejected_by_name() -> None:
    with pytest.raises(MetaStudioConfigError) as excinfo:
        config_from_connection(conn(extra={"project_id": "p1", "projectid": "p1", "X-Custom": "1"}))
    message = str(excinfo.value)
    assert "'ms'" in message and "X-Custom, projectid" in message and "allowed extras are" in message


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"extra": {}}, "extra 'project_id' is required"),
        ({"extra": {"project_id": "bad/id"}}, "extra 'project_id' must be 1-64"),
        ({"login": None}, "login field must hold the access key"),
        ({"password": None}, "password field must hold the secret key"),
        ({"host": None}, "host field must hold the MetaStudio endpoint"),
        ({"host": "ftp://example"}, "must be an http(s) URL"),
        ({"extra": {"project_id": "p", "auth_method": "oauth"}}, "'aksk' or 'token'"),
        ({"extra": {"project_id": "p", "read_timeout": "soon"}}, "'read_timeout' must be a number"),
        ({"extra": {"project_id": "p", "connect_timeout": 0}}, "'connect_timeout' must be > 0"),
        ({"extra": {"project_id": "p", "retry_limit": 2.5}}, "'retry_limit' must be a whole number"),
        ({"extra": {"project_id": "p", "retry_limit": 1000}}, "between 0 and 100"),
        ({"extra": {"project_id": "p", "verify": 3}}, "'verify' must be true, false"),
        ({"extra": {"project_id": "p", "app_user_id": "用户"}}, "X-App-UserId"),
        ({"extra": {"project_id": "p", "app_user_id": "has space"}}, "X-App-UserId"),
        ({"extra": {"project_id": "p", "app_user_id": "x" * 257}}, "X-App-UserId"),
        ({"extra": {"project_id": "p", "auth_method": "token"}, "login": None}, "'domain_name' is required"),
        (
            {
                "extra": {"project_id": "p", "auth_method": "token", "domain_name": "d", "user_name": "u"},
                "password": None,
            },
            "IAM password",
        ),
        ({"extra": {"project_id": 12}}, "'project_id' must be a string"),
    ],
)
def test_each_problem_is_named(overrides: dict, problem: str) -> None:
    with pytest.raises(MetaStudioConfigError, match="is not usable") as excinfo:
        config_from_connection(conn(**overrides))
    assert problem in str(excinfo.value)


def test_token_connection() -> None:
    config = config_from_connection(
        conn(
            login=None,
            password="iam-pw",
            extra={"project_id": "p1", "auth_method": "token", "domain_name": "acme", "user_name": "bot"},
        )
    )
    assert (config.auth_method, config.iam_endpoint, config.iam_password) == (
        "token",
        "https://iam.myhuaweicloud.com",
        "iam-pw",
    )


def test_malformed_extra_json_is_reported() -> None:
    with pytest.raises(MetaStudioConfigError, match=r"not valid JSON"):
        config_from_connection(conn(extra="{not json"))


def test_the_allowlist_is_the_json_schema_the_provider_declares() -> None:
    schema = connection_extras_schema()
    (connection_type,) = get_provider_info()["connection-types"]
    assert set(ALLOWED_EXTRAS) == set(schema["properties"]) == set(connection_type["conn-fields"])
    assert schema["additionalProperties"] is False


def test_transport_limits_are_read_with_defaults() -> None:
    config = config_from_connection(conn())
    assert (config.request_timeout, config.max_response_bytes, config.upload_deadline) == (
        120.0,
        8 * 1024 * 1024,
        3600.0,
    )
    extra = {"project_id": "p1", "request_timeout": "5", "max_response_bytes": 4096, "upload_deadline": 30}
    config = config_from_connection(conn(extra=extra))
    assert (config.request_timeout, config.max_response_bytes, config.upload_deadline) == (5.0, 4096, 30.0)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"max_response_bytes": 0}, "'max_response_bytes' must be between 1"),
        ({"request_timeout": -1}, "'request_timeout' must be > 0"),
        ({"domain_name": "x" * 300, "auth_method": "token", "user_name": "u"}, "'domain_name' is invalid (maxLength"),
    ],
)
def test_limits_and_schema_constraints_are_named(extra: dict, problem: str) -> None:
    with pytest.raises(MetaStudioConfigError) as excinfo:
        config_from_connection(conn(extra={"project_id": "p1", **extra}))
    assert problem in str(excinfo.value)
