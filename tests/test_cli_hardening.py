"""CLI findings of the hardening review: origin-cert's private files, check-token's verdict when
the Cloudflare API fails."""

from __future__ import annotations

import json
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from flaregate import deploy as ops
from flaregate.cli import main
from flaregate.errors import DeployError
from tests.fake_cloudflare import ACCOUNT, FakeCloudflare, full_token

OUTPUTS = {
    "originCertificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    "originPrivateKey": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    "originSecret": "s3cret-origin",
}


def test_origin_key_is_never_written_through_a_planted_symlink(tmp_path):
    out = tmp_path / "tls"
    out.mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("do not touch")
    (out / "origin.key").symlink_to(victim)
    written = ops.write_origin_files(OUTPUTS, out, force=True)
    assert victim.read_text() == "do not touch"
    key = out / "origin.key"
    assert not key.is_symlink() and key.read_text() == OUTPUTS["originPrivateKey"]
    assert all(stat.S_IMODE(os.lstat(p).st_mode) == 0o600 for p in written)
    assert sorted(p.name for p in out.iterdir()) == [
        "origin-secret.txt",
        "origin.key",
        "origin.pem",
    ]


def test_a_planted_symlink_without_force_is_refused(tmp_path):
    out = tmp_path / "tls"
    out.mkdir(mode=0o700)
    (out / "origin.pem").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DeployError, match="--force"):
        ops.write_origin_files(OUTPUTS, out)
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_directory_others_can_write_is_refused(tmp_path, mode):
    out = tmp_path / "tls"
    out.mkdir()
    out.chmod(mode)
    with pytest.raises(DeployError, match="writable by other users"):
        ops.write_origin_files(OUTPUTS, out)
    assert list(out.iterdir()) == []


def test_a_symlinked_directory_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(DeployError, match="symbolic link"):
        ops.write_origin_files(OUTPUTS, tmp_path / "link")


def test_a_new_directory_is_private(tmp_path):
    ops.write_origin_files(OUTPUTS, tmp_path / "new" / "tls")
    assert stat.S_IMODE((tmp_path / "new" / "tls").stat().st_mode) == 0o700


# --- check-token when the API fails -----------------------------------------------------------
CLOUDFLARE_502_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><center>"
    "<h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>\n"
)


@pytest.fixture
def html_502_api(monkeypatch):
    """An API that answers every call with Cloudflare's HTML 502 page, as its edge does."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _serve(self):
            body = CLOUDFLARE_502_PAGE.encode()
            self.send_response(502)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", f"http://127.0.0.1:{server.server_port}/client/v4")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "cf-token-that-may-be-fine")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("COLUMNS", "200")
    yield
    server.shutdown()


@pytest.fixture
def rate_limited_api(monkeypatch):
    with FakeCloudflare() as fake:
        token = fake.add(full_token())
        fake.fail("/user/tokens/verify", 429, 971, "Please wait", times=50, retry_after=0)
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", fake.base_url)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token.value)
        monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
        monkeypatch.setenv("COLUMNS", "200")
        yield


@pytest.mark.parametrize("api", ["html_502_api", "rate_limited_api"])
def test_an_api_failure_is_unverified_and_never_asks_for_a_new_token(request, api):
    request.getfixturevalue(api)
    result = CliRunner().invoke(main, ["check-token"])
    assert result.exit_code == 1
    assert "unverified" in result.output and "│ missing" not in result.output
    assert "Create a token" not in result.output and "dash.cloudflare.com" not in result.output
    assert "Something needed is missing" not in result.output
    assert "Retry in a minute" in result.output.splitlines()[-1]
    assert "<html" not in result.output.lower()


def test_an_html_error_page_is_named_once_not_pasted_in_every_row(html_502_api):
    result = CliRunner().invoke(main, ["check-token"])
    assert result.output.count("an HTML error page (502 Bad Gateway)") == 1
    as_json = json.loads(CliRunner().invoke(main, ["check-token", "--json"]).stdout)
    text = json.dumps(as_json)
    assert "<html" not in text.lower() and "502 Bad Gateway" in text
    assert {row["state"] for row in as_json["permissions"]} == {"unverified"}


@pytest.mark.parametrize(
    "args",
    [["keys", "list"], ["keys", "create", "--name", "ci"], ["usage", "--gateway-id", "gw"]],
)
def test_an_html_error_page_behind_any_command_is_named_not_pasted(html_502_api, monkeypatch, args):
    monkeypatch.setenv("FLAREGATE_KV_NAMESPACE_ID", "0" * 32)
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    assert "an HTML error page (502 Bad Gateway)" in result.output
    assert "<html" not in result.output.lower() and "<center" not in result.output.lower()
    assert "Traceback" not in result.output
