"""Command line entry point: ``python -m airflow_provider_ccai.sandbox`` / ``ccai-sandbox``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

from airflow_provider_ccai.sandbox.server import SandboxServer, connection_dict

DEFAULT_API_KEY = "sandbox-api-key"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse command line arguments.

    :param argv: arguments without the program name; None means ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(
        prog="ccai-sandbox",
        description="Local emulator of the CloudContactAI core API, files API and signed-URL uploads.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port to bind, 0 picks a free one (default: 8787)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("CCAI_SANDBOX_API_KEY", DEFAULT_API_KEY),
        help=f"bearer token clients must send (default: $CCAI_SANDBOX_API_KEY or {DEFAULT_API_KEY!r})",
    )
    parser.add_argument("--client-id", default=None, help="if set, other client ids get 403")
    parser.add_argument(
        "--send-seconds", type=float, default=3.0, help="time a campaign takes to be fully sent (default: 3)"
    )
    parser.add_argument("--url-ttl", type=int, default=86400, help="signed upload URL lifetime in s (default: 86400)")
    parser.add_argument("--journal", default=None, help="append every request's journal entry to this JSON-lines file")
    parser.add_argument("--ready-file", default=None, help="write the base URL into this file once listening")
    parser.add_argument("--verbose", action="store_true", help="log each HTTP request to stderr")
    return parser.parse_args(argv)


def _write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so readers never see a partial file.

    :param path: destination file.
    :param text: content.
    """
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def connection_line(api_key: str, client_id: str | None, api_url: str, files_url: str) -> str:
    """Return the ``export AIRFLOW_CONN_CCAI_DEFAULT=...`` line for a running sandbox, ready to paste.

    The default key is public (it is in ``--help``), so it is shown; a key of your own is not printed,
    only a placeholder for it. Without ``--client-id`` any numeric id works, so one is filled in.

    :param api_key: the key the sandbox was started with.
    :param client_id: the ``--client-id``, if any.
    :param api_url: the sandbox's core API base URL.
    :param files_url: the sandbox's files API base URL.
    """
    shown_key = api_key if api_key == DEFAULT_API_KEY else "<api-key>"
    example = connection_dict(client_id or "1234", shown_key, api_url, files_url)
    return f"export AIRFLOW_CONN_CCAI_DEFAULT='{json.dumps(example)}'"


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox until SIGTERM or SIGINT.

    :param argv: arguments without the program name; None means ``sys.argv[1:]``.
    :return: process exit code.
    """
    args = _parse_args(argv)
    server = SandboxServer(
        args.api_key,
        client_id=args.client_id,
        host=args.host,
        port=args.port,
        url_ttl_seconds=args.url_ttl,
        send_seconds=args.send_seconds,
        journal_path=args.journal,
        verbose=args.verbose,
    )
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server.start()
    try:
        print(f"ccai-sandbox listening on {server.base_url}", flush=True)
        if args.ready_file:
            _write_atomically(args.ready_file, server.base_url)
        print(connection_line(args.api_key, args.client_id, server.api_url, server.base_url), flush=True)
        stop_requested.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
