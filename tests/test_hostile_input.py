"""Hostile input: a cache committed to the repository, symlinks planted in the cache
folder, and sources built to crash, hang or exhaust the parser (docs/security.md).

Each test states what the input would have done before: run code, hide findings,
write outside the project, kill or stall the run."""

from __future__ import annotations

import os
import pickle
import stat

import msgspec
import pytest
from conftest import SAMPLE_APP, git, run_cli, run_json, settle, write_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opusguard import core
from opusguard.base import limits
from opusguard.facts.records import FileFacts
from opusguard.policy.catalog import load_catalog
from opusguard.run import cache as cache_module
from opusguard.run import engine, workers
from opusguard.run.cache import _FORMAT, _TAG_BYTES, FactsCache, VerdictIndex, decode_entry
from opusguard.select import prefilter, selection
from opusguard.select.parse import facts_of
from tests.helpers import check_tree

OPUS = "claude-opus-4-1-20250805"
CALL = 'import anthropic\nclient = anthropic.Anthropic()\nclient.messages.create(model="{model}", max_tokens=5)\n'


@pytest.fixture(autouse=True)
def own_secret(tmp_path_factory, monkeypatch):
    """Every test has a user cache folder (and so a cache key) of its own."""
    home = tmp_path_factory.mktemp("user-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def findings(*args, cwd, env=None):
    """`check --format json` with the cache on: (rule, path, line) of each finding."""
    result = run_cli("check", "--format", "json", *args, ".", cwd=cwd, env=env)
    assert result.returncode in (0, 1), result.stderr
    return sorted((f["rule"], f["path"], f["line"]) for f in msgspec.json.decode(result.stdout)["findings"])


def uncached(cwd):
    _, report = run_json(".", cwd=cwd)
    return sorted((f["rule"], f["path"], f["line"]) for f in report["findings"])


class _Boom:
    """Unpickled, it creates the marker file: proof that pickle.loads ran on it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# --- a cache committed to the repository ----------------------------------------------------


def test_a_committed_pickle_cache_is_never_unpickled(tmp_path):
    # Before: every entry was pickle.loads()ed, so a repository that committed
    # `.opusguard_cache` (git add -f) ran its code on a plain `opusguard check`.
    origin = write_tree(tmp_path / "origin", SAMPLE_APP)
    settle(origin)
    findings(cwd=origin)  # a real cache: every name a run will look up is there
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Boom(marker))
    cache_dir = origin / ".opusguard_cache"
    planted = 0
    for path in cache_dir.rglob("*"):
        if path.is_file() and path.name not in (".gitignore", "CACHEDIR.TAG"):
            # The old header, and the new one with a made-up tag: both carry the pickle.
            path.write_bytes((b"OGF5" if planted % 2 else _FORMAT + bytes(_TAG_BYTES)) + payload)
            planted += 1
    assert planted >= 3  # facts, the verdict index, the parsed catalog
    git(origin, "init", "-q")
    git(origin, "add", "-f", ".")
    git(origin, "commit", "-q", "-m", "a cache that runs code")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    assert (clone / ".opusguard_cache").is_dir()
    expected = uncached(clone)
    assert any(rule == "OG102" for rule, _, _ in expected)
    for command in (("check", "--format", "json", "."), ("report", "--format", "json", ".")):
        result = run_cli(*command, cwd=clone)
        assert result.returncode in (0, 1), result.stderr
    assert findings(cwd=clone) == expected
    assert not marker.exists()


def forge_cache(root, secret: bytes) -> None:
    """A well-formed cache, tagged with `secret`, that says no file can matter and holds
    empty facts for each: what someone could commit, made with their own key."""
    catalog = load_catalog()
    forged = FactsCache(root / ".opusguard_cache", engine.cache_salt(catalog, frozenset({"route"})), secret=secret)
    index = VerdictIndex(forged)
    for path in root.rglob("*.py"):
        info = path.stat()
        index.entries[str(path)] = (info.st_size, info.st_mtime_ns, prefilter.SKIP)
        forged.put(path.read_bytes(), FileFacts(path=""))  # and facts with nothing in them
    index.changed = True
    index.save()


def test_a_committed_cache_made_with_another_key_cannot_hide_findings(tmp_path, own_secret):
    # Before: the verdict index had the same name in every project with the same
    # version and router, so a committed one could mark a file "skip".
    root = write_tree(tmp_path / "project", SAMPLE_APP)
    settle(root)
    expected = uncached(root)
    assert ("OG102", "app/bot.py", 4) in expected
    attacker_key = os.urandom(32)
    forge_cache(root, attacker_key)
    assert findings(cwd=root) == expected
    assert findings(cwd=root) == expected  # and the entries rewritten in their place hold
    # The same cache, read with the key it was made with, would have hidden them:
    # the tag is what stops it.
    attacker_home = tmp_path / "attacker-cache"
    (attacker_home / "opusguard").mkdir(parents=True)
    key_file = attacker_home / "opusguard" / cache_module.SECRET_FILE
    key_file.write_bytes(attacker_key)
    key_file.chmod(0o600)
    fresh = write_tree(tmp_path / "again", SAMPLE_APP)
    settle(fresh)
    forge_cache(fresh, attacker_key)
    assert ("OG102", "app/bot.py", 4) not in findings(cwd=fresh, env={"XDG_CACHE_HOME": str(attacker_home)})


def test_the_key_is_made_once_for_the_user_alone(own_secret):
    secret = cache_module.cache_secret()
    key_file = cache_module.user_cache_dir() / cache_module.SECRET_FILE
    assert secret is not None and len(secret) == 32 and key_file.read_bytes() == secret
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    cache_module._secrets.clear()
    assert cache_module.cache_secret() == secret  # read back, not made again


def test_a_key_others_can_read_is_not_used(own_secret, tmp_path):
    cache_module.cache_secret()
    key_file = cache_module.user_cache_dir() / cache_module.SECRET_FILE
    key_file.chmod(0o644)
    cache_module._secrets.clear()
    assert cache_module.cache_secret() is None
    cache = FactsCache(tmp_path / "c", "salt")
    cache.put(b"x", FileFacts(path=""))
    assert cache.get(b"x") is None and not (tmp_path / "c").exists()  # no key: no cache at all


def test_without_a_user_cache_folder_runs_go_on_without_a_cache(tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the user's cache folder would be")
    root = write_tree(tmp_path / "project", SAMPLE_APP)
    expected = uncached(root)
    assert findings(cwd=root, env={"XDG_CACHE_HOME": str(blocked)}) == expected
    assert not (root / ".opusguard_cache").exists()


# --- entries that are not what they claim ----------------------------------------------------


@pytest.fixture
def one_entry(tmp_path):
    cache = FactsCache(tmp_path / "c", "salt")
    facts = facts_of(CALL.format(model=OPUS).encode(), "a.py", is_model_id=lambda text: "claude" in text)
    cache.put(b"content", facts)
    return cache, cache._path(cache.key(b"content")), facts


def test_an_entry_round_trips_to_equal_facts(one_entry):
    cache, _, facts = one_entry
    facts.path = ""
    assert cache.get(b"content") == facts


@pytest.mark.parametrize("cut", [0, 3, len(_FORMAT), len(_FORMAT) + _TAG_BYTES, -1])
def test_a_truncated_entry_is_a_miss(one_entry, cut):
    cache, path, _ = one_entry
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    assert FactsCache(cache.directory, "salt").get(b"content") is None


def test_a_changed_byte_is_a_miss(one_entry):
    cache, path, _ = one_entry
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x20
    path.write_bytes(bytes(data))
    assert FactsCache(cache.directory, "salt").get(b"content") is None


def test_an_entry_moved_to_another_name_is_a_miss(one_entry):
    # The tag covers the name: facts of one file cannot stand in for another's.
    cache, path, _ = one_entry
    other = cache._path(cache.key(b"other content"))
    other.parent.mkdir(exist_ok=True)
    other.write_bytes(path.read_bytes())
    assert cache.get(b"other content") is None


def test_a_tagged_entry_of_another_shape_is_a_miss(tmp_path):
    cache = FactsCache(tmp_path / "c", "salt")
    name = cache._name(cache.key(b"x"))
    for value in ({"path": 3}, ["a", "list"], {"path": "", "calls": [{"span": "nope"}]}, 7):
        cache.write(name, value)
        assert cache.get(b"x") is None
    index_cache = FactsCache(tmp_path / "c", "salt")
    index = VerdictIndex(index_cache)
    index_cache.write(index.name, {"entries": "of another shape"})
    index.load()
    assert index.entries == {} and index.listings == {}


def test_a_cache_entry_that_is_not_a_regular_file_is_not_read(one_entry):
    cache, path, _ = one_entry
    path.unlink()
    os.mkfifo(path)  # opening it to read would block forever
    assert FactsCache(cache.directory, "salt").get(b"content") is None


# --- symlinks planted in the cache folder ------------------------------------------------------


def test_dangling_symlinks_in_the_cache_folder_are_never_followed(tmp_path):
    # Before: .gitignore, CACHEDIR.TAG and last-pruned were written through a
    # dangling symlink, creating files wherever it pointed.
    root = write_tree(tmp_path / "project", SAMPLE_APP)
    outside = tmp_path / "outside"
    outside.mkdir()
    existing = tmp_path / "existing"
    existing.mkdir()
    cache_dir = root / ".opusguard_cache"
    cache_dir.mkdir()
    for name in (".gitignore", "CACHEDIR.TAG", "last-pruned"):
        (cache_dir / name).symlink_to(outside / name)
    for byte in range(256):  # every folder of entries: dangling, or a real folder outside
        (cache_dir / f"{byte:02x}").symlink_to(outside / f"{byte:02x}" if byte % 2 else existing)
    engine_salt = engine.cache_salt(load_catalog(), frozenset({"route"}))
    index = VerdictIndex(FactsCache(cache_dir, engine_salt))
    (cache_dir / index.name).symlink_to(outside / "verdicts")
    expected = uncached(root)
    settle(root)
    for _ in range(2):
        assert findings(cwd=root) == expected
    assert list(outside.iterdir()) == [] and list(existing.iterdir()) == []


def test_a_symlinked_cache_folder_is_not_used(tmp_path):
    root = write_tree(tmp_path / "project", SAMPLE_APP)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / ".opusguard_cache").symlink_to(elsewhere, target_is_directory=True)
    expected = uncached(root)
    assert findings(cwd=root) == expected
    assert list(elsewhere.iterdir()) == []


# --- sources built to crash or stall the parser -------------------------------------------------

DEEP = {
    "brackets": "(" * 3000 + "1" + ")" * 3000,
    "attribute chain": "a" + ".b" * 50_000,
    "long expression": "+".join(["1"] * 50_000),
    "adjacent strings": "(" + " ".join(['"a"'] * 20_000) + ")",
    "call chain": "f" + "()" * 20_000,
    "lambdas": "lambda: " * 20_000 + "1",
    "not": "not " * 20_000 + "x",
}


@pytest.mark.parametrize("kind", sorted(DEEP))
def test_deep_source_is_one_og000_and_the_run_goes_on(tmp_path, kind):
    # Before: a segfault of libcst's native parser (brackets, attribute chains), a
    # parse of minutes (long expressions), or a false syntax error (strings).
    deep = f'client.messages.create(model="{OPUS}",\n    x={DEEP[kind]})\n'
    result = check_tree(tmp_path, {"deep.py": deep, "ok.py": CALL.format(model=OPUS)})
    [error] = [f for f in result.findings if f.rule == "OG000"]
    assert error.path == "deep.py" and error.line == 2
    assert "nested more than" in error.message and "\n" not in error.message
    assert ("OG102", 3) in {(f.rule, f.line) for f in result.findings if f.path == "ok.py"}


PLACES = {
    "statement": "def run(client):\n    client.messages.create(model='{m}', x={deep})\n",
    "if header": "def run(client):\n    if {deep}:\n        client.messages.create(model='{m}')\n",
    "signature": "def run(client, x={deep}):\n    client.messages.create(model='{m}')\n",
    "class body": "class Agent:\n    model = ('{m}', {deep})\n",
    "after a string": "def run(client):\n    s = '''\n(((\n'''\n    client.messages.create(model='{m}', x={deep})\n",
}


# Past MAX_NESTING, within what CPython's parser takes (so selection runs).
DEEPER_THAN_THE_LIMIT = {
    "brackets": "(" * 199 + "a" + ".b" * 250 + ")" * 199,
    "attribute chain": "a" + ".b" * 600,
    "long expression": "+".join(["1"] * 600),
    "adjacent strings": "(" + " ".join(['"a"'] * 600) + ")",
    "not": "not " * 600 + "x",
}


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("kind", sorted(DEEPER_THAN_THE_LIMIT))
def test_selection_measures_only_long_statements_and_finds_the_same_problem(kind, place):
    # The kept text is measured a long statement at a time: the same problem, on the
    # same line of the file, as a measure of the whole kept text.
    before, after = (
        "".join(f"def {n}_{i}(x):\n    return x + {i}\n\n\n" for i in range(5)) for n in ("unrelated", "other")
    )
    deep = DEEPER_THAN_THE_LIMIT[kind]
    source = (before + PLACES[place].format(m=OPUS, deep=deep) + "\n\n" + after).encode()
    sliced = selection.select_statements(source)
    assert sliced is not None and b"unrelated_0" not in sliced.text
    whole = limits.nesting_problem(sliced.text)
    assert whole is not None
    assert selection.nesting_problem(source, sliced) == (sliced.line_map[whole[0] - 1], whole[1])


def test_the_limits_leave_real_code_alone():
    # The deepest real expression seen (a 40-term `or` of comparisons in the Anthropic SDK).
    events = "\n".join(f'        or sse.event == "event.{i}"' for i in range(40))
    source = f'def f(sse):\n    if (\n        sse.event == "a"\n{events}\n    ):\n        pass\n'.encode()
    assert limits.nesting_problem(source) is None
    assert limits.nesting_problem(b"x = (" + b" ".join([b'"line"'] * 300) + b")\n") is None
    assert limits.nesting_problem(b"x = [" + b"a.b.c(1), " * 20_000 + b"]\n") is None


def test_a_file_over_the_size_limit_is_one_og000(tmp_path, monkeypatch):
    # Before: a 100 MB .py took 40 s and 3.6 GB on every run, cache or not.
    monkeypatch.setattr(core, "MAX_PARSE_BYTES", 1024)
    monkeypatch.setattr(limits, "MAX_SOURCE_BYTES", 4096)
    big = f'MODEL = "{OPUS}"\n' + "x = 1\n" * 1000
    middling = f'MODEL = "{OPUS}"\n' + "x = 1\n" * 300
    result = check_tree(tmp_path, {"big.py": big, "middling.py": middling, "ok.py": CALL.format(model=OPUS)})
    [error] = [f for f in result.findings if f.rule == "OG000"]
    assert error.path == "big.py" and error.message.endswith("MiB limit: not analysed")
    assert ("middling.py", "OG101") in {(f.path, f.rule) for f in result.findings}  # its literals still checked
    assert "ok.py" in {f.path for f in result.findings}


def test_a_circular_re_export_is_unresolved_not_a_crash(tmp_path):
    # Before: RecursionError in the resolver, and a traceback.
    result = check_tree(
        tmp_path,
        {
            "a.py": "from b import MODEL\n",
            "b.py": "from a import MODEL\n",
            "main.py": "import anthropic\nfrom a import MODEL\nanthropic.Anthropic().messages.create(model=MODEL)\n",
        },
        select={"OG106"},
    )
    [unresolved] = result.findings
    assert unresolved.path == "main.py" and "circular import of MODEL" in unresolved.message


def _dies_on_boom(args):
    if args[1] == "boom.py":
        os._exit(139)  # as a segfault of the native parser ends a worker
    return workers.ORIGINAL_EXTRACT(args)


@pytest.mark.skipif(not workers.can_fork(), reason="workers are forked")
@pytest.mark.parametrize("how", ["batch", "stream", "extraction process"])
def test_a_worker_that_dies_costs_its_file_not_the_run(monkeypatch, how):
    # Before: BrokenProcessPool, and the whole run was lost.
    monkeypatch.setattr(workers, "ORIGINAL_EXTRACT", workers._extract, raising=False)
    monkeypatch.setattr(workers, "_extract", _dies_on_boom)
    files = [
        (f"f{i}.py", CALL.format(model=OPUS).encode() + f"# {i}\n".encode())
        for i in range(workers.MIN_FILES_FOR_WORKERS + 2)
    ]
    files.insert(3, ("boom.py", b"x = 1\n"))
    with workers.FactsSource(load_catalog(), frozenset({"route"}), None, 2) as source:
        if how == "extraction process":
            source.start_service()
        out = source.facts_for(files, stream=how == "stream")
    assert out["boom.py"].parse_error == workers.CRASHED
    assert all(out[path].calls for path, _ in files if path != "boom.py")


# --- fuzzing the decoder ----------------------------------------------------------------------


def _valid_payload() -> bytes:
    facts = facts_of(
        (CALL.format(model=OPUS) + "class K:\n    m = {'a': [os.getenv('X', 'claude-haiku-4-5')]}\n").encode(),
        "",
        is_model_id=lambda text: "claude" in text,
    )
    return msgspec.msgpack.encode(facts)


VALID = _valid_payload()


def _decodes_to_facts_or_nothing(payload: bytes) -> None:
    decoded = decode_entry(payload, FileFacts)
    assert decoded is None or isinstance(decoded, FileFacts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_decode_to_facts_or_a_miss(payload):
    _decodes_to_facts_or_nothing(payload)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_entries_decode_to_facts_or_a_miss(data):
    payload = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 8))):
        index = data.draw(st.integers(0, len(payload) - 1))
        payload[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(payload)))
    _decodes_to_facts_or_nothing(bytes(payload[:cut]))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=512))
def test_fuzz_tagged_garbage_is_a_miss_through_the_cache(tmp_path, payload):
    # Even with a valid tag (the key known), bytes of another shape are a miss.
    cache = FactsCache(tmp_path / "c", "salt", secret=b"k" * 32)
    name = cache._name(cache.key(b"x"))
    path = cache.directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_FORMAT + cache._tag(name, payload) + payload)
    found = cache.get(b"x")
    assert found is None or isinstance(found, FileFacts)


# A long line of a scanned repository is read in linear time: each of these took
# minutes to hours with the pattern it once met (a run of spaces or quotes that a
# pattern could split many ways, or scanned again from each of its characters).
_LONG = 200_000


@pytest.mark.parametrize(
    "path, content",
    [
        (".env", "MODEL=claude-opus-4-1" + " " * _LONG + "x\n"),
        ("app.ini", "[llm]\n" + "".join(f"k{i} = claude-opus-4-1{' ' * 4000}x\n" for i in range(50))),
        ("pyproject.toml", 'model = "claude-opus-4-1"\n# "' + '\\"' * _LONG + "\n"),
        ("pyproject.toml", "models = [" + '"x",' * (_LONG // 4) + '"claude-opus-4-1"]\n'),
    ],
    ids=["env-spaces", "ini-spaces", "toml-escaped-quotes", "toml-many-strings"],
)
def test_a_long_config_line_is_read_in_one_pass(path, content):
    from opusguard.facts.configfiles import parse_config

    facts = parse_config(content.encode(), path, is_model_id=lambda text: text.startswith("claude-"))
    assert facts.error is None and facts.values


def test_an_ini_line_too_long_for_configparser_is_reported_not_read():
    # (configparser's own key pattern takes time with the square of the line's length)
    from opusguard.facts.configfiles import parse_config

    content = "[llm]\nmodel" + " " * _LONG + "x = claude-opus-4-1\n"
    facts = parse_config(content.encode(), "app.ini", is_model_id=lambda text: text.startswith("claude-"))
    assert (facts.error, facts.error_line) == ("invalid INI: line longer than 4096 characters, not read", 2)


@pytest.mark.parametrize(
    "content",
    [b"from " * (_LONG // 5), b"from x import (\n" * (_LONG // 16), b"from a." + b" " * _LONG],
    ids=["from-words", "unclosed-brackets", "spaces"],
)
def test_a_file_of_import_fragments_is_scanned_in_one_pass(content):
    names = frozenset({prefilter.HeldName("SMART", "cfg")})
    assert not prefilter.reads_names(content + b"\nSMART\n", names)


def test_a_policy_line_of_spaces_after_tasks_is_rewritten_in_one_pass():
    from opusguard.fix.codemod import append_tasks
    from opusguard.rules.fixplan import NewTask

    text = append_tasks("version: 1\ntasks:" + " " * _LONG + "#x\n", [NewTask("triage", "haiku", None, "a.py:1")])
    assert "triage" in text


def test_a_prompt_listing_many_words_is_searched_in_one_pass():
    from opusguard.report import pricing

    assert pricing._CHOICES.search("a, " * _LONG) is None
    assert pricing._CHOICES.search("Answer " + "a, " * _LONG + "b or c.") is not None
