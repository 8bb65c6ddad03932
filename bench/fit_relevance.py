"""Fit the relevance decision (a logistic model over ranking.FEATURES) on judged candidates.

Reads the candidates that ``bench/tune_fusion.py`` collected (JSON per set under its
cache folder), fuses them with the default fusion, labels each candidate by the
set's judgments, and fits a regularised logistic regression on the *dev* queries
(every query whose id hashes even; the others are held out). The threshold is the
lowest one whose mean kept-set precision on the dev queries reaches ``--precision``
(precision first: the newest-first page must be about the topic). Prints the
model as a Python literal for ``newsdesk.ranking`` and the dev / held-out figures
beside the broad cut-off that had no model.

    .venv/bin/python bench/fit_relevance.py --cache /tmp/newsdesk-tune [--sets topics,finnl]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np

from newsdesk.evaluation import topics
from newsdesk.evaluation.retrieval import QueryRun
from newsdesk.ranking import FEATURES, FusionParams, RelevanceModel, broad_cutoff, features


def load(cache: Path, names: list[str]) -> dict[str, list[QueryRun]]:
    out = {}
    qrels = topics.load_qrels()
    for name in names:
        data = json.loads((cache / f"{name}.json").read_text())
        story = data.get("extra", {}).get("story_of_given", {})
        runs = []
        for r in data["runs"]:
            run = QueryRun(**r)
            run.relevant = set(run.relevant)
            if name == "topics":  # judgments may be newer than the candidates
                graded = qrels.get(run.qid, {})
                run.relevant = {story[d] for d, g in graded.items() if g > 0 and d in story}
            if run.relevant:
                runs.append(run)
        out[name] = runs
    return out


TOPIC_DEV = {t.id for t in topics.split_topics(topics.load_topics(), "dev")}
TOPIC_IDS = {t.id for t in topics.load_topics()}


def is_dev(qid: str) -> bool:
    """The topic set's own dev half; elsewhere queries whose id hashes even."""
    if qid in TOPIC_IDS:
        return qid in TOPIC_DEV
    return hashlib.sha1(qid.encode()).digest()[0] % 2 == 0


def samples(runs: list[QueryRun], params: FusionParams) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for run in runs:
        fused = run.fused(params)
        wanted = {r.id for r in broad_cutoff(fused, params)}
        for r, row in zip(fused, features(fused), strict=True):
            if r.id in wanted:
                xs.append(row)
                ys.append(1.0 if r.id in run.relevant else 0.0)
    return np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64)


