"""Turn inputs (files, folders, JSONL lines) into normalized documents.

``sources`` reads raw records from where they live; ``normalize`` turns one raw
record into a :class:`~newsdesk.models.Document` or raises
:class:`~newsdesk.errors.ExtractionError` with the reason.
"""

from newsdesk.ingest.normalize import RawRecord, build_document
from newsdesk.ingest.sources import iter_records

__all__ = ["RawRecord", "build_document", "iter_records"]
