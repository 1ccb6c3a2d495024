"""Build the benchmark corpus: real Python from pinned PyPI packages, with Claude usage injected.

    python benchmarks/make_corpus.py [--dest benchmarks/corpus]

Reproducible: pinned package versions, a fixed random seed, and a manifest; a
corpus already built from the same manifest is left as it is.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGES = ["Django==5.1.4", "sympy==1.13.3", "networkx==3.4.2", "pandas==2.2.3"]
SEED = 20261124
INJECTED_FILES = 40

CONFIG = '''"""Model settings shared by the services (injected by the benchmark)."""
import os
from enum import Enum

SMART_MODEL = os.getenv("ACME_SMART_MODEL", "claude-opus-4-1-20250805")
FAST_MODEL = "claude-haiku-4-5-20251001"
DRAFT_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MODELS = {"classify": "claude-opus-4-1", "summarize": "claude-sonnet-4-5-20250929"}


class Tier(str, Enum):
    OPUS = "claude-opus-4-5-20251101"
    HAIKU = "claude-haiku-4-5"
'''

SNIPPETS = [
    'import anthropic as _og_anthropic\nfrom acme_ai.config import SMART_MODEL as _OG_SMART\n\ndef _og_classify(text):\n    return _og_anthropic.Anthropic().messages.create(model=_OG_SMART, max_tokens=5, messages=[{"role": "user", "content": text}])\n',
    'import anthropic as _og_anthropic\nfrom acme_ai import config as _og_config\n\ndef _og_summarize(text):\n    return _og_anthropic.Anthropic().messages.create(model=_og_config.MODELS["summarize"], max_tokens=400, messages=[])\n',
    'import boto3 as _og_boto3\nfrom acme_ai.config import DRAFT_MODEL as _OG_DRAFT\n\ndef _og_draft(text):\n    return _og_boto3.client("bedrock-runtime").converse(modelId=_OG_DRAFT, messages=[])\n',
    'from acme_ai.config import Tier as _OgTier\n\nclass _OgAgent:\n    MODEL = _OgTier.OPUS\n\n    def run(self, client, prompt):\n        return client.messages.create(model=self.MODEL.value, max_tokens=1000, messages=[])\n',
    'import litellm as _og_litellm\n\ndef _og_answer(q, model="anthropic/claude-opus-4-1"):\n    return _og_litellm.completion(model=model, messages=[{"role": "user", "content": q}])\n',
    'from langchain_anthropic import ChatAnthropic as _OgChat\nfrom acme_ai.config import FAST_MODEL as _OG_FAST\n\n_og_llm = _OgChat(model=_OG_FAST, max_tokens=50)\n',
]


# The top of the monorepo: a project of its own, as opusguard finds its root
# (without it, the root would be the checkout of opusguard the corpus sits in).
PYPROJECT = '[project]\nname = "acme-monorepo"\nversion = "0"\n'
CORPUS_TIME = 1_795_478_400  # 2026-11-24 00:00 UTC: every file's mtime


def manifest() -> dict:
    return {"packages": PACKAGES, "seed": SEED, "injected": INJECTED_FILES, "snippets": hashlib.sha256("".join(SNIPPETS + [CONFIG, PYPROJECT]).encode()).hexdigest()}


def build(dest: Path) -> None:
    stamp = dest / "MANIFEST.json"
    if stamp.exists() and json.loads(stamp.read_text()) == manifest():
        print(f"{dest}: already built")
        return
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
             "--python-version", "3.11", "--platform", "manylinux2014_x86_64", "-d", tmp, *PACKAGES],
            check=True,
        )
        for wheel in sorted(Path(tmp).glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                for name in archive.namelist():
                    if name.endswith(".py") and ".dist-info/" not in name:
                        target = dest / name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(archive.read(name))
    (dest / "pyproject.toml").write_text(PYPROJECT)
    package = dest / "acme_ai"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text(CONFIG)
    files = sorted(p for p in dest.rglob("*.py") if "acme_ai" not in p.parts and p.stat().st_size > 2000)
    rng = random.Random(SEED)
    for index, path in enumerate(rng.sample(files, INJECTED_FILES)):
        with path.open("a", encoding="utf-8") as handle:
            handle.write("\n\n# --- injected by benchmarks/make_corpus.py ---\n" + SNIPPETS[index % len(SNIPPETS)])
    # Dated in the past, as a checkout's files are: opusguard keeps no verdict for a
    # file changed within the last two seconds, so a corpus just written would make
    # the first warm run a cold one.
    for path in dest.rglob("*"):
        os.utime(path, (CORPUS_TIME, CORPUS_TIME))
    stamp.write_text(json.dumps(manifest(), indent=2))
    lines = sum(p.read_bytes().count(b"\n") for p in dest.rglob("*.py"))
    print(f"{dest}: {sum(1 for _ in dest.rglob('*.py'))} files, {lines:,} lines, {INJECTED_FILES} with Claude usage")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--dest", type=Path, default=Path(__file__).parent / "corpus")
    build(parser.parse_args().dest)
