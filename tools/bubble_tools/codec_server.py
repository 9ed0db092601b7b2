"""A Temporal codec server that shows our binary protobuf payloads as JSON.

    ./pants run tools:codec-server -- --port 8081
    temporal workflow show -w item-processing/ITEM --codec-endpoint http://127.0.0.1:8081
    # Temporal UI: Settings -> Codec Server -> http://127.0.0.1:8081

It speaks Temporal's codec-server protocol: POST ``/decode`` and ``/encode`` with a JSON body
``{"payloads": [...]}`` (``temporal.api.common.v1.Payloads`` in proto3 JSON), answering the same
shape. The UI calls it from the browser, so it answers CORS preflights for the origins given
(the local UI by default). ``GET /`` shows a page saying what it is and how to set it in the UI.
Payloads never leave this process; it keeps no state.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import google.protobuf.json_format
from temporalio.api.common.v1 import Payloads

from bubble_shared.temporal.codec import decode_payloads, encode_payloads
from bubble_tools.codec_page import index_page

log = logging.getLogger("bubble_tools.codec_server")

MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_ORIGINS = ("http://localhost:8233", "http://127.0.0.1:8233")
_ROUTES: dict[str, Callable[[Payloads], Payloads]] = {
    "/decode": decode_payloads,
    "/encode": encode_payloads,
}


def make_server(host: str, port: int, allowed_origins: Sequence[str]) -> ThreadingHTTPServer:
    """An unstarted server; ``port`` 0 picks a free one (see ``server.server_address``)."""
    origins = frozenset(allowed_origins)

    class Handler(BaseHTTPRequestHandler):
        def _cors(self) -> None:
            origin = self.headers.get("Origin")
            if origin and (origin in origins or "*" in origins):
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header(
                    "Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization"
                )
                self.send_header("Vary", "Origin")

        def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self._cors()
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_OPTIONS(self) -> None:  # noqa: N802 - the name http.server dispatches to
            self.send_response(204)
            self._cors()
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
            if self.path.split("?", 1)[0] not in ("/", "/index.html"):
                self._reply(404, b"Not found: see / for what this server answers.\n", "text/plain")
                return
            reached = self.headers.get("Host")  # the address the browser used
            url = f"http://{reached}" if reached else own_url
            self._reply(200, index_page(url), "text/html; charset=utf-8")

        def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
            route = _ROUTES.get(self.path.split("?", 1)[0].rstrip("/"))
            if route is None:
                self._reply(404, b'{"error": "POST /decode or /encode"}')
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._reply(413, b'{"error": "body too large"}')
                return
            try:
                payloads = google.protobuf.json_format.Parse(
                    self.rfile.read(length), Payloads(), ignore_unknown_fields=True
                )
                answer = route(payloads)
            except google.protobuf.json_format.ParseError as err:
                self._reply(400, json.dumps({"error": str(err)}).encode())
                return
            self._reply(
                200, google.protobuf.json_format.MessageToJson(answer, indent=None).encode()
            )

        def log_message(self, format: str, *args: object) -> None:
            log.debug(format, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    own_url = f"http://{host}:{server.server_port}"
    return server


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="codec-server", daemon=True)
    thread.start()
    return thread


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=None,
        help=f"browser origin that may call it (repeatable; default {', '.join(DEFAULT_ORIGINS)})",
    )
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, args.allow_origin or DEFAULT_ORIGINS)
    print(f"codec server on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
