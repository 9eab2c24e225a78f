"""``SUBMITVERIFYING`` whose answer is lost: looked up on the job, sent again only if it did not run."""

from __future__ import annotations

import pytest

from metastudio_provider.submission import finalize_job
from tests.support.local_server import LocalServer, Reply

JOB = "0a11ce0000000000000000000000a001"
UPDATED = {"operate_time": "2026-11-24T02:00:01Z", "log_type": "USER_UPDATE_VIDEO"}
SUBMITTED = {"operate_time": "2026-11-24T02:00:09Z", "log_type": "USER_VERIFYING_SUBMITTED"}


def server_where(submission_ran: bool) -> tuple[LocalServer, list[str]]:
    commands: list[str] = []

    def respond(request):
        if request.path.endswith("/command"):
            commands.append(request.json["command"])
            if len(commands) == 1:
                return Reply(drop=True)  # the answer to the first SUBMITVERIFYING is lost
            return Reply(200, {"commond_result": "EXCUTE_SUCCESS"})
        logs = (
            [UPDATED, SUBMITTED] if submission_ran else [SUBMITTED | {"operate_time": "2026-11-20T00:00:00Z"}, UPDATED]
        )
        return Reply(200, {"job_id": JOB, "name": "n", "state": "AUTO_VERIFYING", "operation_logs": logs})

    return LocalServer(respond), commands


@pytest.mark.parametrize(("ran", "sent"), [(True, 1), (False, 2)])
def test_lost_submit_answer(make_hook, ran: bool, sent: int) -> None:
    server, commands = server_where(submission_ran=ran)
    with server:
        result = finalize_job(make_hook(server.base_url), {"job_id": JOB, "assets": ["id_card_front"]})
    assert result["ok"] is True and result["commands"] == ["SUBMITVERIFYING"]
    assert commands == ["SUBMITVERIFYING"] * sent  # never a second submission of a job that was submitted
    assert ("note" in result) is ran
