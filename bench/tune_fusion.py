"""Sweep fusion methods and cut-off constants over collected candidates.

Collects each evaluation set once (ingest + embed into a temporary home, both
retrievers' candidates for every query; cached as JSON under /tmp, outside the
repository), then scores every parameter combination from memory.

    .venv/bin/python bench/tune_fusion.py [--fresh]
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from newsdesk import load_settings, open_engine
from newsdesk.evaluation import datasets, topics
from newsdesk.evaluation.retrieval import Collected, QueryRun, collect, ingest_set, score
from newsdesk.ranking import FusionParams

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CACHE = Path(tempfile.gettempdir()) / "newsdesk-tune"


LOADERS = {
    "disc": lambda: datasets.load_disc(ROOT),
    "finnl": lambda: datasets.load_finnl(ROOT, splits=("eval",)),
    "reuters": lambda: datasets.load_reuters(ROOT, max_docs=1500),
    "wmt": lambda: datasets.load_wmt(ROOT, haystack=500, sentences_per_doc=2),
    # All 34 topics: the relevance fit and the sweeps use the dev half only.
    "topics": lambda: topics.load_topic_set(ROOT, "all"),
}


def sets(names: str = "disc,finnl,reuters,wmt") -> list[datasets.EvalSet]:
    return [LOADERS[n]() for n in names.split(",")]


def relabel(got: Collected, evalset: datasets.EvalSet) -> None:
    """Judgments added after the candidates were collected: map them onto stories."""
    story = got.extra.get("story_of_given", {})
    for run in got.runs:
        run.relevant = {story[d] for d in evalset.qrels.get(run.qid, ()) if d in story}


def gather(
    es: datasets.EvalSet,
    fresh: bool,
    cache_dir: Path = CACHE,
    environ: dict[str, str] | None = None,
) -> Collected:
    cache = cache_dir / f"{es.name}.json"
    if cache.exists() and not fresh:
        data = json.loads(cache.read_text())
        data["runs"] = [QueryRun(**r) for r in data["runs"]]
        for r in data["runs"]:
            r.relevant = set(r.relevant)
        return Collected(**data)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(home=tmp, environ=environ or {})
        with open_engine(settings) as engine:
            t0 = time.perf_counter()
            stored = ingest_set(engine, es)
            t1 = time.perf_counter()
            engine.embed_pending()
            t2 = time.perf_counter()
            got = collect(engine, es, stored)
            story_of = engine.store.story_of(list(set(stored.values())))
            got.extra = {
                "ingest_s": round(t1 - t0, 1),
                "embed_s": round(t2 - t1, 1),
                "story_of_given": {g: story_of.get(s) or s for g, s in stored.items()},
            }
    cache_dir.mkdir(exist_ok=True)
    data = asdict(got)
    for r in data["runs"]:
        r["relevant"] = sorted(r["relevant"])
    cache.write_text(json.dumps(data, ensure_ascii=False))
    return got


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--cache", type=Path, default=CACHE, help="where collected runs are kept")
    ap.add_argument("--sets", default="disc,finnl,reuters,wmt")
    ap.add_argument("--embedder", default="", help="embedder setting (default: the default)")
    ap.add_argument("--collect-only", action="store_true")
    args = ap.parse_args()
    environ = {"NEWSDESK_EMBEDDER": args.embedder} if args.embedder else {}
    collected = []
    for es in sets(args.sets):
        got = gather(es, args.fresh, args.cache, environ)
        relabel(got, es)
        if es.name == "topics":
            # Tune on the dev half only; the test half is reported by the eval command.
            dev = {t.id for t in topics.split_topics(topics.load_topics(), "dev")}
            got.runs = [r for r in got.runs if r.qid in dev]
        print(got.name, got.documents, "docs", len(got.runs), "queries", got.extra, flush=True)
        collected.append(got)
    if args.collect_only:
        return

    print("\n== ranking (no cut-off): nDCG@10 per set; best single retriever first ==")
    best = {
        c.name: max(score(c, m, FusionParams())["ndcg@10"] for m in ("lexical", "semantic"))
        for c in collected
    }
    for c in collected:
        lex, sem = (score(c, m, FusionParams())["ndcg@10"] for m in ("lexical", "semantic"))
        print(f"{c.name:8} lexical {lex:.4f}  semantic {sem:.4f}")
    rows = []
    for k, w, fw in itertools.product(
        [2, 5, 10, 30, 60], [0.5, 0.6, 0.7, 0.8], [0, 0.2, 0.35, 0.5]
    ):
        p = FusionParams(method="rrf", rrf_k=k, semantic_weight=w, feedback_weight=fw)
        got = {c.name: score(c, "hybrid", p)["ndcg@10"] for c in collected}
        wins = sum(got[n] > best[n] for n in got)
        margin = min(got[n] - best[n] for n in got)
        rows.append((wins, margin, f"rrf k={k} w={w} fw={fw}", got))
    for w, floor in itertools.product([0.3, 0.5, 0.7], [0.1, 0.2, 0.3]):
        p = FusionParams(method="convex", semantic_weight=w, semantic_floor=floor)
        got = {c.name: score(c, "hybrid", p)["ndcg@10"] for c in collected}
        wins = sum(got[n] > best[n] for n in got)
        margin = min(got[n] - best[n] for n in got)
        rows.append((wins, margin, f"convex w={w} f={floor}", got))
    rows.sort(key=lambda r: (-r[0], -r[1]))
    for wins, margin, label, got in rows[:20]:
        cells = " ".join(f"{n}={v:.4f}" for n, v in got.items())
        print(f"{label:26} wins={wins} margin={margin:+.4f} {cells}")

    print("\n== cut-off: P/R/F1 of the kept set; topic = mean F1 of finnl and reuters ==")
    by = {c.name: c for c in collected}
    cuts = []
    for lf, sa, sr, fa, fr in itertools.product(
        [0.3, 0.4, 0.5], [0.2, 0.3, 0.4], [0.8, 0.9], [0.3, 0.4, 0.5, 1.0], [0.5, 0.6, 0.7]
    ):
        p = FusionParams(
            lexical_floor=lf,
            semantic_floor=sa,
            semantic_ratio=sr,
            feedback_floor=fa,
            feedback_ratio=fr,
        )
        m = {n: score(c, "hybrid", p) for n, c in by.items()}
        labelled = [m[n]["cutoff_f1"] for n in ("finnl", "reuters") if n in m] or [0.0]
        topic = sum(labelled) / len(labelled)
        cuts.append((topic, f"lex>={lf} cos>={sa}&{sr}xtop fb>={fa}&{fr}xtop", m))
    cuts.sort(key=lambda r: -r[0])
    for topic, label, m in cuts[:25]:
        cells = "  ".join(
            f"{n}={v['cutoff_p']:.2f}/{v['cutoff_r']:.2f}/{v['cutoff_f1']:.3f}"
            for n, v in m.items()
        )
        print(f"{topic:.4f} {label:40} {cells}")


if __name__ == "__main__":
    main()
