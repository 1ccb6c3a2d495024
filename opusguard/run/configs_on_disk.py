"""The committed config files of a run on disk (configfiles.ConfigView's files).

A file is read once, through the facts cache (keyed by its bytes), and only if it
is committed: discovered, or for a file the run did not discover, neither excluded
nor .gitignore'd. The verdict index (size and mtime) spares a warm run the reading.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from opusguard.base.paths import display_path
from opusguard.facts.configfiles import (
    MAX_CONFIG_BYTES,
    ConfigFacts,
    ConfigView,
    config_kind,
    is_config_path,
    parse_config,
)
from opusguard.policy.config import file_excludes

if TYPE_CHECKING:
    from opusguard.run.cache import FactsCache, VerdictIndex

# Verdicts kept in the verdict index (cache.VerdictIndex) for a config file.
_NO_MODEL, _TOO_LARGE, _CONFIG = "config-none", "config-large", "config:"


class ConfigFiles(ConfigView):
    """The committed config files of a run, read from disk."""

    def __init__(
        self,
        cwd: Path,
        root: Path,
        is_model_id: Callable[[str], bool],
        cache: FactsCache | None = None,
        *,
        excludes: tuple[list[str], list[str]] = ([], []),
        skip: frozenset[str] = frozenset(),
        verdicts: VerdictIndex | None = None,
    ) -> None:
        super().__init__(cwd, root, is_model_id)
        self.cache = cache
        self.excludes = excludes  # (exclude, extend-exclude), as discovery applies them
        self.verdicts = verdicts  # cache.VerdictIndex of the run, or None
        self.skip = skip  # absolute paths never read as config: the policy, the baseline, the catalog

    def take_config_files(self, files: list[str]) -> list[str]:
        """Read the config files among the discovered `files`; return the others (the code)."""
        code = []
        for name in files:
            if is_config_path(name):
                facts = self._load(name)
                if facts is not None and (facts.values or facts.error):  # (the others name no model)
                    self.files[facts.path] = facts
            else:
                code.append(name)
        return code

    def _load(self, absolute: str) -> ConfigFacts | None:
        """A file's facts; a file unchanged since a run gave it a verdict (verdict index:
        size and mtime) is not read again: no `claude` in it, or its facts' cache key."""
        if os.path.abspath(absolute) in self.skip:
            return None
        kind = config_kind(os.path.basename(absolute)) or "env"
        entry = self.verdicts.entries.get(absolute) if self.verdicts is not None else None
        try:
            stat = os.stat(absolute)
            if entry is not None and entry[:2] == (stat.st_size, stat.st_mtime_ns):
                if entry[2] == _NO_MODEL:  # most config files, on a warm run: not even a path to show
                    return ConfigFacts(path="", kind=kind)
                known = self._known(entry[2], display_path(absolute, self.cwd), kind)
                if known is not None:
                    return known or None
            rel = display_path(absolute, self.cwd)
            with open(absolute, "rb") as handle:
                content = handle.read(MAX_CONFIG_BYTES + 1)
        except OSError:
            return None
        facts = self._parse(content, rel, kind)
        if self.verdicts is not None and self.cache is not None and len(content) == stat.st_size:
            verdict = (
                _NO_MODEL
                if facts is not None and facts.kind == ""
                else (_TOO_LARGE if facts is None else _CONFIG + self.cache.key(content, "config"))
            )
            self.verdicts.put(absolute, stat.st_size, stat.st_mtime_ns, verdict)
        if facts is not None and facts.kind == "":
            facts.kind = kind
        return facts

    def _known(self, verdict: str, rel: str, kind: str) -> ConfigFacts | Literal[False] | None:
        """The facts a verdict names (False: too large); None if they must be read again."""
        if verdict == _TOO_LARGE:
            self.too_large.append(rel)
            return False
        if verdict.startswith(_CONFIG) and self.cache is not None:
            facts = self.cache.read_key(verdict[len(_CONFIG) :], ConfigFacts)
            if isinstance(facts, ConfigFacts):
                return self._loaded(facts, rel)
        return None

    def _parse(self, content: bytes, rel: str, kind: str | None = None) -> ConfigFacts | None:
        """Facts of `content` (kind "" when it mentions no Claude model); None if too large."""
        if b"claude" not in content or len(content) > MAX_CONFIG_BYTES:
            return super()._parse(content, rel, kind)
        cache = self.cache
        key = cache.key(content, "config") if cache is not None else None
        facts = cache.read_key(key, ConfigFacts) if cache is not None and key is not None else None
        if not isinstance(facts, ConfigFacts):
            facts = parse_config(content, rel, self.is_model_id, kind)
            if cache is not None and key is not None:
                from msgspec.structs import replace

                cache.write_key(key, replace(facts, path=""))
        return self._loaded(facts, rel)

    def read(self, absolute: str) -> ConfigFacts | None:
        """A file's facts if it is committed, from the discovered ones or read now."""
        absolute = os.path.abspath(absolute)
        rel = display_path(absolute, self.cwd)
        if rel in self.files:
            return self.files[rel]
        if absolute not in self._on_demand:
            self._on_demand[absolute] = (
                self._load(absolute) if os.path.isfile(absolute) and self._committed(absolute) else None
            )
        return self._on_demand[absolute]

    def _committed(self, absolute: str) -> bool:
        from opusguard.run.discover import _ignored, _parent_ignores

        path = Path(absolute)
        try:
            rel = path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return False  # outside the project
        folders, name = rel.split("/")[:-1], rel.rsplit("/", 1)[-1]
        exclude, extend = self.excludes
        folder_patterns, file_patterns = [*exclude, *extend], [*file_excludes(exclude), *extend]
        if any(fnmatch.fnmatch(part, p) for part in folders for p in folder_patterns) or any(
            fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) for p in file_patterns
        ):
            return False
        specs = _parent_ignores(path.resolve())
        return not (specs and _ignored(path.resolve(), False, specs))

    def _env_files(self, directory: str) -> list[ConfigFacts]:
        if directory not in self._env_dirs:
            try:
                names = sorted(entry.name for entry in os.scandir(directory) if config_kind(entry.name) == "env")
            except OSError:
                names = []
            found = [self.read(os.path.join(directory, name)) for name in names]
            self._env_dirs[directory] = [facts for facts in found if facts is not None and facts.kind == "env"]
        return self._env_dirs[directory]
