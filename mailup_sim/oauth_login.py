"""MailUp's authorization-code login page: `/Authorization/OAuth/LogOn` and `/Authorization/OAuth/Authorization`.

A client sends the browser here with `client_id`, `response_type=code`
and `redirect_uri` (the official samples add `client_secret`, which this
step ignores). A console user signs in and allows the client, and the
page redirects to `redirect_uri` with a single-use `code` that the token
endpoint exchanges for tokens. `state` is echoed when the request has one,
although MailUp itself drops it.
"""

import logging
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.contrib.auth import authenticate
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from oauth2_provider.models import get_application_model, get_grant_model
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import generate_token

from mailup_sim.params import CaseInsensitiveParams

logger = logging.getLogger(__name__)

# The query and form parameters the page carries from its GET to its POST.
FLOW_PARAMETERS = ("client_id", "response_type", "redirect_uri", "state", "lang")
REDIRECT_SCHEMES = ("http", "https")


class LoginPageError(Exception):
    """The request cannot start a login, such as an unknown client; shown as an error page with HTTP 400."""


@never_cache
def logon(request):
    """Show the login page (GET) or check the user and redirect with a code (POST)."""
    params = CaseInsensitiveParams(request.GET, request.POST)
    flow = {name: (params.get(name) or "").strip() for name in FLOW_PARAMETERS}
    with translation.override(_page_language(request, flow["lang"])):
        try:
            application, redirect_uri = _check_flow(flow)
        except LoginPageError as error:
            logger.info("oauth logon rejected client_id=%s reason=%s", flow["client_id"][:80], error)
            return render(request, "oauth/error.html", {"message": str(error)}, status=400)

        if request.method != "POST":
            return _login_page(request, application, flow)
        user = _authenticated_user(request, application)
        if user is None:
            return _login_page(request, application, flow, error=_("Wrong user name or password."), status=200)
        return _redirect_with_code(application, user, redirect_uri, flow["state"])


def _page_language(request, requested):
    if requested[:2].lower() in ("it", "en"):
        return requested[:2].lower()
    return translation.get_language_from_request(request) or "it"


def _check_flow(flow):
    """Return the client and the redirect URI of a login request, or raise LoginPageError."""
    if flow["response_type"] and flow["response_type"] != "code":
        raise LoginPageError(_("Only response_type=code is supported."))
    # PostgreSQL cannot compare a text column with a value containing NUL.
    if "\x00" in flow["client_id"]:
        application = None
    else:
        application = get_application_model().objects.filter(client_id=flow["client_id"]).first()
    if not flow["client_id"]:
        raise LoginPageError(_("The client_id parameter is missing. Your application must send its client id."))
    if application is None:
        raise LoginPageError(_("Unknown client_id. Check the client id that your application sends."))
    return application, _check_redirect_uri(application, flow["redirect_uri"])


def _check_redirect_uri(application, redirect_uri):
    """Accept a registered URI, or any http(s) URI when the client has registered none."""
    registered = application.redirect_uris.split()
    if not redirect_uri:
        if registered:
            return registered[0]
        raise LoginPageError(_("The redirect_uri parameter is missing."))

    parts = urlsplit(redirect_uri)
    if parts.scheme.lower() not in REDIRECT_SCHEMES or not parts.netloc or parts.fragment:
        raise LoginPageError(_("The redirect_uri must be an absolute http or https address without a fragment."))
    if registered and not application.redirect_uri_allowed(redirect_uri):
        raise LoginPageError(_("The redirect_uri is not registered for this client."))
    return redirect_uri


def _login_page(request, application, flow, error="", status=200):
    context = {"application": application, "flow": flow, "error": error}
    return render(request, "oauth/logon.html", context, status=status)


def _authenticated_user(request, application):
    """Return the console user of the form's user name and password, or None.

    A client owned by a console user signs in only users of that console,
    as the token endpoint's password grant does.
    """
    username = request.POST.get("username", "")
    password = request.POST.get("password", "")
    if "\x00" in username + password:
        # No user name can contain NUL, and PostgreSQL rejects it in a query.
        logger.info("oauth logon failed client=%s: NUL in the user name or password", application.client_id)
        return None
    user = authenticate(request, username=username, password=password)
    membership = getattr(user, "membership", None) if user is not None else None
    if membership is None:
        logger.info("oauth logon failed client=%s", application.client_id)
        return None

    owner = getattr(application.user, "membership", None) if application.user_id else None
    if owner is not None and owner.account_id != membership.account_id:
        logger.info("oauth logon user=%s rejected: client=%s belongs to another console", user.pk, application.client_id)
        return None
    return user


def _redirect_with_code(application, user, redirect_uri, state):
    """Store a single-use code bound to the client and redirect the browser to the client with it."""
    lifetime = timedelta(seconds=oauth2_settings.AUTHORIZATION_CODE_EXPIRE_SECONDS)
    grant = get_grant_model().objects.create(
        user=user,
        application=application,
        code=generate_token(),
        expires=timezone.now() + lifetime,
        redirect_uri=redirect_uri,
        scope=" ".join(oauth2_settings.DEFAULT_SCOPES),
    )
    logger.info("oauth code issued client=%s user=%s grant=%s", application.client_id, user.pk, grant.pk)

    query = {"code": grant.code}
    if state:
        query["state"] = state
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return HttpResponseRedirect(f"{redirect_uri}{separator}{urlencode(query)}")
