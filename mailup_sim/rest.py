"""Plumbing of MailUp's REST API v1.1: errors, bodies, paging and bearer-protected endpoints.

Every success is HTTP 200, never 201 or 204, because the official
samples accept only 200 or 302. A void operation returns an empty body
and a created id a bare JSON number. Every 4xx or 5xx response is the
error envelope `{"ErrorCode","ErrorDescription","ErrorName","ErrorStack"}`.
Answers are JSON unless the client prefers XML (mailup_sim/rest_xml.py);
mailupy, which calls `.json()` on every response of 400 or more, sends
no Accept header and so always gets JSON.
"""

import json
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt

from lists.errors import ListsError
from mailup_sim.oauth import BearerError, authenticate_client, authenticate_console
from mailup_sim.params import CaseInsensitiveParams
from mailup_sim.rest_xml import InvalidXmlBody, adopt_xml_body, is_xml, negotiate, xml_page_response
from mailup_sim.surrogates import lone_surrogate_path, may_have_lone_surrogate

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# MailUp's ErrorName is the .NET name of the status, and null on 429.
ERROR_NAMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    429: None,
    500: "InternalServerError",
    503: "ServiceUnavailable",
}
LISTS_ERROR_STATUSES = {
    "invalid_parameter": 400,
    "invalid_contact": 400,
    "subscription_blocked": 400,
    "not_subscribed": 400,
    "list_not_found": 404,
    "recipient_not_found": 404,
    "message_not_found": 404,
    "sending_not_found": 404,
    "attachment_not_found": 404,
    "trial_not_found": 404,
}
DEFAULT_PAGE_SIZE = 20
# Bigger numbers could not name a row and would overflow the OFFSET of SQLite.
MAX_PAGE_NUMBER = 2_147_483_647
MAX_PAGE_SIZE = 2_147_483_647
# A rate-limit counter outlives its one-second window briefly, so a call at
# the end of the second still finds it.
RATE_WINDOW_CACHE_SECONDS = 2


class RestError(Exception):
    """A failed REST request, returned as the error envelope with HTTP `status`."""

    def __init__(self, status, description):
        super().__init__(description)
        self.status = status
        self.description = description


def error_response(status, description):
    body = {
        "ErrorCode": str(status),
        "ErrorDescription": description,
        "ErrorName": ERROR_NAMES.get(status),
        "ErrorStack": None,
    }
    response = HttpResponse(json.dumps(body), status=status, content_type=JSON_CONTENT_TYPE)
    if status == 429:
        response["Retry-After"] = "1"
    return response


def get_or_404(queryset, description):
    """Return the first row of `queryset`, or raise RestError(404) saying "No {description}."."""
    found = queryset.first()
    if found is None:
        raise RestError(404, f"No {description}.")
    return found


def json_response(value):
    """Return HTTP 200 with `value` as JSON, which is a bare number for created ids."""
    return HttpResponse(json.dumps(value), content_type=JSON_CONTENT_TYPE)


def empty_response():
    response = HttpResponse(b"", content_type=JSON_CONTENT_TYPE)
    response["Content-Length"] = "0"
    return response


def endpoint(**handlers):
    """Build a view that serves one REST path with a handler per HTTP method.

    Keyword names are lower-case methods (`get`, `post`, `put`, `delete`).
    Each handler receives (request, **path values) after the bearer check,
    with `request.account` set, and returns an HttpResponse. Another method
    gets 405, and RestError or a lists error becomes the error envelope.
    """
    return _rest_view(handlers, _authenticate_bearer)


def client_endpoint(**handlers):
    """Build a PublicService view: as `endpoint`, but authenticated by Basic client credentials.

    Handlers find the OAuth application in `request.oauth_client`. The
    request acts for no console, so `request.account` is not set.
    """
    return _rest_view(handlers, _authenticate_client)


def _authenticate_bearer(request):
    user_id, request.account = authenticate_console(request)
    return user_id


def _authenticate_client(request):
    request.oauth_client = authenticate_client(request)
    return f"client-{request.oauth_client.pk}"


