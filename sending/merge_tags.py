"""Merge tags: `[email]`, `[campoN]`, field names such as `[nome]`, and the link tags.

System mail and campaigns fill the same syntax, each with its own values.
"""

import html
import re

from lists.models import MAX_FIELD_ID

MERGE_TAG = re.compile(r"\[([A-Za-z0-9_\u00c0-\u017f]+)\]")
# MailUp's editor writes the unsubscribe tag as a link, http://[unsubscribe]/,
# and the whole link is replaced so no scheme is doubled.
UNSUBSCRIBE_LINK = re.compile(r"https?://\[unsubscribe\]/?", re.IGNORECASE)
TRACK_PREFIX = re.compile(r"https?://\[track\]/", re.IGNORECASE)


def field_values(recipient, field_names):
    """Map `campoN` and each field's lower-case name to the recipient's value.

    `field_names` maps field ids to the account's names for them.
    """
    values = {}
    for field_id in range(1, MAX_FIELD_ID + 1):
        value = recipient.fields.get(str(field_id), "")
        values[f"campo{field_id}"] = value
        name = field_names.get(field_id)
        if name:
            values.setdefault(name.lower(), value)
    return values


def merge(text, values, escape_values):
    """Replace merge tags by their values. Names match without regard to case, and unknown tags stay.

    Links still carrying a `[track]` prefix lose it and point straight at
    their target: campaigns with tracking on have already turned them into
    click redirects (sending.tracking). With `escape_values`, values are
    HTML-escaped.
    """
    return fill_tags(compile_tags(text), values, escape_values)


def compile_tags(text):
    """Split `text` once into literal text at even indexes and tag names at odd ones, for fill_tags."""
    text = TRACK_PREFIX.sub("", text)
    text = UNSUBSCRIBE_LINK.sub("[unsubscribe]", text)
    return MERGE_TAG.split(text)


def fill_tags(parts, values, escape_values):
    """Join the parts from compile_tags with each tag replaced by its value, as `merge` describes."""
    out = [parts[0]]
    # A tag that appears many times, such as the tracking token in every
    # link, is looked up and escaped once.
    filled = {}
    for index in range(1, len(parts), 2):
        name = parts[index]
        text = filled.get(name)
        if text is None:
            text = filled[name] = _tag_text(name, values, escape_values)
        out.append(text)
        out.append(parts[index + 1])
    return "".join(out)


def _tag_text(name, values, escape_values):
    value = values.get(name.lower())
    if value is None:
        return f"[{name}]"
    # html.escape is what Django's escape() runs, without its lazy wrapper,
    # which cost more than the escaping itself.
    return html.escape(str(value)) if escape_values else value
