"""flaregate installed from its wheel works from any directory, with no source checkout around.

The wheel is built from the sdist of a copy of the source tree and installed into a fresh venv
(tests/installed.py); every command runs from a temporary directory outside the repository.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import textwrap
import zipfile
from pathlib import Path

from flaregate.config import WorkerConfig
from flaregate.render import render_worker
from flaregate.stack_config import load_settings
from tests.fake_cloudflare import ACCOUNT, FakeCloudflare, full_token

REPO = Path(__file__).resolve().parent.parent
WRANGLER = REPO / "node_modules" / ".bin" / "wrangler"


def run(installed, args, cwd: Path, env: dict | None = None, check: bool = True):
    result = subprocess.run(
        [str(installed.flaregate), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def repo_files(*patterns: str) -> set[str]:
    return {str(p.relative_to(REPO)) for pattern in patterns for p in REPO.glob(pattern)}


def test_the_wheel_holds_everything_inside_the_flaregate_package(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert {name.split("/")[0] for name in names} == {"flaregate", "flaregate-0.1.0.dist-info"}
    # The repository's infra/ and worker_template/ are installed inside the package.
    needed = {
        "flaregate/" + name
        for name in repo_files("worker_template/*.j2", "worker_template/src/*", "infra/*.py")
    } | repo_files("flaregate/data/*", "flaregate/local/*.mjs", "flaregate/local/*.js")
    assert {"flaregate/worker_template/src/router.js", "flaregate/infra/program.py"} <= needed
    assert {"flaregate/data/models.json", "flaregate/local/stand_in_ai.js"} <= needed
    assert needed - names == set()


def test_the_sdist_is_the_repository_layout(installed):
    with tarfile.open(installed.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    wanted = repo_files(
        "Pulumi.yaml",
        "package-lock.json",
        "infra/*.py",
        "worker_template/src/*",
        "scripts/*",
        "docs/*.md",
        "tests/fixtures/workers-ai/*",
    )
    assert "infra/__main__.py" in wanted and "tests/fixtures/workers-ai/errors.json" in wanted
    assert wanted - names == set()


def test_the_installed_flaregate_is_imported_from_the_wheel_and_adds_no_other_name(
    installed, tmp_path
):
    script = textwrap.dedent(
        """
        import importlib.util, json
        import flaregate, flaregate.infra.program, flaregate.render
        print(json.dumps({
            "flaregate": flaregate.__file__,
            "program": flaregate.infra.program.__file__,
            "templates": str(flaregate.render.TEMPLATE_DIR),
            "infra": importlib.util.find_spec("infra") is not None,
            "worker_template": importlib.util.find_spec("worker_template") is not None,
        }))
        """
    )
    result = subprocess.run(
        [str(installed.python), "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    where = json.loads(result.stdout)
    site = str(installed.site_packages)
    assert where["flaregate"].startswith(site)
    assert where["program"].startswith(site)
    assert where["templates"].startswith(site)
    assert where["infra"] is False and where["worker_template"] is False


def test_version_render_and_a_wrangler_dry_run_from_an_unrelated_directory(installed, tmp_path):
    assert run(installed, ["--version"], tmp_path).stdout.strip() == "flaregate, version 0.1.0"
    run(installed, ["render", "--out", "out"], tmp_path)
    assert (tmp_path / "out" / "worker.js").read_text() == render_worker(WorkerConfig())
    dry = subprocess.run(
        [str(WRANGLER), "deploy", "--dry-run", "--config", "out/wrangler.toml"]
        + ["--outdir", "bundle"],
        cwd=tmp_path,
        env={**os.environ, "WRANGLER_SEND_METRICS": "false", "CI": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "--dry-run: exiting now." in dry.stdout
    assert "env.KEYS" in dry.stdout and "env.AI" in dry.stdout


def test_render_takes_a_flaregate_toml_from_the_current_directory(installed, tmp_path):
    (tmp_path / "flaregate.toml").write_text('worker_name = "my-gateway"\n')
    run(installed, ["render", "--out", "out"], tmp_path)
    assert 'name = "my-gateway"' in (tmp_path / "out" / "wrangler.toml").read_text()


def test_check_token_runs_from_the_installed_package(installed, tmp_path):
    with FakeCloudflare() as fake:
        token = fake.add(full_token())
        result = run(
            installed,
            ["check-token", "--json"],
            tmp_path,
            env={
                "CLOUDFLARE_API_TOKEN": token.value,
                "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
                "CLOUDFLARE_BASE_URL": fake.base_url,
            },
        )
    report = json.loads(result.stdout)
    assert report["deployable"] is True


def test_the_installed_program_deploys_the_worker_render_writes(installed, tmp_path):
    """`flaregate deploy` up to the network: the wheel's Pulumi program under Pulumi's mocks."""
    script = textwrap.dedent(
        f"""
        import hashlib, json, sys
        sys.path.append({str(REPO)!r})  # for tests/; after site-packages: flaregate is the wheel's
        import flaregate.infra.program
        from tests.pulumi_mocks import run_program
        d = run_program({{"accountId": {ACCOUNT!r}}})
        content = d.one("cloudflare:index/workersScript:WorkersScript")["content"]
        print(json.dumps({{"program": flaregate.infra.program.__file__,
                          "sha256": hashlib.sha256(content.encode()).hexdigest()}}))
        """
    )
    result = subprocess.run(
        [str(installed.python), "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["program"].startswith(str(installed.site_packages))
    expected = render_worker(load_settings({"accountId": ACCOUNT}).worker)
    assert out["sha256"] == hashlib.sha256(expected.encode()).hexdigest()


def test_docs_outside_a_checkout_says_so_instead_of_reporting_stale_docs(installed, tmp_path):
    result = run(installed, ["docs", "--check"], tmp_path, check=False)
    assert result.returncode == 1
    assert "not inside" in result.stderr and "clone of the repository" in result.stderr
    assert "stale" not in result.stderr


def test_the_pinned_runtime_versions_are_the_ones_the_tests_run():
    from flaregate.node_tools import MINIFLARE, WRANGLER

    pins = json.loads((REPO / "package.json").read_text())["devDependencies"]
    assert pins[MINIFLARE[0]] == MINIFLARE[1]
    assert pins[WRANGLER[0]] == WRANGLER[1]


def test_docs_from_an_installed_flaregate_inside_a_checkout_says_which_one_runs(installed):
    result = run(installed, ["docs", "--check"], REPO, check=False)
    assert result.returncode == 1
    assert f"not from the checkout at {REPO}" in result.stderr
    assert "pip install -e ." in result.stderr


FAKE_PULUMI = """#!/usr/bin/env python3
# A Pulumi CLI that answers what flaregate asks before the engine runs, and fails the engine the
# way it fails offline: what `flaregate deploy` meets on a machine that cannot reach Cloudflare.
import json, os, sys
args = sys.argv[1:]
with open(os.path.join(os.path.dirname(__file__), "calls.jsonl"), "a") as log:
    log.write(json.dumps(args) + "\\n")
