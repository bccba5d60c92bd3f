"""Request parameters the way ASP.NET's `Request[name]` reads them.

MailUp's pages run on ASP.NET, and clients rely on its habits. Names match
without regard to case, and the query string wins over the body. A repeated
name yields its values joined by commas, and the body is read on GET too.
"""

from io import BytesIO

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.http.request import UnreadablePostError


class MalformedRequest(Exception):
    """The request's parameters could not be read (too large, too many, or a broken body)."""


class CaseInsensitiveParams:
    def __init__(self, query, body):
        self._values = {}
        for source in (query, body):
            names_here = {}
            for name in source:
                names_here.setdefault(name.lower(), []).extend(source.getlist(name))
            for name, values in names_here.items():
                # Body values count only for names the query string lacks.
                self._values.setdefault(name, values)

    def get(self, name, default=None):
        values = self._values.get(name.lower())
        if values is None:
            return default
        return ",".join(values)

    def getlist(self, name):
        return list(self._values.get(name.lower(), []))

    def __contains__(self, name):
        return name.lower() in self._values


def read_params(request):
    """Merge the query string and a form body into CaseInsensitiveParams.

    Raises MalformedRequest for bodies Django refuses to parse, so each page
    can return its own error code instead of an HTTP error.
    """
    try:
        return CaseInsensitiveParams(request.GET, _read_body(request))
    except (
        RequestDataTooBig,
        TooManyFieldsSent,
        MultiPartParserError,
        UnreadablePostError,
        SuspiciousOperation,
        BadRequest,
        UnicodeDecodeError,
        ValueError,
    ) as error:
        raise MalformedRequest(str(error)) from error


def _read_body(request):
    if request.method == "POST":
        return request.POST

    content_type = request.content_type or ""
    if content_type == "application/x-www-form-urlencoded":
        return QueryDict(request.body, encoding=request.encoding)
    if content_type == "multipart/form-data":
        parser = MultiPartParser(request.META, BytesIO(request.body), request.upload_handlers, request.encoding)
        form, _files = parser.parse()
        return form
    return QueryDict()


def parse_bool(raw, default):
    """Read MailUp's booleans: 1, 0, true or false in any case; empty means `default`.

    Returns None for anything else, so the caller can report the field.
    """
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in ("1", "true"):
        return True
    if word in ("0", "false"):
        return False
    return None


def client_ip(request):
    return request.META.get("REMOTE_ADDR", "")
