"""``--upload-rate-mbps``: the pacing arithmetic on a fake clock, the flag, and a paced upload over HTTP.

No wall-clock bound is asserted from the client's side. Over HTTP the test reads the sandbox's own
account of the upload (``x-sandbox-upload-seconds``), which the pacer makes at least
``bytes / rate`` whatever the machine's load: a busy machine only makes it longer.
"""

from __future__ import annotations

import hashlib

import pytest
import requests
from sandbox_helpers import MP4, OCTET, Api

from metastudio_sandbox.__main__ import parse_args, settings_from
from metastudio_sandbox.pacing import Pacer, mbps_to_bytes_per_second


def test_megabits_per_second_are_converted_to_bytes() -> None:
    assert mbps_to_bytes_per_second(8) == 1_000_000
    assert mbps_to_bytes_per_second(20) == 2_500_000


def test_pacer_holds_reads_to_the_rate() -> None:
    pacer = Pacer(1_000_000, started=100.0)
    assert pacer.take(250_000, now=100.0) == pytest.approx(0.25)  # a chunk costs its time on the link
    assert pacer.take(250_000, now=100.25) == pytest.approx(0.25)
    assert pacer.take(500_000, now=100.6) == pytest.approx(0.4)  # behind schedule: only the remainder
    assert pacer.take(0, now=101.0) == pytest.approx(0.0)  # 1 MB at 1 MB/s: done at 101.0


def test_pacer_banks_at_most_the_burst_after_an_idle_link() -> None:
    pacer = Pacer(1_000_000, started=0.0, burst=0.1)
    assert pacer.take(100_000, now=0.0) == pytest.approx(0.1)
    # Idle from 0.1 to 5.0: a real link does not save those 4.9 s up; 0.1 s of credit at most.
    assert pacer.take(500_000, now=5.0) == pytest.approx(0.4)


def test_pacer_rejects_a_rate_of_zero() -> None:
    with pytest.raises(ValueError, match="upload rate must be positive"):
        Pacer(0, started=0.0)


def test_cli_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert settings_from(parse_args(["--upload-rate-mbps", "20"])).upload_rate_mbps == 20.0
    assert settings_from(parse_args([])).upload_rate_mbps == 0.0  # unlimited by default
    for bad in ("-1", "fast", "inf"):
        with pytest.raises(SystemExit) as excinfo:
            parse_args(["--upload-rate-mbps", bad])
        assert excinfo.value.code == 2
        assert "--upload-rate-mbps" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("size", "mbps"),
    [
        (150_000, 1.0),  # arrives in one read: the portable ASGI path, then the wait for the last byte
        (1_500_000, 8.0),  # streams in over many reads: the direct path pauses the socket between them
    ],
)
def test_a_paced_upload_takes_at_least_its_time_on_the_link(api: Api, size: int, mbps: float) -> None:
    assert api.admin("PATCH", "/settings", json={"upload_rate_mbps": mbps}).json()["upload_rate_mbps"] == mbps
    url = api.create({"name": "paced"}).json()["training_video_upload_url"][0]
    body = MP4 + b"\x07" * (size - len(MP4))
    answer = requests.put(url, data=body, headers=OCTET, timeout=60)
    assert answer.status_code == 200
    assert answer.headers["x-sandbox-sha256"] == hashlib.sha256(body).hexdigest()
    on_the_link = size / mbps_to_bytes_per_second(mbps)  # 1.2 s for both cases
    # The server answers no earlier than its pacer allows; 2 % + 20 ms for timer granularity.
    assert float(answer.headers["x-sandbox-upload-seconds"]) >= on_the_link * 0.98 - 0.02


def test_rate_zero_means_unlimited(api: Api) -> None:
    api.admin("PATCH", "/settings", json={"upload_rate_mbps": 0})
    url = api.create({"name": "unpaced"}).json()["training_video_upload_url"][0]
    answer = requests.put(url, data=MP4, headers=OCTET, timeout=60)
    assert answer.status_code == 200 and "x-sandbox-upload-seconds" in answer.headers
    assert api.admin("GET", "/settings").json()["upload_rate_mbps"] == 0
