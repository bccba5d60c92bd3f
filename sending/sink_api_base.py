"""The base of the sink inspection API views: JSON only, in English.

The sink API is read by test code and developers, so every response is
JSON whatever the Accept header requests. DRF would otherwise serve its
browsable HTML page to `?format=api` or a browser, and a bare 404 in the
request's language (Italian by default) to `?format=xml`. A `format`
parameter other than `json` gets a 400 that names it, and DRF's own
messages (405, malformed JSON) are in English whatever the request's
language.

Request bodies are JSON only. A form-encoded or multipart POST is a
request that any web page may send to 127.0.0.1 without a CORS preflight,
so accepting one would let a page open in the developer's browser change
the sink's rules. Such a body gets 415.
"""

import logging

from django.http import JsonResponse
from django.utils import translation
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

logger = logging.getLogger(__name__)


class UnsupportedFormat(ValueError):
    """A `format` query parameter other than json. The message is the error of the 400 response."""


class JsonOnlyNegotiation(DefaultContentNegotiation):
    """Choose the JSON renderer for every request, whatever its Accept header and `format` parameter."""

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type


class SinkApiView(APIView):
    """An APIView of the sink API; subclasses define get, post, patch or delete as usual."""

    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    content_negotiation_class = JsonOnlyNegotiation

    def dispatch(self, request, *args, **kwargs):
        with translation.override("en"):
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        check_format(request.query_params)
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc):
        if isinstance(exc, UnsupportedFormat):
            logger.info("sink API request rejected path=%s: %s", self.request.path, exc)
            return Response({"error": str(exc)}, status=400)
        return super().handle_exception(exc)


def check_format(params):
    """Raise UnsupportedFormat unless the `format` parameter is absent, empty or json (in any letter case)."""
    name = api_settings.URL_FORMAT_OVERRIDE
    requested = params.get(name) or ""
    if requested and requested.lower() != "json":
        raise UnsupportedFormat(
            f"The {name} parameter must be json, not {requested[:40]!r}, because the sink API responds only in JSON. "
            f"Leave {name} out or set {name}=json."
        )


def not_found(request):
    """Return a JSON 404 for a path under /sink/api/ that names no resource, in place of Django's HTML page."""
    return JsonResponse({"detail": f"No sink API resource at {request.path}."}, status=404)
