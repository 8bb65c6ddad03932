"""A Chinese article and its English version from another outlet are one result.

Ingested with the real default embedder into a temporary home, beside another
English story on the same event that must stay a result of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from conftest import LiveServer, opensearch_env, write_jsonl
from newsdesk import Engine, load_settings, open_engine
from newsdesk.cli import cli
from newsdesk.engine import crosslingual_enabled
from newsdesk.errors import ConfigError
from newsdesk.story_links import STATE

ZH = {
    "id": "xl-zh-solar",
    "url": "https://example.cn/news/solar-exports.html",
    "title": "前三季度光伏组件出口218吉瓦 同比增长19%",
    "source": "南岸证券报",
    "published_at": "2025-10-27T09:00:00+08:00",
    "lang": "zh",
    "paragraphs": [
        "中国光伏行业协会27日公布，今年前三季度全国光伏组件出口量达到218吉瓦，同比增长19%，"
        "出口额约为1680亿元。",
        "其中，对欧洲出口96吉瓦，占总量的44%；对中东出口37吉瓦，同比增长62%。",
        "协会预计，全年组件出口量有望突破290吉瓦，但组件均价已跌至每瓦0.68元，较年初下降14%。",
    ],
}
EN = {
    "id": "xl-en-solar",
    "url": "https://example.com/markets/china-solar-module-exports",
    "title": "China's solar module exports reach 218 GW in first three quarters, up 19%",
    "source": "Global Markets Wire",
    "published_at": "2025-10-27T14:30:00+00:00",
    "lang": "en",
    "paragraphs": [
        "China exported 218 gigawatts of solar modules in the first three quarters of this year,"
        " up 19% from a year earlier, the China Photovoltaic Industry Association said on the"
        " 27th. Exports were worth about 168 billion yuan.",
        "Shipments to Europe reached 96 GW, or 44% of the total, while exports to the Middle East"
        " rose 62% to 37 GW.",
        "The association expects full-year exports to exceed 290 GW, but the average module"
        " price has fallen to 0.68 yuan per watt, down 14% since the start of the year.",
    ],
}
# The same event, another story: a commentary with figures of its own.
EN_OTHER = {
    "id": "xl-en-solar-view",
    "url": "https://example.com/opinion/solar-glut",
    "title": "Chinese solar exporters face a long winter as prices slide",
    "source": "Continental Business Daily",
    "published_at": "2025-10-28T08:00:00+00:00",
    "lang": "en",
    "paragraphs": [
        "Chinese solar makers are shipping more panels abroad than ever, but the boom is hiding"
        " losses: five of the largest producers reported combined losses of $3.1 billion in the"
        " first half.",
        "European installers say inventories of 80 GW are sitting in warehouses, and analysts"
        " expect prices to keep falling until at least 2027.",
    ],
}


@pytest.fixture(scope="module")
def xl_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("xl") / "home"
    corpus = write_jsonl(home.parent / "docs.jsonl", [ZH, EN, EN_OTHER])
    with open_engine(load_settings(home=home, environ={})) as eng:
        assert eng.settings.embedder == "use-m3" and eng.link_languages
        report = eng.ingest_paths([corpus])
        assert report.counts["accepted"] == 3, report.problems
    return home


@pytest.fixture(scope="module")
def xl_engine(xl_home: Path) -> Iterator[Engine]:
    with open_engine(load_settings(home=xl_home, environ={})) as eng:
        yield eng


def test_the_translation_is_one_story_and_the_other_story_stays_apart(xl_engine: Engine) -> None:
    stories = xl_engine.store.story_of([ZH["id"], EN["id"], EN_OTHER["id"]])
    assert stories[ZH["id"]] == stories[EN["id"]]
    assert stories[EN_OTHER["id"]] == EN_OTHER["id"]
    [(a, b, evidence)] = xl_engine.store.story_links([ZH["id"], EN["id"], EN_OTHER["id"]])
    assert {a, b} == {ZH["id"], EN["id"]} and "shared numbers/names" in evidence
    assert xl_engine.store.index_state(STATE) is not None


def test_search_shows_one_hit_with_the_other_language_under_it(xl_engine: Engine) -> None:
    for query in ("光伏组件出口", "solar module exports"):
        results = xl_engine.search(query)
        ids = [h.document.id for h in results.hits]
        assert len({ZH["id"], EN["id"]} & set(ids)) == 1, (query, ids)
        hit = next(h for h in results.hits if h.document.id in (ZH["id"], EN["id"]))
        other = EN if hit.document.id == ZH["id"] else ZH
        assert [(d.id, d.lang, d.title) for d in hit.duplicates] == [
            (other["id"], other["lang"], other["title"])
        ]
        if EN_OTHER["id"] in ids:
            separate = next(h for h in results.hits if h.document.id == EN_OTHER["id"])
            assert separate.duplicates == ()


def test_linking_again_changes_nothing(xl_engine: Engine) -> None:
    before = xl_engine.store.story_links([ZH["id"], EN["id"]])
    rev = xl_engine.store.max_rev()
    assert xl_engine.embed_pending() == 0
    assert xl_engine.store.story_links([ZH["id"], EN["id"]]) == before
    assert xl_engine.store.max_rev() == rev


def test_cli_prints_the_other_language_under_the_hit(xl_home: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--home", str(xl_home), "search", "光伏组件出口", "--lang", "original"]
    )
    assert result.exit_code == 0, result.output
    assert f"also in English: {EN['title']}, Global Markets Wire" in result.output
    assert "other source" not in result.output


def test_show_lists_the_version_in_the_other_language(xl_home: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--home", str(xl_home), "show", ZH["id"], "--lang", "original"]
    )
    assert result.exit_code == 0, result.output
    assert f"also in English: {EN['title']}" in result.output
    assert "Also published by" not in result.output
    shown = CliRunner().invoke(cli, ["--home", str(xl_home), "show", EN["id"], "--json"])
    [dup] = json.loads(shown.output)["duplicates"]
    assert dup["id"] == ZH["id"] and dup["lang"] == "zh" and dup["other_language"] is True


def test_api_and_page_mark_the_other_language(xl_engine: Engine) -> None:
    with LiveServer(xl_engine) as server:
        body = httpx.get(f"{server.url}/api/v1/search", params={"q": "光伏组件出口"}).json()
        page = httpx.get(f"{server.url}/", params={"q": "光伏组件出口"}).text
        doc_page = httpx.get(f"{server.url}/documents/{EN['id']}").text
    hit = next(r for r in body["results"] if r["id"] in (ZH["id"], EN["id"]))
    [dup] = hit["duplicates"]
    assert dup["other_language"] is True and dup["lang"] in ("zh", "en")
    assert dup["title"] in (ZH["title"], EN["title"])
    assert 'class="also-lang"' in page
    assert ("also in English" in page) or ("也见中文" in page)
    assert "也见中文" in doc_page and ZH["title"] in doc_page


def test_the_setting_turns_it_off_and_auto_follows_the_embedder(tmp_path: Path) -> None:
    def enabled(**overrides: str) -> bool:
        return crosslingual_enabled(load_settings(home=tmp_path, environ={}, overrides=overrides))

    assert enabled()
    assert not enabled(embedder="hashing")
    assert enabled(embedder="hashing", crosslingual_stories="on")
    assert not enabled(crosslingual_stories="off")
    assert not enabled(embedder="none", crosslingual_stories="on")
    with pytest.raises(ConfigError, match="crosslingual_stories"):
        enabled(crosslingual_stories="maybe")


def test_off_keeps_the_languages_apart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    corpus = write_jsonl(tmp_path / "docs.jsonl", [ZH, EN])
    env = {"NEWSDESK_CROSSLINGUAL_STORIES": "off"}
    with open_engine(load_settings(home=home, environ=env)) as eng:
        eng.ingest_paths([corpus])
        stories = eng.store.story_of([ZH["id"], EN["id"]])
        assert stories == {ZH["id"]: ZH["id"], EN["id"]: EN["id"]}
        assert json.dumps(eng.store.story_links([ZH["id"]])) == "[]"


def test_documents_stored_before_pairing_existed_are_left_as_they_are(tmp_path: Path) -> None:
    # A home upgraded from a version without pairing: its store's migration recorded
    # where pairing starts (simulated here by moving the marker past the documents),
    # so the next ingest does not pair its whole history on its critical path.
    home = tmp_path / "home"
    corpus = write_jsonl(tmp_path / "docs.jsonl", [ZH, EN])
    off = {"NEWSDESK_CROSSLINGUAL_STORIES": "off"}
    with open_engine(load_settings(home=home, environ=off)) as eng:
        eng.ingest_paths([corpus])
        eng.store.set_index_state("crosslingual_from", eng.store.max_rev(), {})
    with open_engine(load_settings(home=home, environ={})) as eng:
        eng.embed_pending()
        assert eng.store.story_links([ZH["id"], EN["id"]]) == []
        stories = eng.store.story_of([ZH["id"], EN["id"]])
        assert stories[ZH["id"]] != stories[EN["id"]]


def test_the_opensearch_backend_pairs_them_by_the_clusters_knn(
    tmp_path: Path, opensearch_url: str
) -> None:
    # With OpenSearch the vectors live in the cluster, not in this process: the pair
    # is found by the cluster's filtered k-NN search (language, publish window).
    home = tmp_path / "home"
    corpus = write_jsonl(tmp_path / "docs.jsonl", [ZH, EN, EN_OTHER])
    env = opensearch_env(opensearch_url, "xl")
    with open_engine(load_settings(home=home, environ=env)) as eng:
        assert not eng.vectors.in_memory and eng.link_languages
        report = eng.ingest_paths([corpus])
        assert report.counts["accepted"] == 3, report.problems
        stories = eng.store.story_of([ZH["id"], EN["id"], EN_OTHER["id"]])
        assert stories[ZH["id"]] == stories[EN["id"]]
        assert stories[EN_OTHER["id"]] == EN_OTHER["id"]
        [(a, b, evidence)] = eng.store.story_links([ZH["id"], EN["id"], EN_OTHER["id"]])
        assert {a, b} == {ZH["id"], EN["id"]} and "shared numbers/names" in evidence
        results = eng.search("solar module exports")
        ids = [h.document.id for h in results.hits]
        assert len({ZH["id"], EN["id"]} & set(ids)) == 1, ids
        hit = next(h for h in results.hits if h.document.id in (ZH["id"], EN["id"]))
        assert [d.lang for d in hit.duplicates] == ["zh" if hit.document.lang == "en" else "en"]