if args == ["version"]:
    print("v3.272.0")
elif "config" in args and "--json" in args:
    account = os.environ["CLOUDFLARE_ACCOUNT_ID"]
    print(json.dumps({"flaregate:accountId": {"value": account, "secret": False}}))
elif "preview" in args or "up" in args:
    sys.stderr.write("error: Post https://api.cloudflare.com/client/v4/accounts: dial tcp: "
                     "lookup api.cloudflare.com: no such host\\n")
    sys.exit(255)
"""


def test_deploy_runs_from_the_installed_package_up_to_the_network(installed, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(FAKE_PULUMI)
    (bin_dir / "pulumi").chmod(0o755)
    with FakeCloudflare() as fake:
        token = fake.add(full_token())
        result = run(
            installed,
            ["deploy"],
            tmp_path,
            env={
                "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                "CLOUDFLARE_API_TOKEN": token.value,
                "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
                "CLOUDFLARE_BASE_URL": fake.base_url,
            },
            check=False,
        )
    calls = [json.loads(line) for line in (bin_dir / "calls.jsonl").read_text().splitlines()]
    assert result.returncode == 1
    assert "permissions this deployment needs are confirmed" in result.stdout
    # The engine was started on the inline program the installed package serves...
    engine = next(c for c in calls if "preview" in c or "up" in c)
    assert "auto.inline" in engine
    # ...and the failure that needs the network is one clear line, not a traceback.
    assert "network connection failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert token.value not in result.stdout + result.stderr
