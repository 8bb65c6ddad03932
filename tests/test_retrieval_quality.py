"""Quality gates: retrieval on fixed, modest subsets of the shared evaluation data.

Floors are measured values rounded down a little (see bench/retrieval.md for the
runs); a floor is lowered only on purpose, in its own commit. Each set is ingested
and embedded once per module with the default embedder (~1,800 documents in all).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import SHARED_DATA
from newsdesk import load_settings, open_engine
from newsdesk.cli import cli
from newsdesk.evaluation import datasets
from newsdesk.evaluation.retrieval import collect, ingest_set, report

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(
        not SHARED_DATA.is_dir(), reason=f"shared evaluation data not found at {SHARED_DATA}"
    ),
]

GATE_SETS: dict[str, Any] = {
    "disc": lambda root: datasets.load_disc(root),
    "finnl": lambda root: datasets.load_finnl(root, splits=("eval",)),
    "reuters": lambda root: datasets.load_reuters(root, max_docs=400),
    "wmt": lambda root: datasets.load_wmt(root, haystack=300, sentences_per_doc=1),
}

# (metric, floor) per set and mode, measured on exactly these subsets (default
# settings, use-m3) and rounded down by ~0.02; the measured values are in the comments.
FLOORS: dict[str, dict[str, tuple[str, float]]] = {
    "disc": {
        "lexical": ("ndcg@10", 0.85),  # 0.8727
        "semantic": ("ndcg@10", 0.86),  # 0.8818
        "hybrid": ("ndcg@10", 0.88),  # 0.9017
    },
    "finnl": {
        "lexical": ("ndcg@10", 0.40),  # 0.4264
        "semantic": ("ndcg@10", 0.66),  # 0.6855
        "hybrid": ("ndcg@10", 0.66),  # 0.6874
    },
    "reuters": {
        "lexical": ("ndcg@10", 0.77),  # 0.7972
        "semantic": ("ndcg@10", 0.66),  # 0.6876
        "hybrid": ("ndcg@10", 0.74),  # 0.7608
    },
    "wmt": {
        "lexical": ("recall@10", 0.25),  # 0.2784
        "semantic": ("recall@10", 0.81),  # 0.8299
        "hybrid": ("recall@10", 0.81),  # 0.8351
    },
}
# The relevance cut-off, judged as the set it keeps against the labels (F1). Since
# issue 9 the default list keeps only what the fitted relevance model is confident
# about (precision over recall), so F1 on these label sets fell from 0.3293/0.5616
# to the measured 0.2927/0.4935 (CI run on a fresh clone, 2026-12-01).
CUTOFF_FLOORS = {"finnl": 0.28, "reuters": 0.47}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, Any]] = {}
    for name, load in GATE_SETS.items():
        evalset = load(SHARED_DATA)
        home: Path = tmp_path_factory.mktemp(f"gate-{name}")
        with open_engine(load_settings(home=home, environ={})) as engine:
            stored = ingest_set(engine, evalset)
            engine.embed_pending()
            collected = collect(engine, evalset, stored)
            out[name] = report(collected, engine.searcher.policy.fusion)
    yield out


@pytest.mark.parametrize("name", list(GATE_SETS))
def test_retrieval_floors(reports: dict[str, dict[str, Any]], name: str) -> None:
    modes = reports[name]["modes"]
    for mode, (metric, floor) in FLOORS[name].items():
        assert modes[mode][metric] >= floor, (name, mode, metric, modes[mode])


@pytest.mark.parametrize("name", list(CUTOFF_FLOORS))
def test_cutoff_keeps_the_topic(reports: dict[str, dict[str, Any]], name: str) -> None:
    hybrid = reports[name]["modes"]["hybrid"]
    assert hybrid["cutoff_f1"] >= CUTOFF_FLOORS[name], (name, hybrid)


def test_fusion_beats_both_retrievers_where_measured(reports: dict[str, dict[str, Any]]) -> None:
    # On the 400-document Reuters gate subset BM25 alone wins (0.797 vs 0.761 nDCG@10);
    # on the full Reuters test split fusion wins (bench/retrieval.md). Not gated there.
    for name in ("disc", "finnl", "wmt"):
        modes = reports[name]["modes"]
        metric = FLOORS[name]["hybrid"][0]
        assert modes["hybrid"][metric] >= max(modes["lexical"][metric], modes["semantic"][metric])


def test_cross_lingual_recall_goal(reports: dict[str, dict[str, Any]]) -> None:
    wmt = reports["wmt"]["modes"]
    assert wmt["hybrid"]["recall@10"] >= 0.8, wmt
    # Words alone cannot cross from English queries to Chinese documents.
    assert wmt["lexical"]["recall@10"] < 0.5 * wmt["hybrid"]["recall@10"], wmt


def test_eval_retrieval_command(tmp_path: Path) -> None:
    args = ["--home", str(tmp_path / "home"), "eval", "retrieval", "--data", str(SHARED_DATA)]
    # A configured store (here one that cannot be reached) is never where the set goes.
    elsewhere = {"NEWSDESK_STORE_URL": "postgresql://nobody@127.0.0.1:9/none"}
    result = CliRunner().invoke(
        cli, [*args, "--set", "wmt", "--haystack", "0", "--json"], env=elsewhere
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (wmt,) = data["sets"]
    assert wmt["set"] == "wmt" and wmt["documents"] == 97 and wmt["queries"] >= 2 * 97
    assert set(wmt["modes"]) == {"lexical", "semantic", "hybrid"}
    assert wmt["modes"]["hybrid"]["recall@10"] >= 0.8
    # Nothing was written to the user's home.
    assert not (tmp_path / "home" / "newsdesk.sqlite3").exists()
    missing = CliRunner().invoke(cli, [*args[:4], "--data", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "not found" in missing.output
