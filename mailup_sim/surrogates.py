"""Find lone UTF-16 surrogates in decoded JSON request bodies.

json.loads() turns an escape such as \\ud800 without its pair into a lone
surrogate, which neither UTF-8 nor the database can store, so a body that
carries one is rejected before any of it is used. The REST API and the
transactional APIs each report it in their own error shape.
"""

import re

# A JSON escape of a UTF-16 surrogate, \uD800 to \uDFFF, in any letter case.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def may_have_lone_surrogate(raw):
    """Tell whether raw JSON bytes contain a surrogate escape; without one, no decoded string has a lone surrogate."""
    return SURROGATE_ESCAPE.search(raw) is not None


def lone_surrogate_path(document):
    """Return where a decoded JSON value has a lone surrogate (`Fields[0].Value`, "" for the value itself), or None."""
    return _location(document, "")


def _location(value, path):
    if isinstance(value, str):
        return path if LONE_SURROGATE.search(value) else None
    if isinstance(value, dict):
        for name, member in value.items():
            member_path = f"{path}.{name}" if path else name
            if LONE_SURROGATE.search(name):
                return LONE_SURROGATE.sub("?", member_path)
            found = _location(member, member_path)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _location(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None
