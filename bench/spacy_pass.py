"""What unstructured's spaCy pass costs and changes: ``python -m bench.spacy_pass``.

unstructured tags every paragraph with spaCy (words, sentences, parts of speech) to tell headings
from body text where no markup says which. This parses one dev-set source, the Debian FAQ
(``bench/retrieval/sets/debian-faq``: its English HTML pages, as the website/folder sources read
them), twice per page, with the pass (``Parser(spacy="always")``) and without it (``"never"``: cheap
regex tokenizers), interleaved so both see the same machine load, and compares the chunks (count,
identical chunks, section paths) and the parse time. It does the same for the same pages as plain
text (each page's title, headings and paragraphs as lines separated by blank lines), where the pass
decides which lines become headings. Saved to ``bench/results/spacy_pass.json`` with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS, machine


def _pages() -> list[Path]:
    from bench.retrieval.sets import discover, ensure_package

    dev = discover(["debian-faq"])[0]
    ensure_package(dev)
    return sorted(dev.root.glob("*.en.html"))


def _as_text(html: bytes) -> str:
    """A page as plain text: headings and paragraphs on their own lines, blank lines between."""
    from lxml import html as lxml_html

    root = lxml_html.fromstring(html)
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    blocks = []
    for el in root.iter("h1", "h2", "h3", "h4", "p", "li", "pre", "dt", "dd"):
        text = " ".join(el.text_content().split())
        if text:
            blocks.append(text)
    return "\n\n".join(blocks) + "\n"


def _compare(documents: list[Any], chunker: Any) -> dict[str, Any]:
    from ingest.parsing import Parser

    parsers = {"spacy": Parser(spacy="always"), "no_spacy": Parser(spacy="never")}
    spent = dict.fromkeys(parsers, 0.0)
    chunks: dict[str, list[Any]] = {name: [] for name in parsers}
    for parser in parsers.values():  # warm: imports, the spaCy model
        parser.parse(documents[0])
    for doc in documents:
        for name, parser in parsers.items():
            began = time.perf_counter()
            parsed = parser.parse(doc)
            spent[name] += time.perf_counter() - began
            chunks[name].extend(chunker.chunk(doc.id, parsed))
    a, b = chunks["spacy"], chunks["no_spacy"]
    same_text = {(c.document_id, c.embed_text) for c in a} & {(c.document_id, c.embed_text) for c in b}
    paths = {name: {(c.document_id, c.section) for c in cs} for name, cs in chunks.items()}
    return {
        "documents": len(documents),
        "chunks_spacy": len(a),
        "chunks_no_spacy": len(b),
        "identical_chunks": len(same_text),
        "identical_share_of_spacy": round(len(same_text) / max(1, len(a)), 4),
        "chunk_lists_equal": [(c.document_id, c.embed_text) for c in a] == [(c.document_id, c.embed_text) for c in b],
        "section_paths_spacy": len(paths["spacy"]),
        "section_paths_no_spacy": len(paths["no_spacy"]),
        "section_paths_in_both": len(paths["spacy"] & paths["no_spacy"]),
        "parse_s_spacy": round(spent["spacy"], 2),
        "parse_s_no_spacy": round(spent["no_spacy"], 2),
        "spacy_share_of_parse": round(1 - spent["no_spacy"] / spent["spacy"], 3) if spent["spacy"] else None,
        "loadavg": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spacy_pass", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=0, help="the first N pages only (default: all)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    from app.runtime import Runtime
    from core.models import Document
    from core.settings import Settings

    pages = _pages()[: args.pages or None]
    with tempfile.TemporaryDirectory() as tmp:
        chunker = Runtime(Settings(home=Path(tmp))).chunker
        html = [Document(workspace="default", source_id="faq", native_id=p.name, media_type="text/html",
                         content=p.read_bytes()) for p in pages]
        text = [Document(workspace="default", source_id="faq", native_id=p.name.replace(".html", ".txt"),
                         media_type="text/plain", content=_as_text(p.read_bytes()).encode()) for p in pages]
        result = {"source": "debian-faq (/usr/share/doc/debian/FAQ/*.en.html)",
                  "html": _compare(html, chunker), "plain_text": _compare(text, chunker)}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "spacy_pass.json"
    path.write_text(json.dumps(result | {"machine": machine()}, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
