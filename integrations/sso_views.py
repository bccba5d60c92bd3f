"""The two ends of single sign-on: the REST call that issues a login link, and the page that redeems it."""

import logging

from django.http import QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from integrations import sso
from mailup_sim.params import CaseInsensitiveParams
from mailup_sim.rest import RestError, json_response
from panel.auth import log_in_account_user

logger = logging.getLogger(__name__)

# The control panel, where the page for a rejected code links to.
PANEL_HOME = "/console/"


def issue_login_link(request):
    """Handle `POST /Console/Sso`: return MailUp's `Link` and `ExpiresIn`, or 403 when the client has no SSO."""
    raw_token = request.headers["Authorization"].strip().partition(" ")[2].strip()
    # The endpoint wrapper has checked the token, so it is found here.
    access_token = sso.find_access_token(raw_token)
    try:
        href, expires_in = sso.issue_code(request.account, access_token.user, access_token.application)
    except sso.SsoNotEnabled:
        raise RestError(403, sso.SSO_FORBIDDEN_DESCRIPTION) from None
    return json_response({"Link": {"href": href, "rel": "self"}, "ExpiresIn": expires_in})


def rejection_messages():
    return {
        "unknown": _("This sign-in link is not valid. Ask your CRM for a new one, or sign in with your password."),
        "used": _("This sign-in link has already been used. Ask your CRM for a new one, or sign in with your password."),
        "expired": _("This sign-in link has expired. Ask your CRM for a new one, or sign in with your password."),
        "inactive": _("This user or its account is not active, so it cannot sign in to the control panel."),
    }


@never_cache
def redeem_login_link(request):
    """Handle `GET /Console/Login.aspx?Code=…`: log the code's user in and redirect to the panel, or show why the code was rejected."""
    # MailUp matches parameter names without regard to case, so CODE= works as well.
    code = CaseInsensitiveParams(request.GET, QueryDict()).get("Code") or ""
    try:
        user = sso.redeem_code(code, request.META.get("REMOTE_ADDR"))
    except sso.CodeRejected as rejection:
        logger.info("sso code rejected reason=%s ip=%s", rejection.reason, request.META.get("REMOTE_ADDR"))
        context = {"message": rejection_messages()[rejection.reason], "login_url": PANEL_HOME}
        return render(request, "integrations/sso_rejected.html", context, status=403)

    try:
        target = log_in_account_user(request, user.membership)
    except PermissionError as refusal:
        logger.info("sso login refused user=%s reason=%s", user.pk, refusal)
        context = {"message": rejection_messages()["inactive"], "login_url": PANEL_HOME}
        return render(request, "integrations/sso_rejected.html", context, status=403)
    return redirect(target)
