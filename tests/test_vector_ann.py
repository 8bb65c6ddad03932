"""The HNSW graph above the size threshold, and the vector files beside the other indexes.

Synthetic clustered vectors (a few thousand, 32 dimensions) with a low threshold,
so the graph path runs in a fast test; the million-document figures are in
bench/million.md.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from newsdesk.index.vectors import NAME, VectorFilter, VectorIndex
from newsdesk.models import Document, Paragraph
from newsdesk.store.sqlite import SQLiteStore

DIM = 32
N = 3000
THRESHOLD = 500
START = datetime(2025, 1, 1, tzinfo=UTC)


class FakeEmbedder:
    """Vectors come from the test (put into the store directly); queries are not embedded."""

    def __init__(self, id: str = "fake-v1", dim: int = DIM) -> None:
        self.id = id
        self.dim = dim

    def embed(self, texts: Sequence[str], *, query: bool = False) -> NDArray[np.float32]:
        v = np.stack(
            [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(self.dim) for t in texts]
        ).astype(np.float32)
        out: NDArray[np.float32] = v / np.linalg.norm(v, axis=1, keepdims=True)
        return out


def clustered(n: int, seed: int, dim: int = DIM) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).standard_normal((40, dim)).astype(np.float32)
    v = centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    out: NDArray[np.float32] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def add_documents(store: SQLiteStore, start: int, vectors: NDArray[np.float32]) -> None:
    """Documents start.. with the given vectors; lang/source/date vary by number."""
    for i in range(len(vectors)):
        k = start + i
        doc = Document(
            id=f"d{k}",
            title=f"title {k}",
            paragraphs=(Paragraph(1, f"body {k}"),),
            source="rare" if k % 100 == 7 else f"s{k % 3}",
            published_at=START + timedelta(hours=k),
            lang="zh" if k % 2 else "en",
            content_hash=f"h{k}-{vectors[i, 0]:.6f}",
        )
        store.put(doc, minhash=b"", bands=[], summary=None)
    rows = store.rows_since(0, 10**9)
    rev_of = {r.id: r.rev for r in rows}
    half = vectors.astype(np.float16)
    store.put_embeddings(
        NAME,
        [
            (f"d{start + i}", rev_of[f"d{start + i}"], half[i].tobytes())
            for i in range(len(vectors))
        ],
        max(rev_of.values()),
        {"embedder": "fake-v1", "dim": vectors.shape[1], "text": "title+lead512", "v": 1},
    )


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "store.sqlite3")
    add_documents(s, 0, clustered(N, seed=1))
    return s


def open_index(store: SQLiteStore, directory: Path | None, **kw: int) -> VectorIndex:
    index = VectorIndex(
        store, FakeEmbedder(), directory=directory, ann_threshold=kw.get("threshold", THRESHOLD)
    )
    index.refresh()
    return index


def recall(index: VectorIndex, queries: NDArray[np.float32], flt: VectorFilter | None) -> float:
    found = index.search_batch(queries, 10, flt)
    truth = index.search_batch(queries, 10, flt, exact=True)
    shared = [
        len({h.id for h in f} & {h.id for h in t}) / max(1, len(t))
        for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(shared))


def test_graph_answers_above_the_threshold_with_high_recall(
    store: SQLiteStore, tmp_path: Path
) -> None:
    index = open_index(store, tmp_path / "vectors")
    assert index.uses_graph
    queries = clustered(60, seed=2)
    assert recall(index, queries, None) >= 0.95
    # Scores are cosine similarities, best first, as the exact scan gives them.
    hits = index.search(queries[0], 10)
    exact = index.search_batch(queries[:1], 10, exact=True)[0]
    assert hits[0].id == exact[0].id and abs(hits[0].score - exact[0].score) < 0.01
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_below_the_threshold_every_search_is_exact(store: SQLiteStore, tmp_path: Path) -> None:
    index = open_index(store, tmp_path / "vectors", threshold=N + 1)
    assert not index.uses_graph
    assert recall(index, clustered(20, seed=2), None) == 1.0
    assert not (tmp_path / "vectors" / "graph.usearch").exists()


@pytest.mark.parametrize(
    "flt",
    [
        VectorFilter(langs=("zh",)),
        VectorFilter(sources=("rare",)),  # 1 % of the documents: scanned exactly
        VectorFilter(since_ts=int((START + timedelta(hours=2000)).timestamp())),
        VectorFilter(
            until_ts=int((START + timedelta(hours=1500)).timestamp()),
            langs=("en",),
            sources=("s1", "s2"),
        ),
    ],
)
def test_filters_are_honoured_through_the_graph(
    store: SQLiteStore, tmp_path: Path, flt: VectorFilter
) -> None:
    index = open_index(store, tmp_path / "vectors")
    assert index.uses_graph
    queries = clustered(30, seed=3)
    docs = store.get_documents([f"d{k}" for k in range(N)])
    for hits in index.search_batch(queries, 10, flt):
        assert len(hits) == 10
        for h in hits:
            doc = docs[h.id]
            assert doc.published_at is not None
            ts = int(doc.published_at.timestamp())
            assert not flt.langs or doc.lang in flt.langs
            assert not flt.sources or doc.source in flt.sources
            assert flt.since_ts is None or ts >= flt.since_ts
            assert flt.until_ts is None or ts <= flt.until_ts
    assert recall(index, queries, flt) >= 0.95


def test_deleted_and_changed_documents_are_never_found(store: SQLiteStore, tmp_path: Path) -> None:
    directory = tmp_path / "vectors"
    index = open_index(store, directory)
    queries = clustered(30, seed=4)
    before = index.search_batch(queries, 10)
    gone = sorted({h.id for hits in before for h in hits[:3]})
    store.delete_documents(gone)
    index.refresh()  # applies the store's deletions by their sequence number
    after = index.search_batch(queries, 10)
    assert not {h.id for hits in after for h in hits} & set(gone)
    assert len(index) == N - len(gone)
    # The deletions hold after a restart (the files still have those rows).
    reopened = open_index(store, directory)
    assert not {h.id for hits in reopened.search_batch(queries, 10) for h in hits} & set(gone)
    assert len(reopened) == N - len(gone)


def test_files_are_reopened_and_caught_up_from_the_saved_revision(
    store: SQLiteStore, tmp_path: Path
) -> None:
    directory = tmp_path / "vectors"
    first = open_index(store, directory)
    queries = clustered(20, seed=5)
    expected = [[h.id for h in hits] for hits in first.search_batch(queries, 10)]
    state = json.loads((directory / "state.json").read_text())
    assert state["rows"] == N and state["graph_rows"] == N
    # More documents arrive while no process has the index open.
    extra = clustered(200, seed=6)
    add_documents(store, N, extra)
    reader = VectorIndex(store, FakeEmbedder(), directory=directory, ann_threshold=THRESHOLD)
    # Opened from the files: the graph is memory-mapped, the new rows not loaded yet.
    assert reader.uses_graph and len(reader) == N
    assert [[h.id for h in hits] for hits in reader.search_batch(queries, 10)] == expected
    reader.refresh()
    assert len(reader) == N + 200
    # A new document is found at once (scanned exactly beside the graph).
    hit = reader.search(extra[17], 1)[0]
    assert hit.id == f"d{N + 17}" and hit.score > 0.99
    assert json.loads((directory / "state.json").read_text())["rows"] == N + 200


def test_a_crash_mid_write_and_unreadable_files_are_recovered(
    store: SQLiteStore, tmp_path: Path
) -> None:
    directory = tmp_path / "vectors"
    index = open_index(store, directory)
    query = clustered(1, seed=7)
    expected = [h.id for h in index.search_batch(query, 10)[0]]
    # A crash after appending rows but before state.json moved: the extra bytes are
    # ignored on open and overwritten by the next write.
    with open(directory / "matrix.f16", "ab") as fh:
        fh.write(b"\xff" * DIM * 2 * 5)
    with open(directory / "ids.txt", "ab") as fh:
        fh.write(b"half-written")
    again = open_index(store, directory)
    assert [h.id for h in again.search_batch(query, 10)[0]] == expected
    add_documents(store, N, clustered(3, seed=8))
    again.refresh()
    assert (directory / "ids.txt").read_text().split("\n")[N : N + 3] == [
        f"d{N}",
        f"d{N + 1}",
        f"d{N + 2}",
    ]
    # Unreadable files: deleted and rebuilt from the store.
    (directory / "ids.txt").write_bytes(b"")
    rebuilt = open_index(store, directory)
    assert len(rebuilt) == N + 3
    assert [h.id for h in rebuilt.search_batch(query, 10)[0]] == expected


def test_a_new_embedder_rebuilds_the_files(store: SQLiteStore, tmp_path: Path) -> None:
    directory = tmp_path / "vectors"
    open_index(store, directory)
    other = VectorIndex(
        store, FakeEmbedder("other-v2", 48), directory=directory, ann_threshold=THRESHOLD
    )
    assert other.stale_reason and len(other) == 0
    assert other.catch_up() == N  # cleared, every document embedded again
    assert other.stale_reason == "" and len(other) == N
    state = json.loads((directory / "state.json").read_text())
    assert state["params"]["embedder"] == "other-v2" and state["dim"] == 48
    assert other.uses_graph
    hits = other.search(other.vectors_of(["d5"])[0], 1)
    assert hits[0].id == "d5"


def test_a_server_grows_the_graph_in_the_background(store: SQLiteStore, tmp_path: Path) -> None:
    index = VectorIndex(
        store,
        FakeEmbedder(),
        directory=tmp_path / "vectors",
        ann_threshold=THRESHOLD,
        grow_in_background=True,
    )
    index.refresh()
    queries = clustered(20, seed=9)
    # Answers while the graph is being built are exact (the graph has no rows yet).
    exact = index.search_batch(queries, 10, exact=True)
    assert [h.id for h in index.search_batch(queries, 10)[0]] == [h.id for h in exact[0]]
    index.wait_for_graph()
    assert index.uses_graph
    assert recall(index, queries, None) >= 0.95


def test_the_engine_searches_through_the_graph_above_its_threshold(tmp_path: Path) -> None:
    from conftest import write_jsonl
    from newsdesk import SearchRequest, load_settings, open_engine

    rows = [
        {
            "id": f"n{i}",
            "title": f"{['芯片', '稀土', '港口', '粮食'][i % 4]} 新闻 {i}",
            "published_at": f"2025-{i % 12 + 1:02d}-{i % 28 + 1:02d}",
            "lang": "zh",
            "source": f"报{i % 3}",
            "paragraphs": [
                f"第{i}篇关于{['芯片', '稀土', '港口', '粮食'][i % 4]}的报道，编号{i * 7}。"
            ],
        }
        for i in range(120)
    ]
    results = {}
    for threshold in (0, 40):
        settings = load_settings(
            home=tmp_path / f"home{threshold}",
            environ={"NEWSDESK_EMBEDDER": "hashing", "NEWSDESK_ANN_THRESHOLD": str(threshold)},
        )
        with open_engine(settings) as engine:
            engine.ingest_paths([write_jsonl(tmp_path / f"c{threshold}.jsonl", rows)])
            assert engine.vectors is not None
            assert engine.vectors.uses_graph == (threshold > 0)
            assert engine.status()["vector_search"] == ("graph" if threshold else "exact")
            assert (settings.vector_dir / "state.json").exists()
            found = engine.search(
                SearchRequest("稀土", mode="semantic", sources=("报1",), limit=50)
            )
            assert found.total > 0 and all(h.document.source == "报1" for h in found.hits)
            results[threshold] = [h.document.id for h in found.hits]
    assert results[40] == results[0]


def test_a_graph_built_elsewhere_can_be_installed(tmp_path: Path) -> None:
    from newsdesk.errors import SearchIndexError
    from newsdesk.index.ann import Graph

    s = SQLiteStore(tmp_path / "store.sqlite3")
    vectors = clustered(N, seed=1)
    add_documents(s, 0, vectors)
    index = open_index(s, tmp_path / "vectors", threshold=0)  # rows only
    index.ann_threshold = THRESHOLD
    Graph.build(DIM, vectors[:100]).save(tmp_path / "short.usearch")
    with pytest.raises(SearchIndexError):
        index.install_graph(tmp_path / "short.usearch")  # not the saved rows
    Graph.build(DIM, vectors).save(tmp_path / "g.usearch")
    index.install_graph(tmp_path / "g.usearch")
    assert index.uses_graph
    assert recall(index, clustered(30, seed=2), None) >= 0.95
    reopened = open_index(s, tmp_path / "vectors")
    assert reopened.uses_graph


@pytest.mark.parametrize("dim", [384, 512])
def test_the_graph_at_the_embedders_widths(tmp_path: Path, dim: int) -> None:
    """e5-small's 384 and USE-m3's 512 dimensions: the files and the graph follow the store."""
    s = SQLiteStore(tmp_path / "store.sqlite3")
    vectors = clustered(2000, seed=1, dim=dim)
    add_documents(s, 0, vectors)
    index = VectorIndex(
        s, FakeEmbedder(dim=dim), directory=tmp_path / "vectors", ann_threshold=THRESHOLD
    )
    index.refresh()
    assert index.uses_graph
    assert json.loads((tmp_path / "vectors" / "state.json").read_text())["dim"] == dim
    assert recall(index, clustered(30, seed=2, dim=dim), VectorFilter(langs=("en",))) >= 0.95
