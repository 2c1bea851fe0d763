"""Notion block trees to Markdown.

``render_blocks`` takes a page's blocks with their children already fetched (each block dict
may carry ``"children": [...]``) and returns Markdown: headings, paragraphs, bulleted and
numbered lists (nested by indentation), to-dos as task items, toggles (summary in bold, then
their content), quotes, callouts, code fences with the language, tables, dividers, equations,
bookmarks, and child pages/databases as a line naming them. Media blocks keep only a caption.
"""

from __future__ import annotations

from typing import Any

_HEADINGS = {"heading_1": "#", "heading_2": "##", "heading_3": "###"}
_CONTAINERS = {"column_list", "column", "synced_block", "template"}


def rich_text(items: list[dict[str, Any]] | None) -> str:
    """Plain text of a rich-text array, with code spans and links kept in Markdown."""
    out = []
    for item in items or []:
        text = str(item.get("plain_text") or (item.get("text") or {}).get("content") or "")
        ann = item.get("annotations") or {}
        href = item.get("href")
        if ann.get("code") and text:
            text = f"`{text}`"
        if href and text:
            text = f"[{text}]({href})"
        out.append(text)
    return "".join(out)


def page_title(page: dict[str, Any]) -> str:
    """The title property of a page (or a database's title)."""
    if isinstance(page.get("title"), list):
        return rich_text(page["title"]).strip()
    for prop in (page.get("properties") or {}).values():
        if isinstance(prop, dict) and prop.get("type") == "title":
            return rich_text(prop.get("title")).strip()
    return ""


def render_blocks(blocks: list[dict[str, Any]], depth: int = 0) -> str:
    lines: list[str] = []
    number = 0
    for block in blocks:
        kind = str(block.get("type") or "")
        number = number + 1 if kind == "numbered_list_item" else 0
        lines.append(_block(block, kind, depth, number))
    return "\n".join(x for x in lines if x is not None)


def _block(block: dict[str, Any], kind: str, depth: int, number: int) -> str:
    data = block.get(kind) or {}
    text = rich_text(data.get("rich_text"))
    children = block.get("children") or []
    pad = "  " * depth
    nested = render_blocks(children, depth + 1) if children else ""
    if kind in _HEADINGS:
        body = f"{_HEADINGS[kind]} {text}\n"
        return body + ("\n" + render_blocks(children, depth) + "\n" if children else "")  # toggleable heading
    if kind == "paragraph":
        return f"{pad}{text}\n" + (f"{nested}\n" if nested else "")
    if kind in ("bulleted_list_item", "numbered_list_item", "to_do"):
        marker = {"bulleted_list_item": "-", "numbered_list_item": f"{number}."}.get(kind)
        if kind == "to_do":
            marker = "- [x]" if data.get("checked") else "- [ ]"
        return f"{pad}{marker} {text}" + (f"\n{nested}" if nested else "")
    if kind == "toggle":
        return f"{pad}**{text}**\n\n" + (f"{render_blocks(children, depth)}\n" if children else "")
    if kind in ("quote", "callout"):
        icon = (data.get("icon") or {}).get("emoji", "") if kind == "callout" else ""
        inner = " ".join(x for x in (icon, text) if x)
        quoted = [f"{pad}> {inner}"] + [f"{pad}> {line}" if line else f"{pad}>"
                                         for line in render_blocks(children, 0).splitlines()]
        return "\n".join(quoted) + "\n"
    if kind == "code":
        code = rich_text(data.get("rich_text"))
        lang = str(data.get("language") or "")
        return f"```{'' if lang == 'plain text' else lang}\n{code}\n```\n"
    if kind == "table":
        return _table(children, bool(data.get("has_column_header", True)))
    if kind == "divider":
        return "---\n"
    if kind == "equation":
        return f"$$ {data.get('expression', '')} $$\n"
    if kind in ("bookmark", "link_preview", "embed"):
        caption = rich_text(data.get("caption"))
        return f"{pad}{caption or data.get('url', '')}\n"
    if kind == "child_page":
        return f"{pad}Child page: {data.get('title', '')}\n"
    if kind == "child_database":
        return f"{pad}Database: {data.get('title', '')}\n"
    if kind in ("image", "video", "file", "pdf", "audio"):
        caption = rich_text(data.get("caption"))
        return f"{pad}{caption}\n" if caption else ""
    if kind in _CONTAINERS:
        return render_blocks(children, depth) + "\n"
    return f"{pad}{text}\n" if text else (nested + "\n" if nested else "")  # unknown kinds: keep any text


def _table(rows: list[dict[str, Any]], header: bool) -> str:
    cells = [[rich_text(c).replace("|", "\\|").replace("\n", " ") for c in (r.get("table_row") or {}).get("cells", [])]
             for r in rows if r.get("type") == "table_row"]
    if not cells:
        return ""
    width = max(len(r) for r in cells)
    cells = [r + [""] * (width - len(r)) for r in cells]
    head = cells[0] if header else [""] * width
    body = cells[1:] if header else cells
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * width]
    out += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(out) + "\n"
