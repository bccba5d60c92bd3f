"""Account settings changed from the control panel: the FrontEnd IP allow-list and the console users.

The panel's settings pages call these functions; they validate their input,
change the rows in a transaction and raise InvalidParameter naming the
field at fault.
"""

import ipaddress
import logging
import re

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from oauth2_provider.models import get_application_model

from lists.errors import InvalidParameter
from lists.models import AccountUser, AllowedAddress, WebService

logger = logging.getLogger(__name__)

Role = AccountUser.Role
MAX_USERNAME_LENGTH = 150
# m<console id> and a<console id> are the console and web-service users of
# console <console id>. A console that gave such a name to one of its own
# users would take it from the console that later gets that id.
RESERVED_USERNAME = re.compile(r"[am][0-9]+", re.IGNORECASE)
MIN_WS_PASSWORD_LENGTH = 10


# --- FrontEnd allow-list -----------------------------------------------------


def frontend_addresses(account):
    """Return the addresses allowed to call the account's Xml* frontend pages, in address order."""
    return AllowedAddress.objects.filter(
        web_service__account=account, web_service__name=WebService.Name.FRONTEND
    ).order_by("ip")


def allow_frontend_address(account, ip):
    """Register `ip` for the account's FrontEnd service, as WSActivation does; return the AllowedAddress.

    Registering an address already on the list changes nothing. Raises
    InvalidParameter when `ip` is not an IPv4 or IPv6 address, or when the
    platform has disabled the FrontEnd service for the account.
    """
    try:
        ip = str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        raise InvalidParameter("ip", f"{ip[:60]!r} is not an IPv4 or IPv6 address.") from None

    with transaction.atomic():
        service, _created = WebService.objects.select_for_update().get_or_create(
            account=account, name=WebService.Name.FRONTEND
        )
        if not service.enabled:
            raise InvalidParameter("ip", f"FrontEnd is not enabled for account {account.console_id}.")
        address, _added = service.allowed_addresses.get_or_create(ip=ip)
    logger.info("frontend address allowed account=%s ip=%s", account.console_id, ip)
    return address


def remove_frontend_address(account, address_id):
    """Remove an address from the account's FrontEnd allow-list; return False when the account has no such address."""
    removed, _by_model = frontend_addresses(account).filter(pk=address_id).delete()
    logger.info("frontend address removed account=%s address=%s removed=%s", account.console_id, address_id, removed)
    return bool(removed)


def set_frontend_restriction(account, restricted):
    """Switch the allow-list check of the Xml* frontend pages on or off for the account."""
    account.frontend_ip_restricted = bool(restricted)
    account.save(update_fields=["frontend_ip_restricted"])
    logger.info("frontend restriction account=%s restricted=%s", account.console_id, account.frontend_ip_restricted)


# --- Web-service user -----------------------------------------------------------


def set_web_service_password(account, password):
    """Change the password of the account's web-service user `a<console id>` (SOAP, FrontEnd and import calls).

    Raises InvalidParameter when the password is shorter than
    MIN_WS_PASSWORD_LENGTH characters.
    """
    if len(password) < MIN_WS_PASSWORD_LENGTH:
        raise InvalidParameter("password", f"A web-service password has at least {MIN_WS_PASSWORD_LENGTH} characters.")
    account.set_ws_password(password)
    account.save(update_fields=["ws_password"])
    logger.info("web-service password changed account=%s", account.console_id)


# --- Console users -----------------------------------------------------------


def add_console_user(account, username, password, role):
    """Create a Django user with `password` and make it a member of the account with `role`.

    Raises InvalidParameter on a user name that is empty, too long or taken,
    on a password that Django's password validators reject, or on an
    unknown role.
    """
    username = username.strip()
    if not username or len(username) > MAX_USERNAME_LENGTH:
        raise InvalidParameter("username", f"A user name has 1 to {MAX_USERNAME_LENGTH} characters.")
    if RESERVED_USERNAME.fullmatch(username) and username != account.console_username:
        raise InvalidParameter(
            "username",
            f"The user name {username!r} is reserved, because a or m followed by digits names a console's own users. "
            "Choose another name.",
        )
    _check_role(role)
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise InvalidParameter("username", f"The user name {username!r} is already taken.")
    try:
        validate_password(password)
    except ValidationError as error:
        raise InvalidParameter("password", " ".join(error.messages)) from None

    with transaction.atomic():
        user = user_model.objects.create_user(username=username, password=password)
        member = AccountUser.objects.create(account=account, user=user, role=role)
    logger.info("console user added account=%s user=%s role=%s", account.console_id, user.pk, role)
    return member


def change_console_user_role(member, role):
    """Give a member of an account another role, keeping at least one administrator."""
    _check_role(role)
    with transaction.atomic():
        _lock_members(member.account)
        if member.role == Role.ADMIN and role != Role.ADMIN:
            _raise_if_last_admin(member)
        member.role = role
        member.save(update_fields=["role"])
    logger.info("console user role changed account=%s user=%s role=%s", member.account.console_id, member.user_id, role)


def remove_console_user(member):
    """Delete a member and its Django user, keeping at least one administrator in the account.

    Raises InvalidParameter when the user owns OAuth clients, because
    django-oauth-toolkit deletes an application with its owner and the CRMs
    using it would stop working without warning.
    """
    with transaction.atomic():
        _lock_members(member.account)
        if member.role == Role.ADMIN:
            _raise_if_last_admin(member)
        owned = get_application_model().objects.filter(user=member.user).count()
        if owned:
            raise InvalidParameter(
                "user", f"{member.user.username} owns {owned} OAuth clients; delete them before removing the user."
            )
        user_id = member.user_id
        member.user.delete()
    logger.info("console user removed account=%s user=%s", member.account.console_id, user_id)


def _check_role(role):
    if role not in Role.values:
        raise InvalidParameter("role", f"Unknown role {role!r}; use {', '.join(Role.values)}.")


def _lock_members(account):
    # Two administrators demoting each other at once must not both succeed.
    list(AccountUser.objects.select_for_update().filter(account=account).values_list("pk", flat=True))


def _raise_if_last_admin(member):
    others = AccountUser.objects.filter(account=member.account, role=Role.ADMIN).exclude(pk=member.pk)
    if not others.exists():
        raise InvalidParameter("role", "An account keeps at least one administrator.")
