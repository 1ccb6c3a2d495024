"""Rule documentation pages, rendered from each rule's docstring and examples.

`opusguard rule OG102` prints one page; `python -m opusguard.rules.ruledocs docs/rules`
writes them all (a test keeps docs/rules/ in sync with the code).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from opusguard.rules import all_rules
from opusguard.rules.rule import Rule


def render_page(rule: type[Rule]) -> str:
    doc = inspect.cleandoc(rule.__doc__ or "")
    lines = [f"# {rule.code} {rule.name}", ""]
    if not rule.default_enabled:
        lines += ["*Opt-in: not selected by default; enable with `--select " + rule.code + "`.*", ""]
    lines += [doc, ""]
    if rule.examples:
        lines += ["## Test cases", "", "These examples run as the rule's tests (`tests/test_rule_examples.py`).", ""]
    for example in rule.examples:
        verdict = (
            "reports " + ", ".join(f"`{path}:{line}`" for path, line in example.expect)
            if example.expect
            else "reports nothing"
        )
        lines += [f"### {example.title or 'example'} — {verdict}", ""]
        if example.policy:
            lines += ["`opusguard.yaml`:", "", "```yaml", example.policy.rstrip(), "```", ""]
        for path, text in example.files.items():
            if not text.strip():
                continue
            lines += [f"`{path}`:", "", f"```{_language(path)}", text.rstrip(), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def _language(path: str) -> str:
    """The code fence's language for an example file (config files are examples too)."""
    name = path.rsplit("/", 1)[-1]
    if name == ".env" or name.startswith(".env."):
        return "sh"
    suffix = name.rsplit(".", 1)[-1] if "." in name else ""
    return {
        "py": "python",
        "pyi": "python",
        "yaml": "yaml",
        "yml": "yaml",
        "toml": "toml",
        "json": "json",
        "ini": "ini",
        "ipynb": "json",
    }.get(suffix, "text")


def write_pages(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for rule in all_rules():
        target = directory / f"{rule.code}.md"
        target.write_text(render_page(rule), encoding="utf-8")
        written.append(target)
    return written


if __name__ == "__main__":
    for path in write_pages(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/rules")):
        print(path)
