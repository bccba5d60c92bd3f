"""Plain-text parts generated from HTML, for messages that have none of their own."""

import re

import lxml.html
from lxml import etree

from sending.merge_tags import MERGE_TAG

# Elements whose content is never shown as text.
SKIPPED_TAGS = {"head", "script", "style", "title", "template", "noscript"}
# Elements that start and end on their own line.
BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset", "figure",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p",
    "pre", "section", "table", "tr", "ul",
}  # fmt: skip
# Blocks followed by an empty line, as paragraphs are in plain-text mail.
PARAGRAPH_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote"}


def html_to_text(html):
    """Convert an HTML body to readable plain text: blocks become lines, links keep their URL."""
    if not html or not html.strip():
        return ""
    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return ""

    pieces = []
    _walk(root, pieces)
    return _tidy("".join(pieces))


def _walk(element, pieces):
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in SKIPPED_TAGS or not tag:
        # Comments and processing instructions have a callable tag; their
        # tail is still text of the parent.
        pieces.append(_collapse(element.tail))
        return

    if tag in BLOCK_TAGS:
        _break_line(pieces)
    if tag == "li":
        pieces.append("- ")
    if tag == "br":
        pieces.append("\n")
    if tag == "img" and element.get("alt"):
        pieces.append(element.get("alt"))

    pieces.append(_collapse(element.text))
    for child in element:
        _walk(child, pieces)

    href = element.get("href", "").strip() if tag == "a" else ""
    if _is_shown_link(href) and href not in element.text_content():
        pieces.append(f" ({href})")
    if tag in ("td", "th"):
        pieces.append("\t")
    if tag in BLOCK_TAGS:
        _break_line(pieces)
    if tag in PARAGRAPH_TAGS:
        pieces.append("\n")
    pieces.append(_collapse(element.tail))


def _is_shown_link(href):
    # A link that is a merge tag alone, such as [unsubscribe], becomes a URL
    # when each recipient's copy is filled, so the text keeps it too.
    return href.startswith(("http://", "https://", "mailto:")) or MERGE_TAG.fullmatch(href) is not None


def _break_line(pieces):
    """End the current line unless it is already empty."""
    for piece in reversed(pieces):
        written = piece.rstrip(" \t")
        if written:
            if not written.endswith("\n"):
                pieces.append("\n")
            return


def _collapse(text):
    return re.sub(r"\s+", " ", text) if text else ""


def _tidy(text):
    lines = [line.strip(" \t") for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
