"""Request plumbing shared by every MailUp API family."""

import re

from django.http import HttpResponse
from django.utils.http import parse_header_parameters

# MailUp matches paths without regard to letter case; Django does not, so
# paths under these prefixes are routed by their lower-cased spelling.
CASE_INSENSITIVE_PREFIXES = (
    "/frontend/",
    "/api/v1.1/rest/",
    "/authorization/oauth/",
    "/api/v2.0/messages/",
    "/api/v2.0/sms/",
    "/api/v2.0/lists/",
)
# SOAP services (`/MailupSend.asmx`, `/Services/WSMailUpImport.asmx`, ...) are
# routed by their lower-cased path as well.
CASE_INSENSITIVE_SUFFIX = ".asmx"
HEADER_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

CORS_PATH = re.compile(r"^/(frontend/|api/v1\.1/rest/|authorization/oauth/token$)", re.IGNORECASE)
CORS_ALLOWED_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_BASE_HEADERS = ["Authorization", "Content-Type", "Accept"]
CORS_MAX_AGE_SECONDS = "86400"


def canonical_path(path):
    """Return `path` with its leading slashes collapsed, in lower case under a case-insensitive prefix.

    `//frontend/optout.aspx` (as MailUp itself writes in List-Unsubscribe
    headers) and `/FrontEnd/XmlSubscribe.aspx` both become
    `/frontend/xmlsubscribe.aspx`, and `/api/v1.1/rest/ConsoleService.svc/Console/list/1`
    becomes `/api/v1.1/rest/consoleservice.svc/console/list/1`, and
    `/services/WSMailupImport.asmx` becomes `/services/wsmailupimport.asmx`.
    Other paths keep their spelling.
    """
    path = "/" + path.lstrip("/")
    lowered = path.lower()
    if lowered.startswith(CASE_INSENSITIVE_PREFIXES) or lowered.endswith(CASE_INSENSITIVE_SUFFIX):
        return lowered
    return path


def is_text_encoding(name):
    """Tell whether `name` decodes bytes to text; rot13, base64 and hex are codecs but not text encodings."""
    try:
        # Empty input never reaches the codec, so one byte is decoded; errors
        # are ignored because only the codec's kind matters here.
        b"a".decode(name, "ignore")
    except (LookupError, TypeError):
        return False
    return True


def drop_undecodable_charset(wsgi_app):
    """Wrap a WSGI application so a Content-Type charset that cannot decode text is ignored.

    Django trusts any charset that the codecs module finds and decodes the query string
    with it while it builds the request, before any middleware runs. With
    rot13 or base64 that raises LookupError and the caller gets HTTP 500, so
    such a charset is removed and the request is read as UTF-8, as for an
    unknown charset name.
    """

    def application(environ, start_response):
        content_type = environ.get("CONTENT_TYPE", "")
        if "charset" in content_type.lower():
            media_type, params = parse_header_parameters(content_type)
            charset = params.get("charset")
            if charset and not is_text_encoding(charset):
                environ["CONTENT_TYPE"] = media_type
        return wsgi_app(environ, start_response)

    return application


class CanonicalPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        fixed = canonical_path(request.path_info)
        if fixed != request.path_info:
            request.path_info = fixed
            request.path = request.META.get("SCRIPT_NAME", "").rstrip("/") + fixed
        return self.get_response(request)


class CorsMiddleware:
    """Reply to CORS preflights and open the public API paths to browser clients.

    Browser clients such as vue-mailup call the frontend pages directly, so
    every response there, errors included, carries Access-Control-Allow-Origin.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not CORS_PATH.match(request.path_info):
            return self.get_response(request)

        if request.method == "OPTIONS":
            response = self._preflight(request)
        else:
            response = self.get_response(request)
        response["Access-Control-Allow-Origin"] = "*"
        return response

    def _preflight(self, request):
        requested = request.headers.get("Access-Control-Request-Headers", "")
        names = list(CORS_BASE_HEADERS)
        for name in requested.split(","):
            name = name.strip()
            if HEADER_TOKEN.match(name) and name.lower() not in {known.lower() for known in names}:
                names.append(name)

        response = HttpResponse(b"", status=200)
        response["Access-Control-Allow-Methods"] = CORS_ALLOWED_METHODS
        response["Access-Control-Allow-Headers"] = ", ".join(names)
        response["Access-Control-Max-Age"] = CORS_MAX_AGE_SECONDS
        return response
