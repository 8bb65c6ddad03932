"""Near-duplicate signatures: copies match, different stories do not."""

from __future__ import annotations

from newsdesk import dedupe

BASE = [
    "荷兰光刻机巨头阿斯麦9日宣布，将以13亿欧元领投法国人工智能初创公司Mistral AI的C轮融资。",
    "交易完成后，阿斯麦将持有Mistral约11%的股份，并获得一个战略委员会观察员席位。",
    "Mistral计划将新资金中的约60%用于采购算力，其余用于扩充研发人员。",
    "分析人士认为，这笔投资是欧洲减少对美国技术依赖的重要一步。",
]


def test_lightly_edited_copy_is_the_same_story() -> None:
    copy = [*BASE[:3], "（本文来源：样例日报，责任编辑：张三）"]
    copy[1] = copy[1].replace("，", "；")
    sim = dedupe.similarity(dedupe.signature(BASE), dedupe.signature(copy))
    assert sim >= dedupe.SAME_STORY


def test_different_story_on_the_same_topic_is_not() -> None:
    follow_up = [
        "Mistral AI周二表示，将在巴黎南郊建设一座新的数据中心，总投资约26亿欧元。",
        "该数据中心将部署约1.8万块图形处理器，预计2026年投入使用。",
        "公司称，此举有助于欧洲数据留在本地，增强战略自主。",
    ]
    sim = dedupe.similarity(dedupe.signature(BASE), dedupe.signature(follow_up))
    assert sim < 0.2


def test_band_keys_are_stable_sqlite_integers() -> None:
    sig = dedupe.signature(BASE)
    keys = dedupe.band_keys(sig)
    assert len(keys) == dedupe.BANDS
    assert all(-(2**63) <= k < 2**63 for k in keys)
    assert keys == dedupe.band_keys(dedupe.signature_from_bytes(dedupe.signature_to_bytes(sig)))


def test_best_match_picks_the_most_similar_above_threshold() -> None:
    sig = dedupe.signature(BASE)
    near = dedupe.signature([*BASE[:3]])
    far = dedupe.signature(["完全不同的内容，关于秋收和粮食产量。"])
    assert dedupe.best_match(sig, [("far", far), ("near", near)]) == (
        "near",
        dedupe.similarity(sig, near),
    )
    assert dedupe.best_match(sig, [("far", far)]) is None
