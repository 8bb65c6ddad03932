"""newsdesk: follow a topic across the news, with cited, verified summaries.

The Python API::

    from newsdesk import load_settings, open_engine

    with open_engine(load_settings(home="~/news")) as engine:
        engine.ingest_sample()
        for hit in engine.search("技术主权").hits:
            print(hit.document.title)

The names below are imported on first use (PEP 562), so that ``import newsdesk`` and
``newsdesk --help`` stay fast: the engine pulls in numpy, tantivy, jieba and the models.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from newsdesk.config import Settings, load_settings
    from newsdesk.engine import Engine, open_engine
    from newsdesk.errors import NewsdeskError
    from newsdesk.models import (
        Bullet,
        Document,
        Hit,
        IngestReport,
        IngestResult,
        Paragraph,
        SearchResults,
        Section,
        Summary,
    )
    from newsdesk.search import SearchRequest

__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY = {
    "Bullet": "newsdesk.models",
    "Document": "newsdesk.models",
    "Engine": "newsdesk.engine",
    "Hit": "newsdesk.models",
    "IngestReport": "newsdesk.models",
    "IngestResult": "newsdesk.models",
    "NewsdeskError": "newsdesk.errors",
    "Paragraph": "newsdesk.models",
    "SearchRequest": "newsdesk.search",
    "SearchResults": "newsdesk.models",
    "Section": "newsdesk.models",
    "Settings": "newsdesk.config",
    "Summary": "newsdesk.models",
    "load_settings": "newsdesk.config",
    "open_engine": "newsdesk.engine",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'newsdesk' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Bullet",
    "Document",
    "Engine",
    "Hit",
    "IngestReport",
    "IngestResult",
    "NewsdeskError",
    "Paragraph",
    "SearchRequest",
    "SearchResults",
    "Section",
    "Settings",
    "Summary",
    "__version__",
    "load_settings",
    "open_engine",
]
