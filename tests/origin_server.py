"""A small OpenAI-compatible origin server (what vLLM or llama.cpp's server answer) for tests.

It refuses requests without the gateway's shared secret, records what it received, and behaves
according to the model asked for:

- ``echo``: answers with the last user message (streamed as three chunks when ``stream`` is set,
  then a usage chunk when ``stream_options.include_usage`` is set, then ``[DONE]``);
- ``slow``: waits ``SLOW_SECONDS`` before answering;
- ``stall``: streams one chunk, then stalls for ``SLOW_SECONDS``;
- ``reject``: 400 in OpenAI's envelope; ``crash``: 500 with a plain-text body;
- ``drop``: closes the connection without answering;
- hostile ones, for the tests that the secret never leaves: ``redirect-<status>`` answers that
  status with a Location on ``redirect_to`` (another server the test controls);
  ``headers-<status>`` answers that status with every request header echoed back (in the
  message content for a 200, streamed when asked, else in the error body and as plain text).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ORIGIN_SECRET = "origin-secret-for-tests-0123456789abcdef"
ORIGIN_MODELS = ["echo", "slow", "stall", "reject", "crash", "drop"] + [
    f"{kind}-{status}"
    for kind, statuses in (
        ("redirect", (301, 302, 303, 307, 308)),
        ("headers", (200, 400, 429, 500)),
    )
    for status in statuses
]
SLOW_SECONDS = 5.0


def _chunk(model: str, delta: dict, finish: str | None = None) -> dict:
    return {
        "id": "chatcmpl-origin",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        # Only a client that followed a redirect (301/302/303 turn POST into GET) comes here.
        self.server.origin.requests.append({"path": self.path, "headers": dict(self.headers)})
        self._json(200, {"error": {"message": "followed a redirect", "type": "redirected"}})

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.origin.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": body}
        )
        if self.path != "/v1/chat/completions":
            return self._json(
                404, {"error": {"message": f"no route {self.path}", "type": "not_found"}}
            )
        secret_ok = self.headers.get("x-flaregate-origin-secret") == self.server.origin.secret
        bearer_ok = self.headers.get("authorization") == f"Bearer {self.server.origin.secret}"
        if not (secret_ok and bearer_ok):
            return self._json(401, {"error": {"message": "bad secret", "type": "auth"}})
        model = body.get("model")
        if isinstance(model, str) and model.startswith("redirect-"):
            self.send_response(int(model.split("-")[1]))
            self.send_header("location", f"{self.server.origin.redirect_to}/v1/chat/completions")
            self.send_header("content-length", "0")
            self.end_headers()
            return None
        if isinstance(model, str) and model.startswith("headers-"):
            return self._echo_headers(int(model.split("-")[1]), body)
        if model == "drop":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if model == "reject":
            return self._json(
                400,
                {
                    "error": {
                        "message": "max_tokens is too large for this model",
                        "type": "invalid_request_error",
                        "param": "max_tokens",
                        "code": None,
                    }
                },
            )
        if model == "crash":
            return self._send(500, b"Internal Server Error", "text/plain")
        if model == "slow":
            time.sleep(SLOW_SECONDS)
        text = str((body.get("messages") or [{}])[-1].get("content", ""))
        if body.get("stream"):
            return self._stream(model, text, body)
        return self._json(
            200,
            {
                "id": "chatcmpl-origin",
                "object": "chat.completion",
                "created": 1700000000,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"echo: {text}"},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
            },
        )

    def _echo_headers(self, status: int, body: dict) -> None:
        headers = json.dumps(dict(self.headers))
        if status == 200 and body.get("stream"):
            return self._stream(body["model"], headers, body)
        if status == 200:
            message = {"role": "assistant", "content": headers}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return self._json(200, {"id": "x", "object": "chat.completion", "choices": [choice]})
        if status == 500:
            return self._send(500, f"upstream said: {headers}".encode(), "text/plain")
        return self._json(status, {"error": {"message": f"bad request, you sent {headers}"}})

    def _stream(self, model: str, text: str, body: dict) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        events = [_chunk(model, {"role": "assistant", "content": ""})]
        events += [_chunk(model, {"content": part}) for part in ("echo", ": ", text)]
        events.append(_chunk(model, {}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
            events.append({**_chunk(model, {}), "choices": [], "usage": usage})
        for i, event in enumerate(events):
            self._write_chunk(f"data: {json.dumps(event)}\n\n".encode())
            if model == "stall" and i == 1:
                time.sleep(SLOW_SECONDS)
                return
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _write_chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _json(self, status: int, payload: dict) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler may still be sleeping for "slow"/"stall"
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # The Worker hangs up on a stalled or timed-out origin on purpose (that is what the
        # deadline tests check); a broken pipe then is expected, not a failure worth a traceback.
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class OriginServer:
    """The origin on 127.0.0.1; ``stop()`` and ``start()`` again keep the port (origin down/up)."""

    def __init__(self, secret: str = ORIGIN_SECRET, host: str = "127.0.0.1"):
        self.secret = secret
        self.host = host
        self.redirect_to = "http://localhost:9"
        self.requests: list[dict] = []
        self.port = 0
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> OriginServer:
        self._server = _Server((self.host, self.port), _Handler)
        self._server.origin = self
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
