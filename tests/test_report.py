"""`opusguard report`: the inventory over every resolution style, and the cost arithmetic.

Money is checked against figures computed by hand in each test, from list
prices in USD per million tokens (MTok).
"""

from __future__ import annotations

import pytest
from helpers import analyze_tree, check_tree, run_options
from msgspec.structs import replace
from test_resolution import CALL
from test_resolution import CASES as STYLES

from opusguard.policy.catalog import Price, load_catalog
from opusguard.policy.config import load_settings
from opusguard.report.pricing import (
    build_inventory,
    diff_reports,
    load_assumptions,
    match_sites,
    price_book,
    price_report,
    routine_signals,
    token_cost,
)
from opusguard.report.usage import Traffic, Usage, UsageRow
from opusguard.run import engine

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
OPUS_45 = "claude-opus-4-5-20251101"  # $5 / $25 per MTok
OPUS_41 = "claude-opus-4-1-20250805"  # $15 / $75 per MTok


def analyze(root, files, policy=None):
    return analyze_tree(root, files, policy=policy)


def report_for(root, files, policy=None, usage=None, assumptions=None):
    analysis = analyze(root, files, policy)
    project = analysis.project
    sites = build_inventory(project)
    return price_report(sites, project.policy, price_book(project.catalog), assumptions or load_assumptions(), usage)


def by_where(report):
    return {c.site.where: c for c in report.costs}


# --- inventory -----------------------------------------------------------------------


@pytest.mark.parametrize(("files", "where"), [pytest.param(f, w, id=i) for i, f, w in STYLES])
def test_inventory_follows_every_resolution_style(tmp_path, files, where):
    sites = {s.where: s for s in build_inventory(analyze(tmp_path, files).project)}
    site = sites[where]
    assert site.tier == "opus"
    # Where the model literal is written: the same places the check's OG102 points at.
    (finding,) = check_tree(tmp_path, {}, select={"OG102"}).findings
    opus_literals = [(m.literal_path, m.literal_line, m.literal_column) for m in site.models if m.tier == "opus"]
    assert opus_literals == [(r.path, r.line, r.column) for r in finding.related]
    assert site.task_source == "derived" and site.task
    assert not site.covered


@pytest.mark.parametrize(
    ("source", "origin"),
    [
        ('import os\nclient.messages.create(model=os.environ["SMART_MODEL"])\n', "env var SMART_MODEL"),
        ("def ask(model):\n    return client.messages.create(model=model)\n", "parameter 'model' of ask()"),
        ("client.messages.create(model=settings['model'])\n", "settings"),
    ],
)
def test_unresolved_sites_are_listed_with_their_origin_and_never_priced(tmp_path, source, origin):
    report = report_for(tmp_path, {"a.py": CALL + source})
    (cost,) = report.costs
    assert cost.site.tier is None and cost.site.models == []
    assert origin in "; ".join(cost.site.unresolved)
    assert cost.today is None and cost.policy is None
    assert report.today == 0 and report.counts()["unresolved"] == 1


POLICY = f"""\
version: 1
router: app.routing:route
tiers:
  opus: {OPUS_45}
  sonnet: {SONNET}
  haiku: {HAIKU}
tasks:
  classify-ticket:
    tier: haiku
  contract-review:
    tier: opus
    justification: Sonnet missed 9 of 120 clause conflicts; Opus missed 1.
    owner: legal
    review_by: 2099-01-01
"""
ROUTER = "def route(task):\n    return task\n"


def test_tasks_come_from_annotations_route_calls_or_the_codemods_name(tmp_path):
    files = {
        "app/__init__.py": "",
        "app/routing.py": ROUTER,
        "app/work.py": CALL
        + (
            "from app.routing import route\n"
            "def classify(t):\n"
            '    return client.messages.create(model=route("classify-ticket"), max_tokens=5, messages=[])\n'
            "def review(doc):\n"
            "    # opusguard: task=contract-review\n"
            f'    return client.messages.create(model="{OPUS_41}", max_tokens=4000, messages=[])\n'
            "def summarizeTicket(t):\n"
            f'    return client.messages.create(model="{OPUS_41}", max_tokens=800, messages=[])\n'
            "def ghost(t):\n"
            '    return client.messages.create(model=route("no-such-task"), messages=[])\n'
        ),
    }
    report = report_for(tmp_path, files, POLICY)
    sites = {c.site.line: c.site for c in report.costs}
    assert (sites[5].task, sites[5].task_source, sites[5].covered, sites[5].tier) == (
        "classify-ticket",
        "route",
        True,
        "haiku",
    )
    assert sites[5].models[0].literal_path == "opusguard.yaml"  # a routed call's model is written in the policy
    assert (sites[8].task, sites[8].task_source, sites[8].covered) == ("contract-review", "annotation", True)
    assert (sites[10].task, sites[10].task_source, sites[10].covered) == ("summarize-ticket", "derived", False)
    assert sites[10].models[0].literal_path == "app/work.py" and sites[10].models[0].literal_line == 10
    assert sites[12].tier is None and "no-such-task" in sites[12].unresolved[0]
    assert report.counts() == {"opus": 2, "sonnet": 0, "haiku": 1, "other": 0, "unresolved": 1}


