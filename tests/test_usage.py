"""Usage files (`report --usage FILE`): CSV, JSON and JSON Lines, and their one-line errors."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from opusguard.report.usage import UsageError, load_usage

CSV_MEANS = """\
# exported from the gateway logs, one row per task
task,calls,mean_input_tokens,mean_output_tokens,cached_share,batch_share
classify-ticket,12000,1800,6,0.5,0
contract-review,300,40000,2500,,25%
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_means(tmp_path):
    usage = load_usage(write(tmp_path, "usage.csv", CSV_MEANS))
    assert usage.period == "month"
    tasks = usage.by_task()
    classify = tasks["classify-ticket"]
    # 12,000 calls x 1,800 input tokens, half read from the cache
    assert classify.calls == 12000
    assert classify.input_tokens == pytest.approx(12000 * 1800 * 0.5)
    assert classify.cache_read_tokens == pytest.approx(12000 * 1800 * 0.5)
    assert classify.output_tokens == 12000 * 6
    assert tasks["contract-review"].batch_share == 0.25
    assert [row.where for row in usage.rows] == [f"{tmp_path / 'usage.csv'}:3", f"{tmp_path / 'usage.csv'}:4"]


def test_csv_with_api_usage_sums_and_sites(tmp_path):
    text = (
        "site,calls,input_tokens,output_tokens,cache_read_input_tokens,cache_creation_input_tokens,period\n"
        "app/classify.py:14,1000,300000,5000,1500000,200000,day\n"
        "./app/classify.py:14,1000,300000,5000,0,0,day\n"
    )
    usage = load_usage(write(tmp_path, "u.csv", text))
    assert usage.period == "day"
    (flow,) = usage.by_site().values()
    assert list(usage.by_site()) == ["app/classify.py:14"]  # rows for one site are summed
    assert (flow.calls, flow.input_tokens, flow.output_tokens) == (2000, 600000, 10000)
    assert (flow.cache_read_tokens, flow.cache_write_tokens) == (1500000, 200000)


def test_json_list_object_and_nested_api_usage(tmp_path):
    rows = [
        {
            "task": "classify-ticket",
            "calls": 10,
            "usage": {
                "input_tokens": 100,
                "output_tokens": 20,
                "cache_read_input_tokens": 50,
                "cache_creation_input_tokens": 5,
            },
        },
        {"site": "a.py:3", "calls": 1, "mean_input_tokens": 10, "mean_output_tokens": 1},
    ]
    flat = load_usage(write(tmp_path, "u.json", json.dumps(rows, indent=2)))
    wrapped = load_usage(write(tmp_path, "w.json", json.dumps({"period": "week", "usage": rows}, indent=2)))
    for usage in (flat, wrapped):
        task = usage.by_task()["classify-ticket"]
        assert (task.input_tokens, task.output_tokens, task.cache_read_tokens, task.cache_write_tokens) == (
            100,
            20,
            50,
            5,
        )
        assert usage.by_site()["a.py:3"].input_tokens == 10
    assert wrapped.period == "week"
    # each row knows the line it starts on
    assert [r.where.rsplit(":", 1)[1] for r in flat.rows] == ["2", "12"]
    assert [r.where.rsplit(":", 1)[1] for r in wrapped.rows] == ["4", "14"]


def test_json_lines(tmp_path):
    text = '{"task": "a", "calls": 1, "input_tokens": 5, "output_tokens": 1}\n\n{"task": "b", "calls": 2, "input_tokens": 5, "output_tokens": 1}\n'
    usage = load_usage(write(tmp_path, "u.jsonl", text))
    assert [r.where.rsplit(":", 1)[1] for r in usage.rows] == ["1", "3"]


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        (
            "u.csv",
            "task,calls,mean_input_tokens,mean_output_tokens\nx,ten,1,1\n",
            2,
            "calls must be a number, not 'ten'",
        ),
        (
            "u.csv",
            "task,calls,mean_input_tokens,mean_output_tokens\nx,1,1,1\nx,-5,1,1\n",
            3,
            "calls must be a number of 0 or more",
        ),
        (
            "u.csv",
            "task,calls,mean_input_tokens,mean_output_tokens,cached_share\n\nx,1,1,1,1.5\n",
            3,
            "cached_share is a share",
        ),
        ("u.csv", "task,calls,mean_input_tokens\nx,1,1\n", 2, "missing 'mean_output_tokens'"),
        ("u.csv", "task,calls,mean_input_tokens,mean_output_tokens\nx,1,1\n", 2, "3 fields, the header has 4"),
        ("u.csv", "task,mean_input_tokens\n", 1, "needs a 'calls' column"),
        ("u.csv", "site,calls,input_tokens,output_tokens\napp.py,1,1,1\n", 2, "site 'app.py' is not path:line"),
        ("u.csv", "task,site,calls,input_tokens,output_tokens\nx,a.py:1,1,1,1\n", 2, "either a 'task' or a 'site'"),
        ("u.csv", "task,calls,input_tokens,output_tokens,mean_input_tokens\nx,1,1,1,1\n", 2, "not both"),
        ("u.csv", "task,calls,input_tokens,output_token\nx,1,1,1\n", 2, "did you mean 'output_tokens'"),
        ("u.csv", "task,calls\nx,1\n", 2, "no token counts"),
        (
            "u.json",
            '[\n  {"task": "a", "calls": 1, "input_tokens": 1, "output_tokens": 1},\n  {"task": "b", "calls": true,\n   "input_tokens": 1, "output_tokens": 1}\n]\n',
            3,
            "calls must be a number",
        ),
        ("u.json", '[\n  {"task": "a",\n  "calls": }\n]', 3, "invalid JSON"),
        ("u.json", '{"rows": []}', 1, "a list of rows"),
        (
            "u.jsonl",
            '{"task": "a", "calls": 1, "input_tokens": 1, "output_tokens": 1}\n{"task": "a"',
            2,
            "invalid JSON",
        ),
        ("u.csv", "task,calls,input_tokens,output_tokens,period\na,1,1,1,day\nb,1,1,1,month\n", 1, "different periods"),
        ("u.csv", "# nothing yet\n", 1, "no usage rows"),
    ],
)
def test_a_bad_row_is_one_error_naming_file_and_line(tmp_path, name, text, line, message):
    path = write(tmp_path, name, text)
    with pytest.raises(UsageError) as error:
        load_usage(path)
    assert str(error.value).startswith(f"{path}:{line}: ")
    assert message in str(error.value)


def test_the_cli_exits_2_with_one_line(tmp_path):
    write(tmp_path, "a.py", "import anthropic\n")
    write(tmp_path, "usage.csv", "task,calls,mean_input_tokens,mean_output_tokens\nx,1,lots,1\n")
    result = run_cli("report", "--usage", "usage.csv", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "opusguard: error: usage.csv:2: mean_input_tokens must be a number, not 'lots'"
    ]
    missing = run_cli("report", "--usage", "nope.csv", "--no-cache", ".", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.csv:1: cannot read usage file" in missing.stderr


def test_unknown_extra_columns_are_ignored_with_a_warning(tmp_path):
    usage = load_usage(
        write(tmp_path, "u.csv", "task,calls,input_tokens,output_tokens,date,model\na,1,1,1,2026-11-01,x\n")
    )
    assert usage.warnings == [f"{tmp_path / 'u.csv'}:1: ignored column(s): date, model"]
