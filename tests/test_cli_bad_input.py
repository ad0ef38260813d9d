"""Every CLI command, given bad input, fails with one clear line: no traceback, non-zero exit.

The command tree is walked (new commands are covered without a change here). Each option and
argument that takes a value is given, in turn, each of a set of bad values, with the others
valid; then each command runs with a broken environment ($CLOUDFLARE_BASE_URL that is not a
URL, an account id that is not one). Pulumi and Cloudflare are the usual fakes (a fake `pulumi`
binary at the Automation API boundary, tests/fake_cloudflare.py over HTTP).
"""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from flaregate.cli import main
from tests.fake_cloudflare import ACCOUNT, NAMESPACE, ZONE, FakeCloudflare, full_token
from tests.fake_pulumi import use_fake_pulumi


def leaf_commands(command: click.Command, path: tuple[str, ...] = ()):
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from leaf_commands(sub, (*path, name))
    else:
        yield path, command


COMMANDS = list(leaf_commands(main))
BAD_VALUES = ["", "-1", "99999999d", "x" * 3000, "\u00e9\u4e16 \U0001f600 a=b=c"]
BAD_ENVIRONMENTS = [
    {"CLOUDFLARE_BASE_URL": "http://[::1"},
    {"CLOUDFLARE_BASE_URL": "not a url"},
    {"CLOUDFLARE_BASE_URL": "http://127.0.0.1:1"},
    {"CLOUDFLARE_ACCOUNT_ID": "x" * 3000},
    {"FLAREGATE_KV_NAMESPACE_ID": "../.."},
]


@pytest.fixture
def env(tmp_path, monkeypatch):
    with FakeCloudflare() as api:
        token = api.add(full_token())
        use_fake_pulumi(tmp_path, monkeypatch, api.base_url, token.value, ACCOUNT)
        monkeypatch.setenv("FLAREGATE_KV_NAMESPACE_ID", NAMESPACE)
        # `flaregate dev` with valid input would install Miniflare: here npm may only use an
        # empty cache, so it fails at once, and that failure must be one clear line too.
        monkeypatch.setenv("FLAREGATE_CACHE_DIR", str(tmp_path / "flaregate-cache"))
        monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))
        monkeypatch.setenv("npm_config_offline", "true")
        (tmp_path / "a-file").write_text("not a directory")
        yield {"token": token.value, "tmp": tmp_path}


def valid_value(param: click.Parameter, tmp) -> str:
    if isinstance(param.type, click.Choice):
        return param.type.choices[0]
    return {
        "out_dir": str(tmp / "out"),
        "docs_dir": str(tmp / "docs"),
        "name": "laptop",
        "key_id": "k1",
        "expires": "90d",
        "grace": "1h",
        "zone_id": ZONE,
        "account_id": ACCOUNT,
        "namespace_id": NAMESPACE,
        "stack": "prod",
        "settings": "logLevel=info",
    }.get(param.name, "x")


def option_args(param: click.Parameter, value: str) -> list[str]:
    if isinstance(param, click.Argument):
        return [value]
    return [param.opts[0], value]


def base_args(command: click.Command, tmp, skip: str | None = None) -> list[str]:
    args = []
    for param in command.params:
        if param.name == skip or not param.required:
            continue
        args += option_args(param, valid_value(param, tmp))
    return args


def assert_one_clear_line(result, args, token):
    what = f"flaregate {' '.join(a[:40] for a in args)}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{what}: raised {result.exception!r}"
    )
    assert "Traceback" not in result.output, what
    assert token not in result.output, what
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    # One error line, or (check-token) a report whose verdict is the exit status.
    assert len(errors) <= 1, f"{what}:\n{result.output}"
    if result.exit_code != 0:
        assert result.output.strip(), f"{what}: failed without a word"
    for line in errors:
        assert len(line) > len("Error: ") and "This is a bug in flaregate" not in line, what


def run(args):
    return CliRunner().invoke(main, args, input="n\n")


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_with_bad_values(env, path, command):
    tmp = env["tmp"]
    valued = [p for p in command.params if not getattr(p, "is_flag", False) and p.name != "help"]
    bad_values = [*BAD_VALUES, str(tmp / "a-file")]
    failed = 0
    for param in valued:
        for value in bad_values:
            args = [*path, *base_args(command, tmp, skip=param.name), *option_args(param, value)]
            result = run(args)
            assert_one_clear_line(result, args, env["token"])
            failed += result.exit_code != 0
    # Not every value is wrong for every option ("=" is a fine key name), but most are.
    assert not valued or failed >= len(valued), f"{' '.join(path)}: only {failed} refused"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
@pytest.mark.parametrize("broken", BAD_ENVIRONMENTS, ids=lambda e: next(iter(e.items()))[1][:20])
def test_every_command_in_a_broken_environment(env, monkeypatch, path, command, broken):
    for name, value in broken.items():
        monkeypatch.setenv(name, value)
    args = [*path, *base_args(command, env["tmp"])]
    assert_one_clear_line(run(args), args, env["token"])


def test_a_key_lifetime_too_long_for_a_date_is_refused_with_the_maximum(env):
    result = run(["keys", "create", "--name", "a", "--expires", "99999999d"])
    assert result.exit_code == 2
    assert "Error: Invalid value for --expires: '99999999d' is too long" in result.output


def test_an_invalid_base_url_is_named(env, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", "http://[::1")
    result = run(["keys", "list"])
    assert result.exit_code == 1
    assert "$CLOUDFLARE_BASE_URL" in result.output.splitlines()[-1]
