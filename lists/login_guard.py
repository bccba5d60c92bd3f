"""Password-guessing protection for the API logins, on the counters of the panel login.

django-axes guards the panel's login form: after AXES_FAILURE_LIMIT failed
logins of one user from one address, that user is locked out from that
address for AXES_COOLOFF_TIME. The APIs that check passwords count their
failures on the same records: the OAuth password grant, SOAP Login and
LoginFromId, the ListSecret calls, WSMailUpImport, WSActivation.aspx,
SMTP+ users (SMTP AUTH and the transactional API) and FTP logins.
Guessing through an API then locks the panel too, and the other way round.

django-axes stores the query string and form of each request it counts.
The API requests carry client secrets and passwords under names that its
masking does not know (`client_secret`, `Password`, `pwd`), so it is given
a request that holds only the caller's address and the API's name.
"""

import ipaddress
import logging

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger(__name__)

# Longer names are cut to this, as Django's own user names are, so that any
# name fits django-axes' 255-character column.
USERNAME_MAX_LENGTH = 150


def is_locked_out(username, ip):
    """Tell whether `username` has reached the failure limit from address `ip`."""
    address = _address(ip)
    if not address:
        return False
    return AxesProxyHandler.is_locked(_attempt_request(address, "login"), {"username": stored_username(username)})


def record_failure(username, ip, api):
    """Count a failed login of `username` from `ip` through `api` (a short name such as `oauth` or `soap`)."""
    address = _address(ip)
    logger.info("API login failed user=%s ip=%s api=%s", username[:40], address or repr(ip)[:60], api)
    if not address:
        return
    AxesProxyHandler.user_login_failed(
        sender=__name__, credentials={"username": stored_username(username)}, request=_attempt_request(address, api)
    )


def record_success(username, ip):
    """Forget the failures of `username` from `ip`, as a successful panel login does."""
    address = _address(ip)
    if not address or not settings.AXES_RESET_ON_SUCCESS:
        return
    # The read first, because a DELETE takes SQLite's write lock even when
    # it matches nothing, and most logins have no failure to forget.
    name = stored_username(username)
    if AccessAttempt.objects.filter(username=name, ip_address=address).exists():
        AxesProxyHandler.reset_attempts(ip_address=address, username=name)


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


def _address(ip):
    """Return `ip` without an IPv6 zone (`fe80::1%eth0`), which PostgreSQL's inet rejects, or "" when it is no address.

    Sockets always give an address, so "" means a caller passed something
    else, and such a login is neither counted nor locked out.
    """
    address = (ip or "").split("%", 1)[0]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return ""


def stored_username(username):
    """Return `username` as django-axes stores it: NUL replaced and cut to USERNAME_MAX_LENGTH."""
    # PostgreSQL text cannot hold NUL, which an FTP USER command may carry.
    return username.replace("\x00", "\ufffd")[:USERNAME_MAX_LENGTH]
