"""`flaregate render` writes a Worker + wrangler.toml that wrangler accepts, and the docs stay in sync."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from flaregate.catalog import load_catalog
from flaregate.cli import main
from flaregate.config import WorkerConfig
from flaregate.errors import ConfigError
from flaregate.generated_docs import generated_docs
from flaregate.render import render

REPO = Path(__file__).resolve().parent.parent


def test_render_command_writes_worker_and_wrangler_toml(tmp_path):
    result = CliRunner().invoke(
        main, ["render", "--out", str(tmp_path), "--kv-namespace-id", "abc123"]
    )
    assert result.exit_code == 0, result.output
    worker = (tmp_path / "worker.js").read_text()
    assert "export default" in worker
    assert "{{" not in worker.split("const CATALOG")[0]  # every template variable was filled
    toml = tomllib.loads((tmp_path / "wrangler.toml").read_text())
    assert toml["main"] == "worker.js"
    assert toml["ai"] == {"binding": "AI"}
    assert toml["kv_namespaces"] == [{"binding": "KEYS", "id": "abc123"}]
    assert re.match(r"\d{4}-\d{2}-\d{2}$", toml["compatibility_date"])
    assert toml["vars"]["GATEWAY_ID"] == ""


def test_wrangler_dry_run_accepts_the_rendered_pair(tmp_path):
    CliRunner().invoke(main, ["render", "--out", str(tmp_path / "dist")])
    result = subprocess.run(
        [
            "npx",
            "--no-install",
            "wrangler",
            "deploy",
            "--dry-run",
            "--outdir",
            str(tmp_path / "out"),
            "--config",
            str(tmp_path / "dist" / "wrangler.toml"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env={
            "PATH": subprocess.os.environ["PATH"],
            "HOME": str(tmp_path),
            "WRANGLER_SEND_METRICS": "false",
            "CI": "1",
        },
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "--dry-run: exiting now." in result.stdout + result.stderr
    bundle = tmp_path / "out" / "worker.js"
    assert bundle.exists() and "handleChatCompletions" in bundle.read_text()


def test_config_file_reaches_the_rendered_worker(tmp_path):
    (tmp_path / "flaregate.toml").write_text(
        'worker_name = "my-gate"\ngateway_id = "my-gw"\ncors_origins = ["https://a.example"]\n'
        '[aliases]\nmy-model = "@cf/qwen/qwq-32b"\n'
    )
    result = CliRunner().invoke(
        main, ["render", "--config", str(tmp_path / "flaregate.toml"), "--out", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    worker = (tmp_path / "d" / "worker.js").read_text()
    settings = json.loads(re.search(r"const BUILTIN_SETTINGS = (.*);", worker).group(1))
    assert settings["gateway"]["id"] == "my-gw"
    assert settings["cors"]["origins"] == ["https://a.example"]
    catalog = json.loads(re.search(r"const CATALOG = (.*);", worker).group(1))
    assert catalog["aliases"]["my-model"] == "@cf/qwen/qwq-32b"
    assert 'name = "my-gate"' in (tmp_path / "d" / "wrangler.toml").read_text()


@pytest.mark.parametrize(
    "settings, key",
    [
        ({"worker_name": "Bad Name"}, "worker_name"),
        ({"timeout_ms": 0}, "timeout_ms"),
        ({"auth_cache_seconds": 600}, "auth_cache_seconds"),
        ({"aliases": {"x": "@cf/not/in-catalog"}}, "alias"),
        ({"wat": 1}, "wat"),
    ],
)
def test_bad_config_is_one_clear_error_naming_the_key(settings, key):
    with pytest.raises(ConfigError, match=key):
        config = WorkerConfig.from_mapping(settings)
        render(config)


def test_cli_reports_bad_config_without_a_traceback(tmp_path):
    (tmp_path / "flaregate.toml").write_text('worker_name = "UPPER"\n')
    result = CliRunner().invoke(
        main, ["render", "--config", str(tmp_path / "flaregate.toml"), "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "worker_name" in result.output and "Traceback" not in result.output


def test_generated_docs_are_in_sync():
    for name, text in generated_docs().items():
        assert (REPO / "docs" / name).read_text() == text, (
            f"docs/{name} is stale: run `flaregate docs`"
        )


def test_every_alias_resolves_to_a_catalog_model():
    catalog = load_catalog()
    ids = {m["id"] for m in catalog["models"]}
    assert set(catalog["aliases"].values()) <= ids
    for alias in ("gpt-4o", "gpt-4o-mini", "text-embedding-3-small", "dall-e-3"):
        assert alias in catalog["aliases"]
