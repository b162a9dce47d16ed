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


def _bounded(kind: type[int] | type[float], low: float, high: float, what: str) -> Any:
    """Return an argparse ``type`` that reads a ``kind`` number from ``low`` to ``high``.

    :param kind: ``int`` or ``float``.
    :param low: smallest value accepted.
    :param high: largest value accepted.
    :param what: how the error describes the accepted values.
    """

    def read(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not low <= value <= high:  # NaN compares false
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return read


def _client_id(text: str) -> str:
    """Read ``--client-id``: a CCAI client id is a positive integer.

    :param text: the argument.
    """
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"expected a positive integer client id, got {text!r}")
    return text


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse command line arguments.

    :param argv: arguments without the program name; None means ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(
        prog="ccai-sandbox",
        description="Local emulator of the CloudContactAI core API, files API and signed-URL uploads.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=_bounded(int, 0, 65535, "a port from 0 to 65535"),
        default=8787,
        help="port to bind, 0 picks a free one (default: 8787)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("CCAI_SANDBOX_API_KEY", DEFAULT_API_KEY),
        help=f"bearer token clients must send (default: $CCAI_SANDBOX_API_KEY or {DEFAULT_API_KEY!r})",
    )
    parser.add_argument("--client-id", type=_client_id, default=None, help="if set, other client ids get 403")
    parser.add_argument(
        "--send-seconds",
        type=_bounded(float, 0, 86400, "a number of seconds from 0 to 86400"),
        default=3.0,
        help="time a campaign takes to be fully sent (default: 3)",
    )
    parser.add_argument(
        "--url-ttl",
        type=_bounded(int, 1, 604800, "a whole number of seconds from 1 to 604800"),
        default=86400,
        help="signed upload URL lifetime in s, at most 7 days as S3 allows (default: 86400)",
    )
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
    :return: process exit code: 0 after a stop signal, 1 if the sandbox could not start.
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
    try:
        server.start()
    except OSError as exc:  # e.g. a --journal path that cannot be written, or a port in use
        print(f"ccai-sandbox: {exc}", file=sys.stderr)
        return 1
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
