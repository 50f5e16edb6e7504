"""The `shelfwatch` ops command against the real stack: keys, submit with progress."""

from __future__ import annotations

import hashlib
import json

import pytest

from ops.cli import main
from tests.conftest import SAMPLES


def test_keys_create_list_revoke(cli_env, tenant, capsys):
    assert main(["keys", "create", tenant, "--scope", "read", "--expires", "7", "--name", "ci"]) == 0
    key = capsys.readouterr().out.strip()
    prefix = key.split("_")[1]
    assert key.startswith(f"sw_{prefix}_")
    assert main(["keys", "list", tenant]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split()[:3] == ["prefix", "tenant", "scopes"]
    row = next(line for line in listing if line.startswith(prefix))
    assert tenant in row
    assert " read " in f" {row} "
    assert row.rstrip().endswith("-")
    assert main(["keys", "revoke", prefix]) == 0
    assert f"revoked {prefix}" in capsys.readouterr().out
    main(["keys", "list", tenant])
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(prefix))
    assert not row.rstrip().endswith("-")  # a revocation date now
    with pytest.raises(SystemExit, match="key_not_found"):
        main(["keys", "revoke", "000000000000"])
    with pytest.raises(SystemExit, match="invalid_tenant"):
        main(["keys", "create", "bad tenant!"])


def test_submit_reads_the_key_from_the_environment_and_shows_progress(cli_env, gateway, worker, api_key,
                                                                     monkeypatch, capsys):
    from shared.settings import get_settings

    monkeypatch.setenv("SHELFWATCH_API_KEY", api_key)
    get_settings.cache_clear()
    rc = main(["submit", str(SAMPLES[0]), str(SAMPLES[1]), "--api", gateway, "--store", "cli-store", "--mode", "fast"])
    out, err = capsys.readouterr()
    assert rc == 0, (out, err)
    assert "done 2, failed 0, queued or running 0 of 2" in err  # the last progress line
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["photo", "status", "product"]
    assert SAMPLES[0].name in out
    assert lines[-1].startswith("total")
    assert " done " in lines[-1]


def test_stores_and_sections(cli_env, tenant, api_key, capsys):
    assert main(["stores", "create", tenant, "north", "--name", "North St"]) == 0
    assert main(["stores", "section", tenant, "north", "7", "--critical", "10", "--target", "20"]) == 0
    assert "critical 10, target 20, rows -, status unknown" in capsys.readouterr().out
    assert main(["stores", "section", tenant, "north", "7", "--critical", "5"]) == 0  # the levels, changed
    assert "critical 5, target 20" in capsys.readouterr().out
    assert main(["stores", "section", tenant, "north", "7", "--row", "1", "2", "-"]) == 0  # row 1: critical 2
    assert "critical 5, target 20, rows [None, {'critical': 2, 'target': None}]" in capsys.readouterr().out
    assert main(["stores", "sections", tenant, "north"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == ["7", "5", "20", "unknown", "1:2/-"]
    assert main(["stores", "section", tenant, "north", "7", "--no-rows"]) == 0
    assert "rows -," in capsys.readouterr().out
    with pytest.raises(SystemExit, match="invalid_critical"):  # a row's critical above its target
        main(["stores", "section", tenant, "north", "7", "--row", "0", "9", "3"])
    assert main(["stores", "list", tenant]) == 0
    assert "North St" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="store_exists"):
        main(["stores", "create", tenant, "north"])


def test_submit_direct_uploads_the_photos_straight_to_s3(cli_env, gateway, worker, api_key, monkeypatch, capsys):
    from shared.settings import get_settings

    monkeypatch.setenv("SHELFWATCH_API_KEY", api_key)
    get_settings.cache_clear()
    rc = main(["submit", str(SAMPLES[0]), "--api", gateway, "--store", "cli-direct", "--direct", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, (out, err)
    audit = json.loads(out)
    assert audit["status"] == "done"
    assert audit["jobs"][0]["photo"]["sha256"] == hashlib.sha256(SAMPLES[0].read_bytes()).hexdigest()
    assert sum(audit["counts"].values()) > 0


def test_submit_without_a_key_says_how_to_give_one(cli_env, monkeypatch):
    from shared.settings import get_settings

    monkeypatch.delenv("SHELFWATCH_API_KEY", raising=False)
    get_settings.cache_clear()
    with pytest.raises(SystemExit, match="SHELFWATCH_API_KEY"):
        main(["submit", str(SAMPLES[0]), "--api", "http://127.0.0.1:9"])
