"""Console login: guessing protection with django-axes, and the login entry point SSO uses.

django-oauth-toolkit also calls `authenticate()` for MailUp's password
grant, with no request (mailup_sim.oauth), so the guard and the
failed-login receiver below act only on Django HTTP requests: the panel's
login form and the LogOn page. The APIs count their failures on the same
records through lists.login_guard.
"""

import logging

from axes.backends import AxesStandaloneBackend
from axes.handlers.proxy import AxesProxyHandler
from axes.signals import handle_user_login_failed
from django.contrib.auth import login
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest

from lists.login_guard import stored_username

logger = logging.getLogger(__name__)

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


class ConsoleLoginGuard(AxesStandaloneBackend):
    """Reject, before any password check, a login that django-axes has locked out."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not isinstance(request, HttpRequest):
            return None
        _prepare_axes_request(request)
        username = stored_username(username) if isinstance(username, str) else username
        return super().authenticate(request, username=username, password=password, **kwargs)


def _count_failed_login(sender, credentials, request=None, **kwargs):
    if isinstance(request, HttpRequest):
        _prepare_axes_request(request)
        if isinstance(credentials.get("username"), str):
            credentials = {**credentials, "username": stored_username(credentials["username"])}
        handle_user_login_failed(sender=sender, credentials=credentials, request=request, **kwargs)


def _prepare_axes_request(request):
    """Set the request attributes that django-axes stores, with NUL replaced as it does in the form data.

    django-axes copies the User-Agent and Accept headers and the path into
    its records as they come, and PostgreSQL text cannot contain NUL.
    """
    AxesProxyHandler.update_request(request)
    for name in ("axes_user_agent", "axes_http_accept", "axes_path_info"):
        setattr(request, name, getattr(request, name).replace("\x00", "0x00"))


def route_failed_logins_to_axes():
    """Replace django-axes' failed-login receiver with one that skips requests that are not HTTP requests."""
    user_login_failed.disconnect(handle_user_login_failed)
    user_login_failed.connect(_count_failed_login, dispatch_uid="panel.count_failed_login")


def log_in_account_user(request, account_user):
    """Start a panel session for `account_user` without a password, as SSO auto-login does.

    The caller has already verified who the user is (an SSO code). Returns
    the panel URL to redirect to. Raises PermissionError for an inactive
    user or an account that is not active.
    """
    from django.urls import reverse

    if not account_user.user.is_active or account_user.account.status != account_user.account.Status.ACTIVE:
        raise PermissionError(f"User {account_user.user_id} of account {account_user.account.console_id} cannot log in.")

    _prepare_axes_request(request)
    login(request, account_user.user, backend=MODEL_BACKEND)
    logger.info("console login without password user=%s account=%s", account_user.user_id, account_user.account.console_id)
    return reverse("panel:dashboard")