def _rest_view(handlers, authenticate):
    """Build the view of `endpoint`, where `authenticate` sets the caller on the request and returns its rate-limit key."""

    @csrf_exempt
    def view(request, **path_values):
        response = _serve(request, path_values)
        try:
            return negotiate(request, response)
        except Exception:
            # Without this, Django's HTML error page would replace the envelope.
            logger.exception("REST %s %s failed to write the XML response", request.method, request.path)
            return error_response(500, "Internal server error; the server log has the details.")

    def _serve(request, path_values):
        handler = handlers.get(request.method.lower())
        if handler is None:
            return error_response(405, f"The method {request.method} is not allowed on {request.path}.")
        try:
            caller = authenticate(request)
            check_rate_limit(request, caller)
            if is_xml(request.content_type):
                adopt_xml_body(request, body_schema(handler, request.method.lower()))
            return handler(request, **path_values)
        except InvalidXmlBody as error:
            return error_response(400, str(error))
        except BearerError as error:
            return error_response(401, error.description)
        except RestError as error:
            return error_response(error.status, error.description)
        except ListsError as error:
            return error_response(LISTS_ERROR_STATUSES.get(error.code, 400), error.message)
        except Exception:
            logger.exception("REST %s %s failed", request.method, request.path)
            return error_response(500, "Internal server error; the server log has the details.")

    # Tests walk every route and method through this attribute.
    view.handlers = handlers
    return view


def body_schema(handler, method):
    # openapi imports this module, so it is imported when first needed.
    from mailup_sim.openapi import request_body_schema

    return request_body_schema(handler, method)


