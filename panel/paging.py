"""Keyset paging: a page never counts or loads the whole query, so it costs the same on page 1 and page 1,000."""

from dataclasses import dataclass

PAGE_SIZE = 50


@dataclass
class Page:
    items: list
    next_after: int | None
    previous_before: int | None
    # Text prepended to `after` and `before`, so several tables on one page keep separate positions.
    prefix: str = ""


def keyset_page(queryset, params, newest_first=False, size=None, prefix=""):
    """Return one page of `queryset`, ordered by primary key, from the `after` or `before` id in `params`.

    `after` pages forward and `before` pages back; a missing or malformed
    value starts at the first page. `newest_first` orders by descending id.
    With a `prefix`, the parameters are `<prefix>after` and `<prefix>before`.
    """
    size = size or PAGE_SIZE
    after = read_id(params.get(f"{prefix}after"))
    before = read_id(params.get(f"{prefix}before"))
    forward_order, backward_order = ("-pk", "pk") if newest_first else ("pk", "-pk")
    forward_after, forward_before = ("pk__lt", "pk__gt") if newest_first else ("pk__gt", "pk__lt")

    if before is not None:
        rows = list(queryset.filter(**{forward_before: before}).order_by(backward_order)[: size + 1])
        has_more_back = len(rows) > size
        items = list(reversed(rows[:size]))
        return Page(items, items[-1].pk if items else None, items[0].pk if items and has_more_back else None, prefix)

    if after is not None:
        queryset = queryset.filter(**{forward_after: after})
    rows = list(queryset.order_by(forward_order)[: size + 1])
    items = rows[:size]
    next_after = items[-1].pk if len(rows) > size else None
    previous_before = items[0].pk if items and after is not None else None
    return Page(items, next_after, previous_before, prefix)


def can_match(search):
    """Tell whether a search text can match a stored value.

    PostgreSQL text values cannot contain NUL, and psycopg raises DataError
    for a query parameter that has one, so such a search matches no row.
    """
    return "\x00" not in search


def read_id(raw):
    """Return the id a query parameter holds, or None when it is missing, not ASCII digits or too long for a key."""
    # isdigit() alone accepts characters such as "²" that int() refuses.
    if raw and raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return int(raw)
    return None
