"""Single sign-on into the control panel: one-time login codes issued to a CRM and redeemed by a browser.

`POST …/ConsoleService.svc/Console/Sso` with a bearer token returns a link
`{console origin}/Console/Login.aspx?Code=<code>`. Opening it within
CODE_LIFETIME logs the token's user into the panel once. Only the SHA-256
of a code is stored, so the table cannot be replayed into logins.
"""

import hashlib
import logging
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from integrations.models import SsoClient, SsoCode
from lists.services import console_origin

logger = logging.getLogger(__name__)

# MailUp's documented ExpiresIn.
CODE_LIFETIME = timedelta(seconds=600)
CODE_BYTES = 32
CLIENT_SECRET_BYTES = 32
# MailUp's body for a client without SSO, word for word.
SSO_FORBIDDEN_DESCRIPTION = (
    "Authorization error: You cannot generate the MailUp platform login url due to permission issue. "
    "Please, contact MailUp for further information."
)


class SsoNotEnabled(Exception):
    """The OAuth client of the token has no single sign-on."""


class CodeRejected(Exception):
    """A login code that cannot be used; `reason` is `unknown`, `used` or `expired`."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def hash_code(code):
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def set_sso_enabled(application, enabled):
    """Switch single sign-on on or off for an OAuth client."""
    SsoClient.objects.update_or_create(application=application, defaults={"enabled": enabled})
    logger.info("sso switched client=%s enabled=%s", application.client_id, enabled)


def account_oauth_clients(account):
    """Return the OAuth clients owned by a console user of the account, with their SSO switch.

    A client without an owner serves every console, so no account's panel
    lists or changes it.
    """
    return get_application_model().objects.filter(user__membership__account=account).select_related("sso").order_by("pk")


def create_oauth_client(account, owner, name):
    """Create a confidential password-grant client owned by `owner`, a user of the account.

    Returns (application, client secret). django-oauth-toolkit stores only a
    hash of the secret, so this return value is the only time it is seen.
    """
    application_model = get_application_model()
    secret = secrets.token_urlsafe(CLIENT_SECRET_BYTES)
    application = application_model.objects.create(
        name=name.strip()[:255] or f"Console {account.console_id}",
        user=owner,
        client_type=application_model.CLIENT_CONFIDENTIAL,
        authorization_grant_type=application_model.GRANT_PASSWORD,
        client_secret=secret,
    )
    logger.info("oauth client created account=%s client=%s", account.console_id, application.client_id)
    return application, secret


def delete_oauth_client(application):
    """Delete a client with its tokens and SSO switch; the CRMs that used it must log in with another."""
    client_id = application.client_id
    application.delete()
    logger.info("oauth client deleted client=%s", client_id)


def is_sso_enabled(application):
    return SsoClient.objects.filter(application=application, enabled=True).exists()


def find_access_token(raw_token):
    """Return the stored access token with its user and OAuth client, or None for an unknown token."""
    # django-oauth-toolkit finds tokens by the SHA-256 of their value.
    checksum = hashlib.sha256(raw_token.encode("utf-8")).hexdigest()
    tokens = get_access_token_model().objects.filter(token_checksum=checksum)
    return tokens.select_related("application", "user").first()


def issue_code(account, user, application):
    """Store a new login code of `user` and return the link that redeems it and its lifetime in seconds.

    Raises SsoNotEnabled when the client has no single sign-on.
    """
    if application is None or not is_sso_enabled(application):
        raise SsoNotEnabled()

    code = secrets.token_urlsafe(CODE_BYTES)
    SsoCode.objects.create(
        code_sha256=hash_code(code),
        account=account,
        user=user,
        application=application,
        expires_at=timezone.now() + CODE_LIFETIME,
    )
    logger.info("sso code issued account=%s user=%s client=%s", account.console_id, user.pk, application.client_id)
    href = f"{console_origin(account)}/Console/Login.aspx?Code={code}"
    return href, int(CODE_LIFETIME.total_seconds())


def redeem_code(code, ip=None):
    """Mark a login code used and return its user.

    Raises CodeRejected when the code is unknown, already used or expired,
    or its client no longer has single sign-on (reported as unknown).
    The conditional UPDATE lets only one of two simultaneous requests win.
    """
    now = timezone.now()
    with transaction.atomic():
        found = SsoCode.objects.filter(code_sha256=hash_code(code)).select_related("user", "account").first()
        if found is None:
            raise CodeRejected("unknown")
        if found.used_at is not None:
            raise CodeRejected("used")
        if found.expires_at <= now:
            raise CodeRejected("expired")
        # Switching SSO off for a client also voids the codes it issued that are not used yet.
        if not is_sso_enabled(found.application):
            raise CodeRejected("unknown")
        claimed = SsoCode.objects.filter(pk=found.pk, used_at__isnull=True).update(used_at=now, used_ip=ip)
        if not claimed:
            raise CodeRejected("used")

    logger.info("sso code redeemed code=%s account=%s user=%s ip=%s", found.pk, found.account.console_id, found.user_id, ip)
    return found.user


def delete_expired_codes(older_than=timedelta(days=1)):
    """Delete codes that expired more than `older_than` ago; return how many."""
    deleted, _ = SsoCode.objects.filter(expires_at__lt=timezone.now() - older_than).delete()
    return deleted
