"""The permission table is the one source: docs/permissions.md, links and audits follow it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from flaregate.cli import main
from flaregate.errors import ConfigError
from flaregate.permissions import FEATURES, PERMISSIONS, needed_for, permissions_markdown

REPO = Path(__file__).resolve().parent.parent


def test_docs_permissions_md_is_generated_from_the_table():
    assert (REPO / "docs" / "permissions.md").read_text() == permissions_markdown()
    for p in PERMISSIONS:
        assert p.api_name in permissions_markdown()


def test_docs_check_fails_when_permissions_md_drifts(tmp_path):
    docs = tmp_path / "docs"
    assert CliRunner().invoke(main, ["docs", "--docs-dir", str(docs)]).exit_code == 0
    assert CliRunner().invoke(main, ["docs", "--check", "--docs-dir", str(docs)]).exit_code == 0
    page = docs / "permissions.md"
    page.write_text(page.read_text().replace("SSL and Certificates Write", "Origin CA Key"))
    result = CliRunner().invoke(main, ["docs", "--check", "--docs-dir", str(docs)])
    assert result.exit_code == 1 and "permissions.md" in result.output


def test_every_feature_needs_something_and_every_row_says_why():
    for feature in FEATURES:
        assert any(feature in p.needed_by for p in PERMISSIONS), feature
    for p in PERMISSIONS:
        assert set(p.needed_by) <= set(FEATURES)
        assert all(len(why) > 20 for why in p.needed_by.values())
        assert p.api_name.endswith(" Write" if p.access == "Edit" else " Read")
        assert p.probe.method == "GET"


def test_origin_needs_ssl_and_certificates_edit_not_an_origin_ca_key():
    origin = {p.api_name: p for p in needed_for(["origin"])}
    ssl = origin["SSL and Certificates Write"]
    assert ssl.scope == "zone" and ssl.access == "Edit"
    assert ssl.template_key == "ssl_and_certificates"
    assert "1016" in ssl.needed_by["origin"]
    assert "Origin CA Key" in permissions_markdown()


def test_core_is_always_included_and_unknown_features_are_named():
    assert [p.api_name for p in needed_for([])] == [
        "Workers Scripts Write",
        "Workers KV Storage Write",
    ]
    with pytest.raises(ConfigError, match="unknown feature.*orign.*known: core"):
        needed_for(["orign"])


def test_dashboard_path_reads_like_the_dashboard():
    scripts = PERMISSIONS[0]
    assert scripts.dashboard_path == "Account | Developer Platform | Workers Scripts | Edit"
    assert "\\|" in permissions_markdown()  # pipes escaped inside the markdown table