def test_inventory_counts_match_the_checks_model_calls(tmp_path):
    from conftest import REPO

    app = REPO / "examples" / "support_desk"
    settings = load_settings(app)
    analysis = engine.analyze(settings, run_options(), cwd=app)
    sites = build_inventory(analysis.project)
    counts = {}
    for site in sites:
        counts[site.tier or "unresolved"] = counts.get(site.tier or "unresolved", 0) + 1
    calls = analysis.summary.model_calls
    # The check counts an undeclared route("task") as unresolved too; the inventory agrees.
    assert {k: v for k, v in calls.items() if v} == counts


# --- arithmetic ------------------------------------------------------------------------


def test_token_cost_by_hand():
    price = Price(input=5, output=25, cache_write=6.25, cache_read=0.5, batch_input=2.5, batch_output=12.5)
    # 1000 calls x 2000 input tokens x $5/MTok = $10; x 500 output tokens x $25/MTok = $12.50
    plain = Traffic(calls=1000, input_tokens=2_000_000, output_tokens=500_000)
    assert token_cost(plain, price) == pytest.approx(22.50)
    # cache: 1.5 M tokens read at $0.50 = $0.75, 0.2 M written at $6.25 = $1.25, 0.3 M plain at $5 = $1.50
    cached = Traffic(
        calls=1000, input_tokens=300_000, output_tokens=500_000, cache_read_tokens=1_500_000, cache_write_tokens=200_000
    )
    assert token_cost(cached, price) == pytest.approx(1.50 + 0.75 + 1.25 + 12.50)
    # all batch: half of everything, cache prices included (the discounts stack)
    assert token_cost(replace(cached, batch_share=1.0), price) == pytest.approx((1.50 + 0.75 + 1.25 + 12.50) / 2)
    # 40% batch: 0.6 x $22.50 + 0.4 x $11.25
    assert token_cost(replace(plain, batch_share=0.4), price) == pytest.approx(0.6 * 22.50 + 0.4 * 11.25)


def _usage(*rows: tuple[str, bool, Traffic]) -> Usage:
    return Usage(path="usage.csv", rows=[UsageRow(k, s, t, f"usage.csv:{i + 2}") for i, (k, s, t) in enumerate(rows)])


def test_spend_today_under_the_policy_and_the_saving_by_hand(tmp_path):
    files = {
        "app/__init__.py": "",
        "app/routing.py": ROUTER,
        "app/work.py": CALL
        + (
            "def classify(t):\n"
            f'    return client.messages.create(model="{OPUS_41}", max_tokens=10, messages=[])\n'
            "def review(doc):\n"
            "    # opusguard: task=contract-review\n"
            f'    return client.messages.create(model="{OPUS_41}", max_tokens=4000, messages=[])\n'
            "def triage(t):\n"
            "    # opusguard: task=classify-ticket\n"
            f'    return client.messages.create(model="{SONNET}", max_tokens=5, messages=[])\n'
        ),
    }
    usage = _usage(
        ("app/work.py:4", True, Traffic(calls=1000, input_tokens=2_000_000, output_tokens=10_000)),
        ("contract-review", False, Traffic(calls=100, input_tokens=1_000_000, output_tokens=200_000)),
        ("classify-ticket", False, Traffic(calls=10_000, input_tokens=5_000_000, output_tokens=50_000)),
    )
    report = report_for(tmp_path, files, POLICY, usage=usage)
    costs = by_where(report)
    # classify(): Opus 4.1 today: 2 MTok x $15 + 0.01 MTok x $75 = $30.75; no task covers it, so under the
    # policy it leaves Opus for Sonnet 4.5: 2 x $3 + 0.01 x $15 = $6.15
    assert costs["app/work.py:4"].today.cost == pytest.approx(30.75)
    assert costs["app/work.py:4"].policy.cost == pytest.approx(6.15)
    assert costs["app/work.py:4"].policy.tier == "sonnet"
    # review(): a justified Opus task: Opus 4.1 today (1 x $15 + 0.2 x $75 = $30), the policy's Opus 4.5
    # (1 x $5 + 0.2 x $25 = $10)
    assert costs["app/work.py:7"].today.cost == pytest.approx(30.0)
    assert costs["app/work.py:7"].policy.cost == pytest.approx(10.0)
    # triage(): a Haiku task sent to Sonnet: 5 x $3 + 0.05 x $15 = $15.75 today, 5 x $1 + 0.05 x $5 = $5.25
    assert costs["app/work.py:10"].today.cost == pytest.approx(15.75)
    assert costs["app/work.py:10"].policy.cost == pytest.approx(5.25)
    assert report.today == pytest.approx(30.75 + 30 + 15.75)
    assert report.policy == pytest.approx(6.15 + 10 + 5.25)
    assert report.saving == pytest.approx(76.5 - 21.4)
    assert report.saving_percent == pytest.approx(100 * 55.1 / 76.5)
    assert [c.site.where for c in report.top_opus] == ["app/work.py:4", "app/work.py:7"]
    assert not report.assumed