def check_rate_limit(request, user_id):
    """Raise RestError(429) when the user exceeds REST_RATE_LIMIT_PER_SECOND calls on this route this second.

    `user_id` is the console user's id, or `client-<id>` for a PublicService
    application. The count is kept per user, route and wall-clock second in
    Django's cache. NOTE: with the default local-memory cache each server process
    counts alone, so N processes let through up to N times the limit.
    """
    limit = settings.REST_RATE_LIMIT_PER_SECOND
    if not limit:
        return

    route = request.resolver_match.route if request.resolver_match else request.path
    key = f"rest-rate:{user_id}:{route}:{int(time.time())}"
    cache.add(key, 0, timeout=RATE_WINDOW_CACHE_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:
        # The entry expired between add() and incr(); this call starts a new count.
        count = 1
    if count > limit:
        logger.info("REST rate limit user=%s route=%s count=%s limit=%s", user_id, route, count, limit)
        raise RestError(
            429,
            "Authorization error (too_many_requests): Too many requests. "
            f"Max:{limit} calls per second , actual:{count}.",
        )


@csrf_exempt
def not_found(request):
    """Return the 404 error envelope for an unknown REST path, in place of Django's HTML page."""
    return negotiate(request, error_response(404, f"No REST resource at {request.path}."))


def query_params(request):
    """Return the query string parameters with names matched without regard to case."""
    return CaseInsensitiveParams(request.GET, QueryDict())


def read_json(request, max_bytes=None):
    """Parse the request body as JSON, or return None when it is empty or the literal `null`.

    The body may have DATA_UPLOAD_MAX_MEMORY_SIZE bytes, or `max_bytes`
    when given (for file uploads). Raises RestError(400) for a larger body,
    for malformed JSON and for a string with a lone surrogate escape. An
    XML body was already turned into JSON by the endpoint
    (rest_xml.adopt_xml_body).
    """
    raw = _read_body(request, max_bytes).strip()
    if not raw or raw == b"null":
        return None
    try:
        document = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
        if may_have_lone_surrogate(raw):
            reject_lone_surrogates(document)
    except NonFiniteNumber as error:
        raise RestError(400, f"The request body has the number {str(error)[:40]}, which is not finite.") from None
    except (ValueError, UnicodeDecodeError):
        raise RestError(400, "The request body is not valid JSON.") from None
    except RecursionError:
        raise RestError(400, "The request body nests JSON arrays or objects too deeply.") from None
    return document


class NonFiniteNumber(ValueError):
    """A JSON number that is NaN, Infinity or too large for a float, which no column or JSON response can carry."""


def _reject_constant(name):
    # Python's json module accepts NaN, Infinity and -Infinity, which JSON does not have.
    raise NonFiniteNumber(name)


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(text)
    return value


def reject_lone_surrogates(document):
    """Raise RestError(400) naming the first string of a decoded JSON body that has a lone UTF-16 surrogate."""
    location = lone_surrogate_path(document)
    if location is None:
        return
    where = f"The value {location[:80]} in the request body" if location else "The request body"
    raise RestError(400, f"{where} has a UTF-16 surrogate escape without its pair; send the character as UTF-8.")


def _read_body(request, max_bytes):
    if max_bytes is None:
        try:
            return request.body
        except RequestDataTooBig:
            max_bytes = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            raise RestError(400, f"The request body is larger than {max_bytes} bytes.") from None

    # Read the stream directly, because request.body stops at DATA_UPLOAD_MAX_MEMORY_SIZE.
    raw = request.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise RestError(400, f"The request body is larger than {max_bytes} bytes.")
    return raw


def read_json_object(request, max_bytes=None):
    document = read_json(request, max_bytes)
    if not isinstance(document, dict):
        raise RestError(400, "The request body must be a JSON object.")
    return document


def parse_bool_param(params, name, default=False):
    """Read a boolean query parameter: true, True, 1, false, False or 0; empty means `default`."""
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in ("true", "1"):
        return True
    if word in ("false", "0"):
        return False
    raise RestError(400, f"The query parameter {name} must be true or false, not {raw[:40]!r}.")


@dataclass(frozen=True)
class Page:
    number: int
    size: int

    @property
    def skipped(self):
        return self.number * self.size


def read_page(params):
    """Read `pageNumber` (zero-based) and `pageSize` in any letter case.

    A page size below 1 or not a number means the default, so PageSize is
    never 0 (mailupy divides by it). A page number that is negative or not
    a number raises RestError(400).
    """
    raw_size = (params.get("pageSize") or "").strip()
    size = _capped_int(raw_size, MAX_PAGE_SIZE) if raw_size.isascii() and raw_size.isdigit() else DEFAULT_PAGE_SIZE
    if size < 1:
        size = DEFAULT_PAGE_SIZE

    raw_number = (params.get("pageNumber") or "0").strip() or "0"
    # "-0" is zero, as int() reads it.
    digits = raw_number[1:] if raw_number.startswith("-") and not raw_number[1:].strip("0") else raw_number
    if not (digits.isascii() and digits.isdigit()):
        raise RestError(400, f"pageNumber must be an integer from 0, not {raw_number[:40]!r}.")
    return Page(number=_capped_int(digits, MAX_PAGE_NUMBER), size=size)


def _capped_int(digits, maximum):
    """Return the value of an ASCII digit string, or `maximum` when it is larger.

    int() raises ValueError past 4300 digits, leading zeros included, so
    long strings are compared by length first.
    """
    number = digits.lstrip("0") or "0"
    if len(number) > len(str(maximum)):
        return maximum
    return min(int(number), maximum)


def paged_response(items, page, shape=None, encode=None, encode_xml=None):
    """Return one page of `items` (a queryset or list) in MailUp's paged envelope.

    Each item becomes `shape(item)`, or, with `encode`, the JSON text that
    `encode(item)` returns, which must equal json.dumps() of its shape.
    With `encode_xml` the page is written as XML, each item as the `<Item>`
    element text that `encode_xml(item)` returns, which must equal what
    rest_xml writes for its shape. A page past the end has `Items: []`
    and the true TotalElementsCount.
    """
    total = items.count() if hasattr(items, "count") and not isinstance(items, list) else len(items)
    window = items[page.skipped : page.skipped + page.size] if page.skipped < total else []
    envelope = {
        "IsPaginated": True,
        "Items": [] if encode or encode_xml else [shape(item) for item in window],
        "PageNumber": page.number,
        "PageSize": page.size,
        "Skipped": page.skipped,
        "TotalElementsCount": total,
    }
    if encode_xml is not None:
        return xml_page_response(envelope, [encode_xml(item) for item in window])
    if encode is None:
        return json_response(envelope)
    # json.dumps writes a list as "[" + ", ".join(items) + "]", and
    # `"Items": []` occurs once in the envelope, before any item text.
    items_text = "[" + ", ".join(encode(item) for item in window) + "]"
    body = json.dumps(envelope).replace('"Items": []', f'"Items": {items_text}', 1)
    return HttpResponse(body, content_type=JSON_CONTENT_TYPE)
