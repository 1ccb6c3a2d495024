"""Build a benchmark corpus from pinned PyPI wheels.

    python benchmarks/make_corpus.py [--corpus sparse|dense] [--dest DIR]

sparse (benchmarks/corpus/sparse): large general-purpose packages with Claude
usage injected into 40 files chosen with a fixed seed; few files matter.
dense (benchmarks/corpus/dense): packages built around Claude and other LLM
APIs, unchanged; many files mention Claude.

Only the wheels' `.py` files are kept. Each corpus gets a `pyproject.toml` of
its own (the project's root, as in a user's checkout) and an empty git
repository (`git init`), so that tools that honour .gitignore see a checkout of
its own, not a folder this repository's .gitignore excludes. Nothing is
committed: the wheels are fetched by `pip download --no-deps` when the corpus
is built. Reproducible: pinned versions, a fixed seed, a manifest; a corpus
already built from the same manifest is left as it is.
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
# Claude-heavy code: SDK wrappers, agent frameworks, eval harnesses (latest
# release on PyPI each, as of 2026-12-06).
DENSE_PACKAGES = [
    "litellm==1.91.5",
    "langchain-anthropic==1.7.10",
    "llama-index-llms-anthropic==0.12.3",
    "crewai==1.15.30",
    "agno==3.1.10",
    "strands-agents==1.62.0",
    "inspect-ai==0.3.285",
    "camel-ai==0.2.90",
    "smolagents==1.26.0",
    "anthropic-haystack==8.0.1",
    "mirascope==2.8.2",
    "openhands-ai==0.9.8",
    "ag2==1.2.1",
]
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
    "from acme_ai.config import Tier as _OgTier\n\nclass _OgAgent:\n    MODEL = _OgTier.OPUS\n\n    def run(self, client, prompt):\n        return client.messages.create(model=self.MODEL.value, max_tokens=1000, messages=[])\n",
    'import litellm as _og_litellm\n\ndef _og_answer(q, model="anthropic/claude-opus-4-1"):\n    return _og_litellm.completion(model=model, messages=[{"role": "user", "content": q}])\n',
    "from langchain_anthropic import ChatAnthropic as _OgChat\nfrom acme_ai.config import FAST_MODEL as _OG_FAST\n\n_og_llm = _OgChat(model=_OG_FAST, max_tokens=50)\n",
]


# The top of the monorepo: a project of its own, as opusguard finds its root
# (without it, the root would be the checkout of opusguard the corpus sits in).
PYPROJECT = '[project]\nname = "acme-monorepo"\nversion = "0"\n'
DENSE_PYPROJECT = '[project]\nname = "llm-apps"\nversion = "0"\n'
CORPUS_TIME = 1_795_478_400  # 2026-11-24 00:00 UTC: every file's mtime


def manifest(corpus: str = "sparse") -> dict:
    if corpus == "dense":
        return {"corpus": "dense", "packages": DENSE_PACKAGES, "pyproject": DENSE_PYPROJECT}
    return {
        "packages": PACKAGES,
        "seed": SEED,
        "injected": INJECTED_FILES,
        "snippets": hashlib.sha256("".join(SNIPPETS + [CONFIG, PYPROJECT]).encode()).hexdigest(),
    }


def unpack_wheels(packages: list[str], dest: Path) -> None:
    """The `.py` files of the pinned wheels, fetched by pip, at their paths in the wheel."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--python-version",
                "3.11",
                "--platform",
                "manylinux2014_x86_64",
                "-d",
                tmp,
                *packages,
            ],
            check=True,
        )
        for wheel in sorted(Path(tmp).glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                for name in archive.namelist():
                    if not name.endswith(".py") or ".dist-info/" in name:
                        continue
                    installed = name
                    parts = name.split("/")
                    if parts[0].endswith(".data"):  # pkg.data/purelib/x.py installs as x.py
                        if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                            continue
                        installed = "/".join(parts[2:])
                    target = dest / installed
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(name))


def stats(dest: Path) -> dict:
    """Files, lines and files that mention Claude (any case), over the corpus's `.py` files."""
    files = lines = claude = 0
    for path in dest.rglob("*.py"):
        if ".git" in path.relative_to(dest).parts:
            continue
        data = path.read_bytes()
        files += 1
        lines += data.count(b"\n")
        claude += b"claude" in data.lower()
    return {"files": files, "lines": lines, "files_mentioning_claude": claude}


def finish(dest: Path, stamp_data: dict) -> None:
    # Dated in the past, as a checkout's files are: opusguard keeps no verdict for a
    # file changed within the last two seconds, so a corpus just written would make
    # the first warm run a cold one.
    for path in dest.rglob("*"):
        os.utime(path, (CORPUS_TIME, CORPUS_TIME))
    # A repository of its own, as a user's checkout is (no commit needed): git's
    # answer to "is this ignored?" is then about the corpus, not this repository.
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(dest)], check=True)
    (dest / "MANIFEST.json").write_text(json.dumps(stamp_data, indent=2))
    counts = stats(dest)
    print(
        f"{dest}: {counts['files']:,} files, {counts['lines']:,} lines, "
        f"{counts['files_mentioning_claude']:,} mention Claude"
    )


def fresh(dest: Path, stamp_data: dict) -> bool:
    stamp = dest / "MANIFEST.json"
    if stamp.exists() and json.loads(stamp.read_text()) == stamp_data:
        print(f"{dest}: already built")
        return False
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    return True


def build_dense(dest: Path) -> None:
    if not fresh(dest, manifest("dense")):
        return
    unpack_wheels(DENSE_PACKAGES, dest)
    (dest / "pyproject.toml").write_text(DENSE_PYPROJECT)
    finish(dest, manifest("dense"))


def build(dest: Path) -> None:
    if not fresh(dest, manifest()):
        return
    unpack_wheels(PACKAGES, dest)
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
    finish(dest, manifest())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", choices=["sparse", "dense"], default="sparse")
    parser.add_argument("--dest", type=Path, help="default: benchmarks/corpus/<corpus>")
    args = parser.parse_args()
    dest = args.dest or Path(__file__).resolve().parent / "corpus" / args.corpus
    (build_dense if args.corpus == "dense" else build)(dest)
