"""Error envelope and every error code the sandbox answers with (see docs/sandbox.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

# MetaStudio (MSS.*): codes documented by Huawei are marked "real"; the rest are sandbox choices.
MSS_INVALID_PARAMETER = "MSS.00000003"  # real: 400 Invalid parameter
MSS_BAD_JSON = "MSS.10000002"  # real: 400 Request JSON exception
MSS_API_NOT_FOUND = "MSS.00010003"  # real: SR.api not found (answered with 404)
MSS_METHOD_NOT_ALLOWED = "MSS.00010004"  # real: SR.method not allowed (answered with 405)
MSS_PROJECT_MISMATCH = "MSS.00010009"  # real: urlTenantId is not equal tokenTenantId
MSS_JOB_NOT_FOUND = "MSS.10002001"  # sandbox: 404 training job not found
MSS_STATE_CONFLICT = "MSS.10002002"  # sandbox: 400 operation not allowed in the job's state
MSS_NA_ONLY = "MSS.10002003"  # sandbox: command reserved for NA-whitelisted accounts
MSS_PARTS_MISSING = "MSS.10002004"  # sandbox: confirm with parts or files missing
MSS_INTERNAL = "MSS.10000001"  # sandbox: 500 unexpected error inside the sandbox
MSS_INJECTED = "MSS.99999999"  # sandbox: default code of an injected error

# API Gateway (APIGW.*).
APIGW_AUTH = "APIGW.0301"  # 401 bad or missing credentials, bad signature, expired token
APIGW_CLOCK_SKEW = "APIGW.0303"  # 401 X-Sdk-Date too far from the server clock
APIGW_THROTTLED = "APIGW.0308"  # 429 throttling threshold reached

# Fake IAM.
IAM_BAD_REQUEST = "IAM.0011"  # 400 malformed token request
IAM_BAD_CREDENTIALS = "IAM.0002"  # 401 wrong domain, user, password or project

# Presigned-URL store (OBS.*): all sandbox choices.
OBS_SIGNATURE = "OBS.0403"  # 403 signature mismatch or unknown URL
OBS_METHOD = "OBS.0405"  # 405 only PUT uploads / GET downloads
OBS_USED = "OBS.0410"  # 403 URL already used by a successful upload
OBS_LENGTH_REQUIRED = "OBS.0411"  # 411 no Content-Length (chunked bodies are refused)
OBS_SUPERSEDED = "OBS.0412"  # 403 a newer Update replaced this URL (or the job is gone)
OBS_CONTENT_TYPE = "OBS.0415"  # 400 wrong Content-Type
OBS_EXPIRED = "OBS.0419"  # 403 URL expired


@dataclass
class ApiError(Exception):
    """An error answer: status, code, message and extra headers."""

    status: int
    code: str
    msg: str
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.msg}"

    def body(self, request_id: str | None = None) -> bytes:
        payload: dict[str, object] = {"error_code": self.code, "error_msg": self.msg}
        if request_id and self.code.startswith(("APIGW.", "OBS.")):
            payload["request_id"] = request_id  # API Gateway style bodies carry the request id
        if self.code.startswith("IAM."):
            title = "Unauthorized" if self.status == 401 else "Bad Request"
            payload["error"] = {"code": self.status, "message": self.msg, "title": title}
        return json.dumps(payload).encode()


def invalid(field_name: str, problem: str) -> ApiError:
    """400 MSS.00000003 naming the offending field."""
    return ApiError(400, MSS_INVALID_PARAMETER, f"Invalid parameter: {field_name} {problem}")
