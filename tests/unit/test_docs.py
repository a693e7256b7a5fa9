"""The README and docs/ describe this repository as it is: every path and module they name
exists, and every link stays inside the repository."""

from __future__ import annotations

import importlib
import importlib.util
import re

import pytest

from tests.conftest import ROOT

DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
TOP = ("dags/", "plugins/", "sql/", "expectations/", "training/", "config/", "tests/", "bench/", "docs/", ".ci/")
FILES = {"pyproject.toml", "Makefile", "docker-compose.airflow.yml", "requirements.txt", "requirements.in"}


def _code_spans(text: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", text))


def _named_paths(text: str) -> set[str]:
    out = set()
    for span in _code_spans(text):
        token = span.split(" ")[0].rstrip(",.:")
        if any(ch in token for ch in "<>*…{}$|") or "=" in token:
            continue  # a pattern (models/<model>/...), not a path
        if token.startswith(TOP) or token in FILES:
            out.add(token)
    return out


def _named_modules(text: str) -> set[str]:
    return {s for s in _code_spans(text) if re.fullmatch(r"(adctr|training)(\.[a-z_]+)+", s)}


def test_docs_exist() -> None:
    assert "docs/architecture.md" in DOCS
    assert "](docs/architecture.md)" in (ROOT / "README.md").read_text("utf-8")


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_named_exists(doc: str) -> None:
    text = (ROOT / doc).read_text("utf-8")
    paths = _named_paths(text)
    assert paths, f"{doc} names no paths (the check would be empty)"
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"{doc} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_every_module_named_exists(doc: str) -> None:
    missing = []
    for name in sorted(_named_modules((ROOT / doc).read_text("utf-8"))):
        try:
            if importlib.util.find_spec(name) is not None:
                continue
        except ModuleNotFoundError:  # a parent is a module, not a package: name is an attribute
            pass
        parent, _, attr = name.rpartition(".")
        if not hasattr(importlib.import_module(parent), attr):
            missing.append(name)
    assert not missing, f"{doc} names modules or objects that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_links_stay_inside_the_repository(doc: str) -> None:
    text = (ROOT / doc).read_text("utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        assert not re.match(r"[a-z]+://", target), f"{doc} links outside the repository: {target}"
        resolved = ((ROOT / doc).parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{doc} links outside the repository: {target}"
        assert resolved.exists(), f"{doc} links to a missing file: {target}"
