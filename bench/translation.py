"""The translated-extractive path on real Chinese articles, through a translation server
on 127.0.0.1 that answers faithfully or misbehaves, and the translation checks on
human translations.

Run from the repository root:  .venv/bin/python bench/translation.py [N]

No translation model runs here (none can be downloaded): the server is the project's
fake LibreTranslate (tests/fake_translate.py), whose "translation" carries every
figure over by value in English notation and fills the rest with filler words. So
this measures the plumbing and the checks, not translation quality:

1. For N Chinese articles (CCTV and RSS, interleaved) the extractive summary's
   sentences and title go through the real HTTP client; per server behaviour it
   counts bullets shown translated and bullets shown in the original, and whether any
   changed figure reached the reader (it must not).
2. The same checks on 1,915 WMT21 Chinese news sentences against their *human*
   English translations: how many would be shown, and why the others are not.
3. Milliseconds per document: translating (HTTP to 127.0.0.1) and checking.
4. What a search page of 10 results pays to show its summaries to a reader: the
   original, English without a translator, English from a warm translation cache;
   beside the search itself, in one run on a scratch home of the same articles.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_translate import FakeLibreTranslate, pseudo_translate
from newsdesk import load_settings, open_engine
from newsdesk.evaluation import data as ds
from newsdesk.models import Document
from newsdesk.reading import read, texts_to_translate
from newsdesk.summarize.extractive import ExtractiveSummarizer
from newsdesk.summarize.verify import check_translation
from newsdesk.translate.libretranslate import LibreTranslator

MODES = ("good", "number", "drop", "unchanged", "inject")


def articles(data: Path, n: int) -> list[Document]:
    cctv = (d for d in ds.cctv_documents(data) if len(d.text) >= 300)
    rss = (d for d in ds.rss_documents(data, 3) if d.lang == "zh" and len(d.text) >= 300)
    out: list[Document] = []
    for a, b in zip(cctv, rss, strict=False):
        out += [a, b]
        if len(out) >= n:
            break
    return out


def through_server(docs: list[Document], url: str, mode: str) -> dict[str, float]:
    summarizer = ExtractiveSummarizer()
    client = LibreTranslator(url, max_retries=0)
    shown = kept = changed = 0
    reasons: Counter[str] = Counter()
    translate_ms: list[float] = []
    check_ms: list[float] = []
    for doc in docs:
        summary = summarizer.summarize(doc)
        texts = texts_to_translate(doc, summary)
        started = time.perf_counter()
        answers = client.translate(texts, "zh", "en")
        translate_ms.append(1000 * (time.perf_counter() - started))
        translations = {t: a for t, a in zip(texts, answers, strict=True) if a}
        started = time.perf_counter()
        reader = read(doc, summary, "en", translations=translations, translator=("lt", ""))
        check_ms.append(1000 * (time.perf_counter() - started))
        for bullet in reader.bullets:
            if bullet.translated:
                shown += 1
                faithful = " ".join(
                    pseudo_translate(s, "zh", "en") for s in texts if s in (bullet.original or "")
                )
                # A shown bullet whose figures differ from the faithful rendering would
                # be a changed number reaching the reader.
                if mode == "number" and [c for c in bullet.text if c.isdigit()] != [
                    c for c in faithful if c.isdigit()
                ]:
                    changed += 1
            else:
                kept += 1
                reasons[bullet.problem.split("'")[0].strip()] += 1
    client.close()
    total = shown + kept
    return {
        "bullets": total,
        "shown_translated": shown / total,
        "shown_in_original": kept / total,
        "changed_number_shown": changed,
        "translate_ms_median": statistics.median(translate_ms),
        "check_ms_median": statistics.median(check_ms),
        "reasons": dict(reasons.most_common(4)),  # type: ignore[dict-item]
    }


def human_translations(data: Path) -> tuple[int, Counter[str]]:
    reasons: Counter[str] = Counter()
    n = 0
    for pair in ds.wmt_pairs(data):
        if len(pair.zh) < 10:
            continue
        n += 1
        reason = check_translation(pair.zh, pair.en, pair.zh, "zh", "en")
        reasons[reason.split("'")[0].strip() if reason else "shown"] += 1
    return n, reasons


def page_costs(docs: list[Document], url: str, rounds: int = 40) -> dict[str, float]:
    """Median ms to show 10 results' summaries, beside the search that found them."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="newsdesk-bench-") as tmp:
        corpus = Path(tmp) / "c.jsonl"
        with corpus.open("w", encoding="utf-8") as fh:
            for d in docs:
                row = {
                    "id": d.id,
                    "title": d.title,
                    "lang": d.lang,
                    "paragraphs": [p.text for p in d.paragraphs],
                }
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        home = Path(tmp) / "home"
        plain = {"NEWSDESK_EMBEDDER": "none", "NEWSDESK_TRANSLATOR": "none"}
        with open_engine(load_settings(home=home, environ=plain)) as eng:
            eng.ingest_paths([corpus])
        rows: dict[str, list[float]] = {"search": [], "original": [], "en, no translator": []}
        rows["en, cached translations"] = []
        translated = {**plain, "NEWSDESK_TRANSLATOR": "auto", "NEWSDESK_LIBRETRANSLATE_URL": url}
        with (
            open_engine(load_settings(home=home, environ=plain)) as eng,
            open_engine(load_settings(home=home, environ=translated)) as mt,
        ):
            queries = ["芯片", "经济", "市场", "会议", "发展"]
            ids = [d.id for d in docs]
            for r in range(rounds):
                started = time.perf_counter()
                eng.search(queries[r % len(queries)])
                rows["search"].append(1000 * (time.perf_counter() - started))
                # A page of 10 results (any 10 articles: the search may find fewer).
                page = [(10 * r + k) % len(ids) for k in range(10)]
                found = eng.store.get_documents([ids[k] for k in page])
                hits = [found[ids[k]] for k in page]
                mt.reader_summaries(hits, "en")  # warms the cache (first round only)
                for name, engine, lang in (
                    ("original", eng, "original"),
                    ("en, no translator", eng, "en"),
                    ("en, cached translations", mt, "en"),
                ):
                    started = time.perf_counter()
                    engine.reader_summaries(hits, lang)
                    rows[name].append(1000 * (time.perf_counter() - started))
    return {k: statistics.median(v) for k, v in rows.items()}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    data = ds.resolve_data_dir(Path("..") / "shared" / "data")
    docs = articles(data, n)
    print(f"{len(docs)} Chinese articles, {sum(len(d.text) for d in docs) / len(docs):.0f} chars")
    with FakeLibreTranslate() as server:
        for mode in MODES:
            row = through_server(docs, server.url(mode), mode)
            print(
                f"{mode:10} bullets {row['bullets']:5.0f}"
                f"  translated {row['shown_translated']:6.1%}"
                f"  original {row['shown_in_original']:6.1%}"
                f"  changed numbers shown {row['changed_number_shown']:.0f}"
                f"  translate {row['translate_ms_median']:.1f} ms/doc"
                f"  checks {row['check_ms_median']:.2f} ms/doc  {row['reasons']}"
            )
        costs = page_costs(docs, server.url("good"))
    print("a search page of 10 results, median ms:", {k: round(v, 2) for k, v in costs.items()})
    total, reasons = human_translations(data)
    print(f"WMT21 human translations: {total} sentences")
    for reason, count in reasons.most_common():
        print(f"  {count:5} {count / total:6.1%}  {reason}")


if __name__ == "__main__":
    main()
