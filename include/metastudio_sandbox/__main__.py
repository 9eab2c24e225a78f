"""``python -m metastudio_sandbox --host 127.0.0.1 --port 0 --ak AK --sk SK --project-id PID ...``"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from metastudio_sandbox.core import Sandbox
from metastudio_sandbox.faults import parse_fault_flag, parse_throttle_flag
from metastudio_sandbox.server import base_url_of, bind, make_server, run
from metastudio_sandbox.settings import Settings

READY_LINE = "MetaStudio sandbox listening on {url}"


def non_negative(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="python -m metastudio_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (admin API included)")
    parser.add_argument("--port", type=int, default=8790, help="0 picks a free port")
    parser.add_argument("--ak", default=defaults.ak, help="access key accepted for SDK-HMAC-SHA256")
    parser.add_argument("--sk", default=defaults.sk, help="secret key accepted for SDK-HMAC-SHA256")
    parser.add_argument("--project-id", default=defaults.project_id)
    parser.add_argument("--iam-domain", default=defaults.iam_domain)
    parser.add_argument("--iam-user", default=defaults.iam_user)
    parser.add_argument("--iam-password", default=defaults.iam_password)
    parser.add_argument("--iam-project-name", default=defaults.iam_project_name, help="region name for scope")
    parser.add_argument("--scenario", type=Path, help="YAML/JSON scenario seeded into an empty data dir")
    parser.add_argument("--data-dir", type=Path, help="persistent state; default: a temporary directory")
    parser.add_argument("--public-url", help="base of presigned URLs; default: the Host the client used")
    parser.add_argument("--review-delay", type=float, default=defaults.review_delay, help="seconds")
    parser.add_argument("--token-ttl", type=float, default=defaults.token_ttl, help="IAM token lifetime, seconds")
    parser.add_argument("--url-ttl", type=float, default=defaults.url_ttl, help="presigned URL lifetime, seconds")
    parser.add_argument("--clock-skew", type=float, default=defaults.clock_skew, help="max X-Sdk-Date skew, s")
    parser.add_argument(
        "--upload-rate-mbps",
        type=non_negative,
        default=defaults.upload_rate_mbps,
        metavar="N",
        help="per-connection upload rate limit in megabits per second, like OBS's (0: unlimited)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="OP:KEY=VALUE[,KEY=VALUE]",
        help="inject faults, e.g. create:error_next=2,error_status=503 (repeatable; OP may be *)",
    )
    parser.add_argument(
        "--throttle",
        action="append",
        default=[],
        metavar="OP=RATE[:BURST]",
        help="token bucket per operation, e.g. list=5:10 (repeatable; OP may be *)",
    )
    parser.add_argument("--fault-seed", type=int, default=0, help="seed of the fault dice")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    faults = dict(parse_fault_flag(flag) for flag in args.fault)
    throttles = {}
    for flag in args.throttle:
        operation, rate, burst = parse_throttle_flag(flag)
        throttles[operation] = {"rate": rate, **({"burst": burst} if burst is not None else {})}
    return Settings(
        ak=args.ak,
        sk=args.sk,
        project_id=args.project_id,
        iam_domain=args.iam_domain,
        iam_user=args.iam_user,
        iam_password=args.iam_password,
        iam_project_name=args.iam_project_name,
        data_dir=args.data_dir,
        scenario=args.scenario,
        public_url=args.public_url,
        review_delay=args.review_delay,
        token_ttl=args.token_ttl,
        url_ttl=args.url_ttl,
        clock_skew=args.clock_skew,
        upload_rate_mbps=args.upload_rate_mbps,
        fault_seed=args.fault_seed,
        faults=faults,
        throttles=throttles,
    )


async def _serve_and_announce(server, sock, url: str) -> None:  # type: ignore[no-untyped-def]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        print(READY_LINE.format(url=url), flush=True)
    await task


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = settings_from(args)
        sandbox = Sandbox(settings)
        sock = bind(args.host, args.port)
    except (OSError, ValueError) as exc:
        print(f"metastudio_sandbox: {exc}", file=sys.stderr)
        return 2
    server = make_server(sandbox, args.log_level)
    # uvicorn re-raises the stop signal after its graceful shutdown; these no-op handlers turn
    # that into a normal exit with status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        run(_serve_and_announce(server, sock, base_url_of(sock)))
    finally:
        sock.close()
        sandbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