def fit(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Newton's method on the L2-regularised log loss (bias not regularised)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    reg = np.full(xb.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -60, 60)))
        grad = xb.T @ (p - y) + reg * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def page_figures(runs: list[QueryRun], params: FusionParams) -> dict[str, float]:
    """Mean kept-set precision, expected first-page coverage, and kept / relevant."""
    prec, cover, ratio, empty = [], [], [], 0
    from newsdesk.ranking import cutoff

    for run in runs:
        fused = run.fused(params)
        kept = [r.id for r in cutoff(fused, params)]
        rel = len(set(kept) & run.relevant)
        if not kept:
            empty += 1
        p = rel / len(kept) if kept else 0.0
        prec.append(p)
        # The page shows min(10, kept) of the kept set by date: as many relevant ones
        # as the kept set's precision predicts.
        cover.append(min(1.0, p * min(10, len(kept)) / min(10, len(run.relevant))))
        ratio.append(len(kept) / len(run.relevant))
    return {
        "precision": round(statistics.fmean(prec), 3),
        "coverage": round(statistics.fmean(cover), 3),
        "kept/relevant (median)": round(statistics.median(ratio), 2),
        "empty": empty,
        "queries": len(runs),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--sets", default="finnl,reuters,disc,wmt")
    ap.add_argument("--fit-sets", default="", help="sets to fit on (default: all --sets)")
    ap.add_argument("--precision", type=float, default=0.85)
    ap.add_argument("--l2", type=float, default=1.0)
    args = ap.parse_args()
    names = args.sets.split(",")
    fit_names = args.fit_sets.split(",") if args.fit_sets else names
    runs = load(args.cache, names)
    params = FusionParams()
    dev = {n: [r for r in rs if is_dev(r.qid)] for n, rs in runs.items()}
    held = {n: [r for r in rs if not is_dev(r.qid)] for n, rs in runs.items()}
    parts = [samples(dev[n], params) for n in fit_names]
    # Each set weighs the same whatever its number of candidates.
    x = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    print(f"fitting on {len(y)} candidates ({int(y.sum())} relevant) from {fit_names}")
    w, b = fit(x, y, args.l2)
    for name, coef in zip(FEATURES, w, strict=True):
        print(f"  {name:14} {coef:+.4f}")
    print(f"  {'bias':14} {b:+.4f}")

    def mean_prec(model: RelevanceModel) -> float:
        p = replace(params, relevance=model)
        return statistics.fmean(page_figures(dev[n], p)["precision"] for n in fit_names)

    threshold = 0.95
    for t in [i / 100 for i in range(5, 96)]:
        if mean_prec(RelevanceModel(tuple(w), b, t)) >= args.precision:
            threshold = t
            break
    model = RelevanceModel(tuple(round(float(v), 4) for v in w), round(b, 4), threshold)
    print("\nmodel:", model)
    for label, p in (("broad (no model)", params), ("model", replace(params, relevance=model))):
        for n in names:
            print(f"{label:17} {n:8} dev {page_figures(dev[n], p)}")
            print(f"{label:17} {n:8} held-out {page_figures(held[n], p)}")


if __name__ == "__main__":
    main()


def topic_pages(cache: Path, params: FusionParams) -> dict[str, dict[str, float]]:
    """The topic set's figures from the collected candidates, as the search lists them.

    Graded nDCG@10 of BM25 and of the relevance order (confident first, then the
    rest of the broad set), and the newest-first page (the confident set by
    publish time, 10 shown) with its precision, coverage and total vs relevant.
    """
    from newsdesk.evaluation.topics import graded_ndcg, page_coverage, page_precision, within
    from newsdesk.ranking import cutoff

    root = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    when = {d["id"]: d["published_at"] for d in topics.load_corpus(root)}
    data = json.loads((cache / "topics.json").read_text())
    story = data["extra"]["story_of_given"]
    latest: dict[str, str] = {}
    for given, s in story.items():
        latest[s] = max(latest.get(s, ""), str(when.get(given, "")))
    qrels = topics.load_qrels()
    out: dict[str, dict[str, list[float]]] = {}
    for r in data["runs"]:
        run = QueryRun(**r)
        grades: dict[str, int] = {}
        for d, g in qrels.get(run.qid, {}).items():
            if d in story:
                grades[story[d]] = max(g, grades.get(story[d], 0))
        fused = run.fused(params)
        sure = [x.id for x in cutoff(fused, params)]
        keep = set(sure) | {x.id for x in broad_cutoff(fused, params)}
        order = sure + [x.id for x in fused if x.id in keep and x.id not in set(sure)]
        page = sorted(sure, key=lambda s: latest.get(s, ""), reverse=True)[:10]
        relevant = sum(1 for g in grades.values() if g > 0)
        half = "dev" if run.qid in TOPIC_DEV else "test"
        for part in ("all", half):
            row = out.setdefault(part, {})
            for key, value in (
                ("bm25", graded_ndcg([x for x, _ in run.lexical], grades)),
                ("hybrid", graded_ndcg(order, grades)),
                ("precision", page_precision(page, grades)),
                ("coverage", page_coverage(page, grades)),
                ("within_2x", float(within(len(sure), relevant))),
            ):
                row.setdefault(key, []).append(value)
    return {
        part: {k: round(statistics.fmean(v), 4) for k, v in row.items()}
        for part, row in out.items()
    }
