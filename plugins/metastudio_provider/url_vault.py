"""Seal presigned upload URLs before they reach XCom; open them only inside the upload task.

A presigned URL is a bearer credential, and XCom values are stored in the metadata database and
shown in the UI. We encrypt each URL with Airflow's Fernet key. Without a key Airflow hands back
a "null" encryptor that stores plain text, so we refuse to run rather than leak.
"""

from __future__ import annotations

from airflow.sdk.crypto import get_fernet

from metastudio_provider.exceptions import MetaStudioConfigError

SEALED_PREFIX = "fernet:"


def _fernet():
    fernet = get_fernet()
    if not fernet.is_encrypted:
        raise MetaStudioConfigError(
            "No Fernet key is configured ([core] fernet_key / AIRFLOW__CORE__FERNET_KEY): presigned upload "
            "URLs would be stored in XCom in clear text. Configure a key (see README)."
        )
    return fernet


def ensure_sealing_available() -> None:
    """Fail before anything is changed on the server when URLs could not be sealed."""
    _fernet()


def seal_url(url: str) -> str:
    return SEALED_PREFIX + _fernet().encrypt(url.encode("utf-8")).decode("ascii")


def open_sealed_url(sealed: str) -> str:
    if not sealed.startswith(SEALED_PREFIX):
        raise MetaStudioConfigError("upload target URL is not sealed; refusing a clear-text presigned URL")
    return _fernet().decrypt(sealed[len(SEALED_PREFIX) :].encode("ascii")).decode("utf-8")
