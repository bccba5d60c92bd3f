"""Open pixel and click redirect endpoints of campaign messages.

Both check the URL's signature before touching the database. HEAD
requests, which link checkers send, are answered without recording
anything.
"""

import logging

from django.http import HttpResponse, HttpResponseNotFound, HttpResponseRedirect
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from sending import services, tracking

logger = logging.getLogger(__name__)

NO_STORE = "no-store, no-cache, must-revalidate, max-age=0"


@require_http_methods(["GET", "HEAD"])
def open_pixel(request, delivery_id, signature):
    """Serve the 1x1 GIF and record an open, or answer 404 for a forged or unknown URL."""
    if not tracking.check_signature(delivery_id, signature):
        return _invalid_link()
    if request.method == "GET" and services.record_open(delivery_id, *_client(request)) is None:
        return _invalid_link()

    response = HttpResponse(tracking.PIXEL_GIF, content_type="image/gif")
    response["Cache-Control"] = NO_STORE
    return response


@require_http_methods(["GET", "HEAD"])
def click(request, delivery_id, number, signature):
    """Record a click and redirect to the link of the message, or answer 404 for a forged or unknown URL."""
    if not tracking.check_signature(delivery_id, signature):
        return _invalid_link()
    if request.method == "HEAD":
        return HttpResponse(status=200)
    url = services.record_click(delivery_id, number, *_client(request))
    if url is None:
        return _invalid_link()

    response = HttpResponseRedirect(url)
    response["Cache-Control"] = NO_STORE
    return response


def _client(request):
    """Return the caller's address and user agent; the address is the socket peer, never a forwarded header."""
    return request.META.get("REMOTE_ADDR") or None, request.META.get("HTTP_USER_AGENT", "")


def _invalid_link():
    return HttpResponseNotFound(gettext("This link is broken or incomplete."), content_type="text/plain; charset=utf-8")
