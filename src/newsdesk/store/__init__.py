"""The SQLite store: the source of truth from which every index can be rebuilt."""

from newsdesk.store.sqlite import Deletion, SQLiteStore, StoredOutcome, SummaryFailure

__all__ = ["Deletion", "SQLiteStore", "StoredOutcome", "SummaryFailure"]
