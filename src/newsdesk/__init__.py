"""newsdesk: follow a topic across the news, with cited, verified summaries.

The Python API::

    from newsdesk import load_settings, open_engine

    with open_engine(load_settings(home="~/news")) as engine:
        engine.ingest_sample()
        for hit in engine.search("技术主权").hits:
            print(hit.document.title)
"""

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
