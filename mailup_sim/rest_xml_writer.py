"""Write a decoded JSON object or array as the XML text of a REST response.

rest_xml.py describes the shape. This module writes it as strings, because
an lxml tree cost a Python call, a name check and a text cleaning per
element. A page of 3,000 recipients with 39 fields each has about 490,000
elements and took over a second to serialize, against 0.05 s for its JSON
(docs/benchmarks.md, bench/rest_xml.py).

The text is byte for byte what lxml 6.2 (libxml2 2.14) wrote for the same
tree, which tests/mailup_sim/test_rest_xml_output.py checks against
recorded responses. libxml2 writes element text with `&`, `<`, `>` and carriage
return as `&amp;`, `&lt;`, `&gt;` and `&#13;`, and attribute values with
`"`, newline and tab as `&quot;`, `&#10;` and `&#9;` besides. Every other
character is written as UTF-8.
"""

import re

from mailup_sim.soap import XML_FORBIDDEN_CHARACTERS, clean_text

INSTANCE_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
DECLARATION = "<?xml version='1.0' encoding='utf-8'?>\n"
# Member names that are written as element names, without a namespace
# prefix. Match them with fullmatch(), because `$` would also accept a name
# ending in a newline.
XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")
# A text without any of these characters is written as it is.
TEXT_SPECIAL = re.compile(f"[&<>\r]|{XML_FORBIDDEN_CHARACTERS.pattern}")
TEXT_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
ATTRIBUTE_ENTITIES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)
# Member names are a few dozen .NET identifiers. The limit only bounds the
# cache in case a response ever carries names made from user data.
MAX_CACHED_NAMES = 4096


class Tags:
    """The four ways an element of one name is written: start and end tags around text, empty, and null."""

    __slots__ = ("start", "end", "empty", "nil")

    def __init__(self, start_without_bracket, name):
        self.start = f"{start_without_bracket}>"
        self.end = f"</{name}>"
        self.empty = f"{start_without_bracket}/>"
        self.nil = f'{start_without_bracket} i:nil="true"/>'


ITEM = Tags("<Item", "Item")
_member_tags = {}


def escape_text(value):
    """Return `value` as element text: characters that XML 1.0 cannot carry dropped, markup characters as entities."""
    if TEXT_SPECIAL.search(value) is None:
        return value
    return XML_FORBIDDEN_CHARACTERS.sub("", value).translate(TEXT_ENTITIES)


def write_document(value, root_name):
    """Return the XML document (text, with its declaration) of a JSON object or array under `root_name`."""
    parts = [DECLARATION]
    root = Tags(f'<{root_name} xmlns:i="{INSTANCE_NAMESPACE}"', root_name)
    write_element(parts.append, root, value)
    return "".join(parts)


def member_tags(name):
    """Return the Tags of an object member: an element named after it, or `<Entry Name="…">` for a name XML cannot use."""
    if type(name) is not str:
        return _tags_for_name(str(name))
    tags = _member_tags.get(name)
    if tags is None:
        tags = _tags_for_name(name)
        if len(_member_tags) < MAX_CACHED_NAMES:
            _member_tags[name] = tags
    return tags


def _tags_for_name(name):
    # Member names of MailUp's shapes are .NET identifiers, so only keys
    # made from user data (none in today's responses) can fail this test.
    if XML_NAME.fullmatch(name) and not name.lower().startswith("xml"):
        return Tags(f"<{name}", name)
    return Tags(f'<Entry Name="{clean_text(name).translate(ATTRIBUTE_ENTITIES)}"', "Entry")


def write_element(append, tags, value):
    """Write the element of a decoded JSON value with `tags`, through `append` (the output list's append)."""
    if value is None:
        append(tags.nil)
    elif isinstance(value, dict):
        _write_container(append, tags, value, _write_members)
    elif isinstance(value, list):
        _write_container(append, tags, value, _write_items)
    elif isinstance(value, bool):
        append(tags.start + ("true" if value else "false") + tags.end)
    else:
        append(tags.start + escape_text(str(value)) + tags.end)


def _write_container(append, tags, value, write_children):
    if not value:
        append(tags.empty)
        return

    append(tags.start)
    write_children(append, value)
    append(tags.end)


# The two loops below write strings, integers, nulls and objects in an
# array inline and leave the other values to write_element. A page of
# recipients is mostly those values, and in a profile a Python call per
# element took a large share of the time.


def _write_members(append, members):
    cached_tags = _member_tags
    for name, member in members.items():
        tags = cached_tags.get(name) or member_tags(name)
        kind = type(member)
        if kind is str:
            append(tags.start + escape_text(member) + tags.end)
        elif kind is int:
            append(tags.start + str(member) + tags.end)
        elif member is None:
            append(tags.nil)
        else:
            write_element(append, tags, member)


def _write_items(append, items):
    for item in items:
        kind = type(item)
        if kind is dict and item:
            append("<Item>")
            _write_members(append, item)
            append("</Item>")
        elif kind is str:
            append("<Item>" + escape_text(item) + "</Item>")
        else:
            write_element(append, ITEM, item)
