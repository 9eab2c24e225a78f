"""No credential, token, Authorization value or presigned query string reaches logs or exception text."""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path

import pytest
from airflow.sdk._shared.secrets_masker import _secrets_masker

from metastudio_provider.exceptions import MetaStudioError
from tests.metastudio_provider.hooks.test_token_auth import IAM_PASSWORD, FakeCloud
from tests.support.fixtures import ACCESS_KEY, SECRET_KEY
from tests.support.local_server import LocalServer, Recorded, Reply

QUERY = "AccessKeyId=OBSAKIDSECRET&Expires=1900000000&Signature=UPLOADSIGNATURESECRET"


def test_nothing_secret_in_logs_or_errors(make_hook, capfd, caplog, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    source = tmp_path / "id_front.jpg"
    source.write_bytes(os.urandom(200_000))
    errors: list[str] = []
    api_replies = itertools.chain(
        [Reply(500, {"error_code": "MSS.00000001", "error_msg": "internal"}), Reply(drop=True)],
        itertools.repeat(Reply(200, {"count": 0, "jobs": []})),
    )
    upload_replies = iter(
        [Reply(read_then_drop=1000), Reply(200), Reply(403, {"error_code": "OBS.0403", "error_msg": "used"})]
    )

    def respond(request: Recorded) -> Reply:
        return next(upload_replies) if request.path.startswith("/upload") else next(api_replies)

    with LocalServer(respond) as server:
        hook = make_hook(server.base_url)
        hook.list_training_jobs()
        url = f"{server.base_url}/upload/obj?{QUERY}"
        hook.upload_file(url, source, asset="id_card_front")
        for failing in (
            lambda: hook.upload_file(url, source),
            lambda: make_hook("http://127.0.0.1:9").upload_file(url, source),
        ):
            try:
                failing()
            except MetaStudioError as exc:
                errors.append(str(exc) + repr(exc))

    cloud = FakeCloud(revoke_first_tokens=1)
    with LocalServer(cloud) as iam:
        token_hook = make_hook(
            iam.base_url,
            login=None,
            password=IAM_PASSWORD,
            auth_method="token",
            iam_endpoint=iam.base_url,
            domain_name="acme",
            user_name="bot",
        )
        token_hook.list_training_jobs()

    authorization_values = [r.header("Authorization") for r in server.requests if r.header("Authorization")]
    assert authorization_values, "the API calls were signed"
    captured = capfd.readouterr()
    text = "\n".join([captured.out, captured.err, caplog.text, *errors])
    assert "Uploading id_card_front" in text  # the logs were captured at all
    assert "/upload/obj?<redacted>" in text  # urllib3 debug lines and errors quote the URL: scrubbed
    secrets = [ACCESS_KEY, SECRET_KEY, IAM_PASSWORD, *cloud.issued, QUERY, "UPLOADSIGNATURESECRET", "OBSAKIDSECRET"]
    for secret in [*secrets, *authorization_values]:
        assert secret not in text
    assert "Signature=" not in text


def test_secrets_are_registered_with_airflows_masker(make_hook, tmp_path: Path) -> None:
    source = tmp_path / "f.bin"
    source.write_bytes(b"x" * 10)
    with LocalServer(lambda request: Reply(200)) as server:
        hook = make_hook(server.base_url)
        hook.upload_file(f"{server.base_url}/upload/obj?{QUERY}", source)
    redacted = _secrets_masker().redact(f"ak={ACCESS_KEY} sk={SECRET_KEY} url=/upload/obj?{QUERY}")
    assert ACCESS_KEY not in redacted and SECRET_KEY not in redacted and QUERY not in redacted


@pytest.mark.parametrize("secret_field", ["access_key", "secret_key", "iam_password"])
def test_config_repr_hides_secrets(make_hook, secret_field: str) -> None:
    hook = make_hook("http://127.0.0.1:9")
    value = getattr(hook.config, secret_field)
    assert value is None or value not in repr(hook.config)