def test_without_usage_the_default_profile_is_used_and_said(tmp_path):
    files = {
        "a.py": CALL + f'client.messages.create(model="{OPUS_45}", max_tokens=100, messages=[])\n'
        f'client.messages.create(model="{OPUS_45}", messages=[])\n'
    }
    assumptions = load_assumptions()
    profile = assumptions.traffic
    report = report_for(tmp_path, files)
    assert report.assumed and report.assumptions[0].startswith("ASSUMED")
    costs = by_where(report)
    # max_tokens=100 is the output ceiling: calls x (input x $5 + 100 x $25) / 1e6
    expect = profile.calls * (profile.input_tokens * 5 + 100 * 25) / 1e6
    assert costs["a.py:3"].today.cost == pytest.approx(expect)
    expect_default = profile.calls * (profile.input_tokens * 5 + profile.output_tokens * 25) / 1e6
    assert costs["a.py:4"].today.cost == pytest.approx(expect_default)
    assert costs["a.py:3"].traffic_source == "assumed"


def test_batch_calls_are_priced_at_batch_prices(tmp_path):
    files = {
        "a.py": CALL
        + (
            "client.messages.batches.create(requests=[\n"
            f'    {{"custom_id": "1", "params": {{"model": "{HAIKU}", "max_tokens": 5}}}}\n'
            "])\n"
        )
    }
    usage = _usage(
        ("a.py:3", True, Traffic(calls=1000, input_tokens=1_000_000, output_tokens=1_000_000, batch_share=1.0))
    )
    report = report_for(tmp_path, files, usage=usage)
    # Haiku 4.5 batch: $0.50 in + $2.50 out per MTok
    assert report.costs[0].today.cost == pytest.approx(3.00)
    # and without usage, a batches.create call is assumed to be all batch
    (cost,) = report_for(tmp_path, files).costs
    assert cost.traffic.batch_share == 1.0


def test_a_task_row_is_shared_by_the_tasks_sites_and_unknown_rows_warn(tmp_path):
    files = {
        "a.py": CALL
        + (
            "# opusguard: task=classify-ticket\n"
            f'client.messages.create(model="{HAIKU}", messages=[])\n'
            "# opusguard: task=classify-ticket\n"
            f'client.messages.create(model="{HAIKU}", messages=[])\n'
        )
    }
    usage = _usage(
        ("classify-ticket", False, Traffic(calls=1000, input_tokens=2_000_000, output_tokens=0)),
        ("nobody", False, Traffic(calls=1, input_tokens=1, output_tokens=1)),
        ("a.py:99", True, Traffic(calls=1, input_tokens=1, output_tokens=1)),
    )
    report = report_for(tmp_path, files, POLICY, usage=usage)
    # $2 of Haiku input, split in two
    assert [c.today.cost for c in report.costs] == [pytest.approx(1.0), pytest.approx(1.0)]
    assert "1/2" in report.costs[0].traffic_source
    assert any("'nobody' matches no call site" in w for w in report.warnings)
    assert any("a.py:99 is not a call site" in w for w in report.warnings)


def test_several_possible_models_are_priced_at_the_dearest(tmp_path):
    files = {
        "a.py": CALL
        + (
            "import os\n"
            f'M = "{SONNET}" if os.getenv("BIG") else "{OPUS_41}"\n'
            "client.messages.create(model=M, max_tokens=10, messages=[])\n"
        )
    }
    (cost,) = report_for(tmp_path, files).costs
    assert cost.today.model == OPUS_41 and "dearest" in cost.today.note


