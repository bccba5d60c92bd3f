"""Access rules of panel pages: a logged-in member of an active account, with a high enough role.

Every panel view is wrapped in `console_view`, which sets `request.account`
and `request.membership`. Views look every object up through
`request.account`, so a member never reaches another account's data: an id
of another account gets 404, the same as an id that does not exist.
"""

import functools
import logging

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.views.decorators.http import require_http_methods

from lists.models import Account, AccountUser

logger = logging.getLogger(__name__)

Role = AccountUser.Role
ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


def has_role(membership, role):
    return ROLE_RANK[membership.role] >= ROLE_RANK[role]


def console_view(role=Role.VIEWER, methods=("GET",)):
    """Wrap a panel view: login required, membership of an active account, at least `role`, only `methods`.

    A user without a membership, or of an account that is not active, gets
    403, and so does a member below `role`. CSRF checks come from
    CsrfViewMiddleware.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())

            membership = _membership_of(request.user)
            if not has_role(membership, role):
                logger.info(
                    "panel access denied user=%s account=%s role=%s needed=%s path=%s",
                    request.user.pk,
                    membership.account.console_id,
                    membership.role,
                    role,
                    request.path,
                )
                raise PermissionDenied
            request.membership = membership
            request.account = membership.account
            return view(request, *args, **kwargs)

        return require_http_methods([*methods, "HEAD"] if "GET" in methods else list(methods))(wrapper)

    return decorate


def _membership_of(user):
    membership = AccountUser.objects.select_related("account").filter(user=user).first()
    if membership is None or membership.account.status != Account.Status.ACTIVE:
        raise PermissionDenied
    return membership
