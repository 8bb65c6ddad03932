"""The public Python API: ``__all__`` is honest and the documented example works."""

from __future__ import annotations

from pathlib import Path

import newsdesk


def test_all_names_exist_and_public_names_are_listed() -> None:
    for name in newsdesk.__all__:
        assert hasattr(newsdesk, name), name
    public = {n for n in vars(newsdesk) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(newsdesk, n)).__name__ == "module"}
    assert public - modules <= set(newsdesk.__all__)


def test_docstring_example(tmp_path: Path) -> None:
    with newsdesk.open_engine(newsdesk.load_settings(home=tmp_path, environ={})) as engine:
        report = engine.ingest_sample()
        assert report.counts["accepted"] >= 40
        titles = [hit.document.title for hit in engine.search("技术主权").hits]
        assert titles
