"""A minimal local Cloudflare API for the deploy preflight: token verify and workers.dev subdomain.

The official ``cloudflare`` SDK talks to it through ``base_url`` (ending in /client/v4). Answers
follow Cloudflare's envelope ``{"success", "errors", "messages", "result"}``; an unknown token is
401 with code 1000 "Invalid API Token", as documented for /user/tokens/verify, and an
account-owned token fails the user endpoint the same way (it verifies per account). An account
without a workers.dev subdomain answers 404; its error code here (10007) is an assumption, the
client only relies on the status.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeToken:
    owner: str = "user"  # "user" or "account"
    status: str = "active"
    account_id: str | None = None
    id: str = "ed17574386854bf78a67040be0a770b0"


@dataclass
class FakeCloudflare:
    tokens: dict[str, FakeToken] = field(default_factory=dict)
    subdomains: dict[str, str] = field(default_factory=dict)
    """account id -> workers.dev subdomain; accounts without one answer 404."""
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    """(method, path, Authorization header) for every request."""


def _envelope(result=None, errors=(), status=200):
    body = {"success": not errors, "errors": list(errors), "messages": [], "result": result}
    return status, body


def _invalid_token():
    return _envelope(None, [{"code": 1000, "message": "Invalid API Token"}], 401)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def do_GET(self):
        api: FakeCloudflare = self.server.api
        auth = self.headers.get("authorization")
        api.requests.append(("GET", self.path, auth))
        token = api.tokens.get((auth or "").removeprefix("Bearer "))
        path = self.path.split("?")[0].removeprefix("/client/v4")
        if path == "/user/tokens/verify":
            if token is None or token.owner != "user":
                return self._send(*_invalid_token())
            return self._send(*_envelope({"id": token.id, "status": token.status}))
        match = re.fullmatch(r"/accounts/([^/]+)/tokens/verify", path)
        if match:
            if token is None or token.owner != "account" or token.account_id != match[1]:
                return self._send(*_invalid_token())
            return self._send(*_envelope({"id": token.id, "status": token.status}))
        match = re.fullmatch(r"/accounts/([^/]+)/workers/subdomain", path)
        if match:
            if token is None:
                return self._send(*_invalid_token())
            if match[1] not in api.subdomains:
                error = {"code": 10007, "message": "This account does not have a subdomain."}
                return self._send(*_envelope(None, [error], 404))
            return self._send(*_envelope({"subdomain": api.subdomains[match[1]]}))
        return self._send(*_envelope(None, [{"code": 7003, "message": "No route"}], 404))

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeCloudflareServer:
    def __init__(self, api: FakeCloudflare):
        self.api = api
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.api = api
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/client/v4"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
