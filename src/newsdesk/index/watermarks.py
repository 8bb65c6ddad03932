"""Where a derived index records how far it has followed the store.

An index follows the store by revision: it holds every document up to its
watermark. Where the index is shared by everyone who uses the store (a local index
beside a SQLite file, one OpenSearch cluster), the watermark lives in the store
(:class:`StoreWatermark`). Where each machine keeps its own copy of the index (a
local tantivy index on a PostgreSQL store, one per web server or home), the
watermark must live with that copy (:class:`FileWatermark`): deleting the copy
resets it, and one server's progress says nothing about another's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

from newsdesk.errors import SearchIndexError
from newsdesk.store import IndexStateStore


class Watermark(Protocol):
    def get(self) -> tuple[int, dict[str, Any]] | None:
        """The revision the index holds and the parameters it was built with."""
        ...

    def set(self, rev: int, params: dict[str, Any]) -> None: ...

    def describe(self) -> str: ...


class StoreWatermark:
    """The watermark in the store's ``index_state`` table, under ``name``."""

    def __init__(self, store: IndexStateStore, name: str) -> None:
        self.store = store
        self.name = name

    def get(self) -> tuple[int, dict[str, Any]] | None:
        return self.store.index_state(self.name)

    def set(self, rev: int, params: dict[str, Any]) -> None:
        self.store.set_index_state(self.name, rev, params)

    def describe(self) -> str:
        return f"store:{self.name}"


class FileWatermark:
    """The watermark in a JSON file beside the index copy (written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self) -> tuple[int, dict[str, Any]] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return int(data["rev"]), dict(data["params"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            # Unreadable: treat the copy as built by something else, so it is rebuilt.
            return 0, {"unreadable": str(self.path)}

    def set(self, rev: int, params: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps({"rev": rev, "params": params}, sort_keys=True), "utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            msg = f"cannot record the index watermark in {self.path}: {exc}"
            raise SearchIndexError(msg) from exc

    def describe(self) -> str:
        return str(self.path)
