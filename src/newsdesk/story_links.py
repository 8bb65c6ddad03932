"""Merge the story of a new Chinese document with its English version (and back).

Runs after documents are embedded (at ingest, and in the catch-up that embeds
deferred documents), over the documents embedded since the last run only: a
watermark in the store (``crosslingual``, with the rule's parameters) records how
far it got, so a rerun does nothing twice, and a change of the rule starts over.

For each new dated Chinese or English document the vector index is asked for the
nearest document of the other language published within the window; that one's
own nearest document in the first language (within its window) must belong to the
first document's story (mutual nearest neighbours, a syndicated copy counting as
its story). The pure decision (cosine floor, shared numbers and names) is
:func:`newsdesk.crosslingual.decide`; a pair it accepts becomes one story in the
store (:meth:`~newsdesk.store.DocumentStore.merge_stories`, recorded with its
evidence).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from newsdesk import crosslingual as xl
from newsdesk.index.vectors import VectorFilter, VectorIndex
from newsdesk.models import Document
from newsdesk.store import IndexRow, Store

STATE = "crosslingual"
FROM_STATE = "crosslingual_from"
_LANGS = ("zh", "en")
_BATCH = 500

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from newsdesk.index.vectors import VectorHit


class Neighbours(Protocol):
    """Where the nearest documents are searched: the vectors in memory, or the
    cluster's k-NN field when the index is OpenSearch (every process shares it)."""

    def search(
        self, query: NDArray[np.float32], limit: int, flt: VectorFilter | None = None
    ) -> Sequence[VectorHit]: ...


@dataclass(frozen=True, slots=True)
class Link:
    zh: str
    en: str
    story: str
    verdict: xl.Verdict


def _text(doc: Document) -> str:
    return "\n".join([doc.title, *(p.text for p in doc.paragraphs)])


def _ts(doc: Document) -> int | None:
    return int(doc.published_at.timestamp()) if doc.published_at else None


def _nearest(
    vectors: VectorIndex, near: Neighbours, doc_id: str, ts: int, lang: str
) -> tuple[str, float] | None:
    """The nearest document of ``lang`` published within the window of ``ts``."""
    query = vectors.vectors_of([doc_id])
    if query.shape[0] == 0:
        return None
    flt = VectorFilter(since_ts=ts - xl.WINDOW, until_ts=ts + xl.WINDOW, langs=(lang,))
    hits = near.search(query[0], 1, flt)
    return (hits[0].id, hits[0].score) if hits else None


def link_document(
    store: Store, vectors: VectorIndex, row: IndexRow, near: Neighbours | None = None
) -> Link | None:
    """Merge ``row``'s story with its other-language version, if it has one.

    ``near`` searches the nearest documents (default: ``vectors`` themselves).
    """
    if row.lang not in _LANGS or row.published_ts is None:
        return None
    near = near or vectors
    other = "en" if row.lang == "zh" else "zh"
    found = _nearest(vectors, near, row.id, row.published_ts, other)
    if found is None or found[1] < xl.COSINE_FLOOR:
        return None
    partner, cosine = found
    docs = store.get_documents([row.id, partner])
    mine, theirs = docs.get(row.id), docs.get(partner)
    if mine is None or theirs is None:
        return None
    theirs_ts = _ts(theirs)
    if theirs_ts is None:
        return None
    back = _nearest(vectors, near, partner, theirs_ts, row.lang)
    if back is None:
        return None
    if back[0] != row.id and store.story_of([back[0]]).get(back[0]) != mine.story_id:
        return None
    zh, en = (mine, theirs) if row.lang == "zh" else (theirs, mine)
    verdict = xl.decide(cosine, xl.anchors(_text(zh)), xl.anchors(_text(en)))
    if not verdict.same:
        return None
    agree = verdict.agreement
    evidence = (
        f"cosine {cosine:.3f}; {agree.shared} shared numbers/names ({agree.numbers} numbers,"
        f" coverage {agree.number_coverage:.2f}; names coverage {agree.name_coverage:.2f});"
        f" rule v{xl.VERSION}"
    )
    story = store.merge_stories(zh.id, en.id, evidence)
    if story is None:
        return None
    return Link(zh.id, en.id, story, verdict)


def link_new_documents(
    store: Store, vectors: VectorIndex, near: Neighbours | None = None, upto: int | None = None
) -> list[Link]:
    """Pair every document embedded since the last run; returns the links made.

    By default the nearest documents are searched among the vectors in memory, and
    only documents loaded there are considered (up to the vector index's
    watermark). With ``near`` (the cluster's k-NN search) they are searched there,
    up to ``upto``, the revision the cluster holds vectors to; the rest wait for
    the next run.
    """
    if vectors.stale_reason:
        return []
    if near is None:
        if not vectors.in_memory:
            return []
        upto = vectors.watermark
    elif upto is None:
        raise ValueError("searching another index needs the revision it holds vectors up to")
    state = store.index_state(STATE)
    # Where pairing starts: documents stored before the version that pairs them
    # (recorded by the store's migration) are left as they are.
    start = store.index_state(FROM_STATE)
    first = start[0] if start is not None else 0
    after = max(first, state[0]) if state is not None and state[1] == xl.PARAMS else first
    links: list[Link] = []
    while after < upto:
        rows = [r for r in store.rows_since(after, _BATCH) if r.rev <= upto]
        if not rows:
            break
        for row in rows:
            link = link_document(store, vectors, row, near)
            if link is not None:
                links.append(link)
        after = rows[-1].rev
        store.set_index_state(STATE, after, dict(xl.PARAMS))
    return links


__all__ = ["STATE", "Link", "Neighbours", "link_document", "link_new_documents"]
