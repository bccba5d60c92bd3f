"""Password-guessing protection for the API logins, on the counters of the panel login.

django-axes guards the panel's login form: after AXES_FAILURE_LIMIT failed
logins of one user from one address, that user is locked out from that
address for AXES_COOLOFF_TIME. The APIs that check passwords count their
failures on the same records: the OAuth password grant, SOAP Login and
LoginFromId, the ListSecret calls, WSMailUpImport and WSActivation.aspx.
Guessing through an API then locks the panel too, and the other way round.

django-axes stores the query string and form of each request it counts.
The API requests carry client secrets and passwords under names that its
masking does not know (`client_secret`, `Password`, `pwd`), so it is given
a request that holds only the caller's address and the API's name.
"""

import logging

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger(__name__)


def is_locked_out(username, ip):
    """Tell whether `username` has reached the failure limit from address `ip`."""
    return AxesProxyHandler.is_locked(_attempt_request(ip, "login"), {"username": username})


def record_failure(username, ip, api):
    """Count a failed login of `username` from `ip` through `api` (a short name such as `oauth` or `soap`)."""
    logger.info("API login failed user=%s ip=%s api=%s", username[:40], ip, api)
    AxesProxyHandler.user_login_failed(
        sender=__name__, credentials={"username": username}, request=_attempt_request(ip, api)
    )


def record_success(username, ip):
    """Forget the failures of `username` from `ip`, as a successful panel login does."""
    if settings.AXES_RESET_ON_SUCCESS:
        AxesProxyHandler.reset_attempts(ip_address=ip, username=username)


def lockout_message(username):
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many failed logins for user {username[:40]} from this address. "
        f"Try again {minutes} minutes after the last failure."
    )


def _attempt_request(ip, api):
    # Only the address, and the API's name as the path that django-axes
    # records, so no parameter of the real request is stored.
    request = HttpRequest()
    request.path = request.path_info = f"/api-login/{api}"
    request.META = {"REMOTE_ADDR": ip, "PATH_INFO": request.path}
    return request
