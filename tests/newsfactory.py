"""Synthetic news written by the tests themselves: stories, syndicated copies, feeds.

Each story is a few paragraphs of random (but plausible-looking) Chinese; its
copies are what other outlets run: the same text with their own byline paragraph
and a character or two changed (near-duplicates that belong to one story), plus
exact copies under another URL (duplicates, stored once). Stories are far apart
from each other, so the right grouping is known exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

CHARS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下"
    "过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两"
    "体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线"
    "内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并"
    "提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见"
)
START = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Item:
    """One article as an outlet publishes it."""

    story: int
    link: str
    title: str
    paragraphs: tuple[str, ...]
    published: datetime
    source: str

    def html(self) -> str:
        return "".join(f"<p>{escape(p)}</p>" for p in self.paragraphs)

    def page(self) -> bytes:
        """The article as a web page (title, byline, time, paragraphs)."""
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{escape(self.title)}</title>"
            f"<meta property='article:published_time' content='{self.published.isoformat()}'>"
            f"<link rel='canonical' href='{escape(self.link)}'></head><body><article>"
            f"<h1>{escape(self.title)}</h1>{self.html()}</article></body></html>"
        ).encode()


def _sentence(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(CHARS) for _ in range(n)) + "。"


def stories(
    n: int, *, copies: int = 2, exact: int = 1, seed: int = 7, site: str = "https://news.test"
) -> list[list[Item]]:
    """``n`` stories, each as run by 1 + ``copies`` outlets, plus ``exact`` verbatim reposts.

    Copy ``k`` of a story adds its outlet's byline paragraph and changes one character
    of its lead, so its content differs but it is the same story.
    """
    rng = random.Random(seed)
    out: list[list[Item]] = []
    for s in range(n):
        body = [_sentence(rng, rng.randint(70, 120)) for _ in range(4)]
        title = f"第{s}号报道" + "".join(rng.choice(CHARS) for _ in range(10))
        when = START + timedelta(hours=s)
        items = [Item(s, f"{site}/o0/{s}", title, tuple(body), when, "outlet-0")]
        for k in range(1, copies + 1):
            lead = body[0]
            pos = rng.randrange(len(lead) - 1)
            edited = [lead[:pos] + rng.choice(CHARS) + lead[pos + 1 :], *body[1:]]
            edited.append(f"（本文由第{k}家媒体转载，来源：外电{k}号，编辑：记者{s}）")
            items.append(
                Item(
                    s,
                    f"{site}/o{k}/{s}",
                    f"{title}（转{k}）",
                    tuple(edited),
                    when + timedelta(minutes=10 * k),
                    f"outlet-{k}",
                )
            )
        for e in range(exact):
            first = items[0]
            items.append(
                Item(s, f"{site}/mirror{e}/{s}", first.title, first.paragraphs, when, f"mirror-{e}")
            )
        out.append(items)
    return out


def rss(items: list[Item], title: str = "测试快讯") -> bytes:
    parts = []
    for it in items:
        parts.append(
            f"<item><title>{escape(it.title)}</title><link>{escape(it.link)}</link>"
            f"<pubDate>{it.published.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            f"<author>{escape(it.source)}</author>"
            f"<content:encoded><![CDATA[{it.html()}]]></content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{escape(title)}</title><link>https://news.test/</link>{''.join(parts)}"
        "</channel></rss>"
    ).encode()


def split_feeds(all_items: list[Item], n_feeds: int, overlap: int = 1) -> list[list[Item]]:
    """Spread items over ``n_feeds`` feeds; each item lands in ``1 + overlap`` of them."""
    feeds: list[list[Item]] = [[] for _ in range(n_feeds)]
    for i, item in enumerate(all_items):
        for j in range(1 + overlap):
            feeds[(i + j) % n_feeds].append(item)
    return feeds