def test_prices_file_overrides_the_catalog(tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        f"as_of: 2027-01-01\nprices:\n  {OPUS_45}: {{input: 1, output: 2}}\n  sonnet: {{input: 0.5, output: 1}}\n"
    )
    book = price_book(load_catalog(), prices)
    assert str(book.as_of) == "2027-01-01" and book.source == str(prices)
    ref = load_catalog().recognize(OPUS_45)
    price, _ = book.price_for(ref)
    assert (price.input, price.output, price.batch_input, price.cache_read) == (1, 2, 0.5, 0.1)
    # an id without its own entry in the file keeps the catalog's price
    assert book.price_for(load_catalog().recognize(HAIKU))[0].input == 1.0


# --- over-provisioning -----------------------------------------------------------------


def test_routine_opus_is_ranked_with_reasons_and_agentic_opus_is_not(tmp_path):
    files = {
        "a.py": CALL
        + (
            "def classify_tickets(tickets):\n"
            "    for t in tickets:\n"
            f'        client.messages.create(model="{OPUS_45}", max_tokens=5, temperature=0,\n'
            '            system="Reply with one label: bug, billing or other.", messages=[])\n'
            "def research(q):\n"
            f'    return client.messages.create(model="{OPUS_45}", max_tokens=8000, tools=[search, fetch], messages=[])\n'
            "def is_refund(t):\n"
            f'    return client.messages.create(model="{OPUS_45}", system="Answer yes or no.", messages=[])\n'
        )
    }
    report = report_for(tmp_path, files)
    ranked = [(a.cost.site.where, a.suggested_tier) for a in report.advice]
    assert ranked == [("a.py:5", "haiku"), ("a.py:10", "haiku")]
    first = report.advice[0]
    text = " ".join(first.reasons)
    for expected in ("max_tokens=5", "temperature=0", "label", "fixed set of output choices", "loop", "classify"):
        assert expected in text
    score, _, against, _ = routine_signals(by_where(report)["a.py:8"].site, load_assumptions())
    assert score < 0 and any("tools" in a for a in against)


# --- diff ----------------------------------------------------------------------------------


def test_sites_are_matched_across_edits_by_file_function_and_callee(tmp_path):
    before = {"a.py": CALL + f'def f():\n    return client.messages.create(model="{OPUS_45}", messages=[])\n'}
    after = {
        "a.py": CALL + "\n\n" + f'def f():\n    return client.messages.create(model="{HAIKU}", messages=[])\n'
        f'def g():\n    return client.messages.create(model="{HAIKU}", messages=[])\n'
    }
    base_dir, head_dir = tmp_path / "base", tmp_path / "head"
    base_dir.mkdir(), head_dir.mkdir()
    base_analysis, head_analysis = analyze(base_dir, before), analyze(head_dir, after)
    base_sites, head_sites = build_inventory(base_analysis.project), build_inventory(head_analysis.project)
    pairs, added, removed = match_sites(base_sites, head_sites)
    assert pairs == {0: 0} and added == [1] and removed == []
    assumptions, book = load_assumptions(), price_book(load_catalog())
    head = price_report(head_sites, head_analysis.project.policy, book, assumptions)

    def price(sites, overrides=None):
        return price_report(sites, base_analysis.project.policy, book, assumptions, traffic_override=overrides)

    diff = diff_reports("HEAD", base_sites, head, price)
    kinds = sorted(c.kind for c in diff.changes)
    assert kinds == ["added", "tier-changed"]
    assert diff.delta == pytest.approx(head.today - diff.base.today)
    profile = assumptions.traffic
    opus = profile.calls * (profile.input_tokens * 5 + profile.output_tokens * 25) / 1e6
    haiku = profile.calls * (profile.input_tokens * 1 + profile.output_tokens * 5) / 1e6
    assert diff.delta == pytest.approx(2 * haiku - opus)


def test_signals_read_from_settings_dicts_and_system_blocks(tmp_path):
    files = {
        "a.py": (
            "import boto3\n"
            'br = boto3.client("bedrock-runtime")\n'
            "def extract_order(text):\n"
            f'    return br.converse(modelId="us.anthropic.{OPUS_41}-v1:0", messages=[],\n'
            '        system=[{"text": "Return the order number as JSON."}],\n'
            '        inferenceConfig={"maxTokens": 200, "temperature": 0})\n'
        )
    }
    (site,) = build_inventory(analyze(tmp_path, files).project)
    assert site.signals.max_tokens == 200 and site.signals.temperature == 0
    assert site.signals.system == "Return the order number as JSON."
