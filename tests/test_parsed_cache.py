"""The catalog and the policy are reused from the cache folder until one of their files changes."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys

import msgspec
import pytest
from conftest import SAMPLE_APP, run_cli

from opusguard.policy import catalog as catalog_module
from opusguard.policy import tasks as policy_module
from opusguard.policy.catalog import CatalogError, load_catalog, shipped_catalog_path
from opusguard.policy.tasks import PolicyError, load_policy
from opusguard.run.cache import _FORMAT
from opusguard.run.parsed_cache import load_catalog_cached, load_policy_cached

OPUS = "claude-opus-4-1-20250805"
POLICY = """\
version: 1
include: [teams/legal.yaml]
models:
  - id: claude-sonnet-4-5-acme-ft
    tier: sonnet
    price: {input: 4.5, output: 20}
tiers:
  sonnet: claude-sonnet-4-5-acme-ft
tasks:
  support:
    tier: sonnet
    owner: help-desk
"""
LEGAL = "version: 1\ntasks:\n  legal-review:\n    tier: opus\n    justification: evals say so\n"


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / ".opusguard_cache"


@pytest.fixture
def catalog_file(tmp_path):
    path = tmp_path / "models.yaml"
    shutil.copyfile(shipped_catalog_path(), path)
    return path


@pytest.fixture
def policy_file(tmp_path):
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "legal.yaml").write_text(LEGAL)
    path = tmp_path / "opusguard.yaml"
    path.write_text(POLICY)
    return path


def forbid_parsing(monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("parsed YAML although the cache holds the object")

    monkeypatch.setattr(catalog_module, "read_catalog", fail)
    monkeypatch.setattr(policy_module._PolicyLoader, "load_file", fail)


def touch_with_new_stamp(path, text: str) -> None:
    """Write `text` with an mtime no earlier write can have had."""
    stat = path.stat()
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def same_catalog(a, b) -> bool:
    return (a.entries, a.families, a.as_of, a.source_path, a.digest()) == (
        b.entries,
        b.families,
        b.as_of,
        b.source_path,
        b.digest(),
    )


def policy_fields(policy) -> dict:
    fields = msgspec.structs.asdict(policy)
    fields.pop("catalog")
    return fields


# --- the catalog ---------------------------------------------------------------------


def test_a_cached_catalog_is_not_parsed_again(catalog_file, cache_dir, monkeypatch):
    first = load_catalog_cached(catalog_file, cache_dir)
    assert same_catalog(first, load_catalog(catalog_file))
    forbid_parsing(monkeypatch)
    second = load_catalog_cached(catalog_file, cache_dir)
    assert second is not first and same_catalog(first, second)
    assert second.recognize(OPUS).tier == "opus"


def test_another_build_of_the_same_version_rebuilds_the_catalog(catalog_file, cache_dir, monkeypatch):
    from opusguard.run import parsed_cache

    load_catalog_cached(catalog_file, cache_dir)
    monkeypatch.setattr(parsed_cache, "code_digest", lambda: "another build")
    parsed = []
    real = catalog_module.read_catalog
    monkeypatch.setattr(catalog_module, "read_catalog", lambda *a, **k: parsed.append(1) or real(*a, **k))
    assert load_catalog_cached(catalog_file, cache_dir).recognize(OPUS).tier == "opus"
    assert parsed


def test_editing_the_catalog_rebuilds_it(catalog_file, cache_dir):
    load_catalog_cached(catalog_file, cache_dir)
    text = catalog_file.read_text()
    touch_with_new_stamp(
        catalog_file, text.replace("models:\n", "models:\n  - id: claude-opus-9-9\n    tier: opus\n", 1)
    )
    assert "claude-opus-9-9" in load_catalog_cached(catalog_file, cache_dir).entries


def test_same_size_new_mtime_rebuilds_the_catalog(catalog_file, cache_dir):
    text = catalog_file.read_text()
    as_of = load_catalog_cached(catalog_file, cache_dir).as_of
    later = as_of.replace(day=as_of.day % 28 + 1)
    touch_with_new_stamp(catalog_file, text.replace(f"as_of: {as_of}", f"as_of: {later}"))
    assert catalog_file.stat().st_size == len(text.encode())
    assert load_catalog_cached(catalog_file, cache_dir).as_of == later


def test_catalog_errors_are_never_cached(catalog_file, cache_dir):
    catalog_file.write_text("models:\n  - id: x\n    tier: mega\n")
    for _ in range(2):
        with pytest.raises(CatalogError, match=rf"^{re.escape(str(catalog_file))}:2: model x: tier 'mega'"):
            load_catalog_cached(catalog_file, cache_dir)
    assert not list(cache_dir.glob("parsed-*"))


def test_a_missing_catalog_is_still_a_catalog_error(tmp_path, cache_dir):
    with pytest.raises(CatalogError, match="cannot read catalog"):
        load_catalog_cached(tmp_path / "nope.yaml", cache_dir)


# --- corrupt or foreign entries ----------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"",  # truncated to nothing
        _FORMAT + b"\x80garbage",  # the right header, a broken entry
        b"not ours at all",
        _FORMAT + bytes(32) + msgspec.msgpack.encode({"an": "object of another shape"}),  # a wrong tag
        b"OGF5" + pickle.dumps(("0.0.0-other", ("catalog",), (), "a value")),  # an older version's pickle
    ],
)
def test_a_corrupt_entry_is_ignored_and_replaced(catalog_file, cache_dir, content, monkeypatch):
    first = load_catalog_cached(catalog_file, cache_dir)
    [entry] = cache_dir.glob("parsed-catalog-*")
    entry.write_bytes(content)
    assert same_catalog(first, load_catalog_cached(catalog_file, cache_dir))
    assert entry.read_bytes() != content
    forbid_parsing(monkeypatch)  # the entry written in its place is used
    assert same_catalog(first, load_catalog_cached(catalog_file, cache_dir))


def test_an_unwritable_cache_folder_costs_only_speed(catalog_file, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert same_catalog(load_catalog_cached(catalog_file, blocker / "cache"), load_catalog(catalog_file))


# --- the policy ----------------------------------------------------------------------


def test_a_cached_policy_is_not_parsed_again(policy_file, cache_dir, monkeypatch):
    catalog = load_catalog()
    first = load_policy_cached(policy_file, catalog, cache_dir)
    forbid_parsing(monkeypatch)
    second = load_policy_cached(policy_file, catalog, cache_dir)
    assert policy_fields(second) == policy_fields(first)
    assert set(second.tasks) == {"legal-review", "support"}
    # The policy's own model is part of its catalog again.
    assert second.model_for("support") == "claude-sonnet-4-5-acme-ft"
    assert second.catalog.price("claude-sonnet-4-5-acme-ft").input == 4.5
    assert same_catalog(second.catalog, first.catalog)


def test_a_policy_without_models_shares_the_callers_catalog(tmp_path, cache_dir):
    path = tmp_path / "opusguard.yaml"
    path.write_text("version: 1\ntasks:\n  x:\n    tier: haiku\n")
    catalog = load_catalog()
    load_policy_cached(path, catalog, cache_dir)
    cached = load_policy_cached(path, catalog, cache_dir)
    assert cached.catalog is catalog
    assert cached == load_policy(path, catalog)


def test_editing_the_policy_rebuilds_it(policy_file, cache_dir):
    load_policy_cached(policy_file, load_catalog(), cache_dir)
    touch_with_new_stamp(policy_file, POLICY.replace("owner: help-desk", "owner: support-team"))
    assert load_policy_cached(policy_file, load_catalog(), cache_dir).tasks["support"].owner == "support-team"


def test_editing_an_included_file_rebuilds_the_policy(policy_file, cache_dir):
    load_policy_cached(policy_file, load_catalog(), cache_dir)
    touch_with_new_stamp(policy_file.parent / "teams" / "legal.yaml", LEGAL + "  contracts:\n    tier: sonnet\n")
    assert set(load_policy_cached(policy_file, load_catalog(), cache_dir).tasks) == {
        "legal-review",
        "contracts",
        "support",
    }


def test_another_catalog_rebuilds_the_policy(policy_file, catalog_file, cache_dir):
    load_policy_cached(policy_file, load_catalog(), cache_dir)
    text = catalog_file.read_text()
    catalog_file.write_text(text.replace("models:\n", "models:\n  - id: claude-haiku-9-9\n    tier: haiku\n", 1))
    other = load_catalog(catalog_file)
    assert "claude-haiku-9-9" in load_policy_cached(policy_file, other, cache_dir).catalog.entries


def test_policy_errors_are_never_cached(policy_file, cache_dir):
    load_policy_cached(policy_file, load_catalog(), cache_dir)
    included = policy_file.parent / "teams" / "legal.yaml"
    touch_with_new_stamp(included, LEGAL.replace("tier: opus", "tier: mega"))
    for _ in range(2):
        with pytest.raises(PolicyError) as info:
            load_policy_cached(policy_file, load_catalog(), cache_dir)
        assert str(info.value).startswith(f"{included}:4:11: unknown tier 'mega'")
    touch_with_new_stamp(included, LEGAL)
    assert "legal-review" in load_policy_cached(policy_file, load_catalog(), cache_dir).tasks


# --- a warm run of the console script ---------------------------------------------------


APP = {
    **SAMPLE_APP,
    "app/bot.py": SAMPLE_APP["app/bot.py"]
    + "client.messages.create(model=route('support'), max_tokens=5, messages=[])\n",
}


def imported_modules(*args: str, cwd) -> tuple[set[str], list]:
    """The modules a `check --format json` imported (from -X importtime), and its findings."""
    result = run_cli("check", "--format", "json", *args, ".", cwd=cwd, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode in (0, 1), result.stderr
    modules = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", result.stderr, re.MULTILINE))
    return modules, json.loads(result.stdout)["findings"]


@pytest.mark.parametrize("with_policy", [False, True], ids=["no-policy", "policy"])
def test_a_warm_check_does_not_import_yaml(tree, with_policy):
    files = dict(APP)
    if with_policy:
        files.update({"opusguard.yaml": POLICY, "teams/legal.yaml": LEGAL})
    root = tree(files)
    cold, cold_findings = imported_modules(cwd=root)
    assert "yaml" in cold  # the cold run parses (and shows the check can see yaml)
    warm, warm_findings = imported_modules(cwd=root)
    assert not {m for m in warm if m == "yaml" or m.startswith(("yaml.", "_yaml"))}
    uncached, uncached_findings = imported_modules("--no-cache", cwd=root)
    assert "yaml" in uncached
    assert cold_findings == warm_findings == uncached_findings
    assert any(f["rule"] == "OG102" for f in warm_findings)
    assert len(list((root / ".opusguard_cache").glob("parsed-policy-*"))) == int(with_policy)


def test_the_parsers_import_yaml_and_difflib_only_to_parse():
    code = (
        "import sys, opusguard.policy.catalog, opusguard.policy.tasks, opusguard.policy.evidence, opusguard.rules;"
        "opusguard.rules.all_rules();"
        "assert not {'yaml', 'difflib'} & set(sys.modules), sorted({'yaml', 'difflib'} & set(sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
