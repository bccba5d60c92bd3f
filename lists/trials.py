"""Trial consoles that partner applications request through PublicService.svc.

A partner is an OAuth client. `request_trial` validates the person's data,
stores a TrialActivation with an unguessable Hash for the partner and a
link token for the person, and queues the activation mail in the same
transaction. The person opens the link, chooses a password, and
`activate_trial` creates the console with its user m<console id>.
`find_trial` and `describe_status` report to the partner how far the
activation got.
"""

import hashlib
import ipaddress
import logging
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from lists.account_settings import add_console_user
from lists.demo import default_field_name
from lists.errors import InvalidContact, InvalidLink, InvalidParameter, TrialNotFound
from lists.models import MAX_FIELD_ID, Account, AccountUser, FieldDefinition, TrialActivation
from lists.validation import MAX_ID, SINGLE_LINE_CONTROL_CHARACTERS, normalize_email
from sending import services as sending_services

logger = logging.getLogger(__name__)

PENDING = "pending"
ACTIVATED = "activated"
EXPIRED = "expired"
# Codes of TrialActivationStatus. MailUp does not publish its own, so these are mailup-sim's.
STATUS_CODES = {PENDING: "1", ACTIVATED: "2", EXPIRED: "3"}

LANGUAGES = ("it", "en")
# The platform's own language, for a request that names none.
DEFAULT_LANGUAGE = "it"
MAX_NAME_LENGTH = 200
MAX_COMPANY_LENGTH = 200
MAX_PHONE_LENGTH = 40
MAX_REFERER_LENGTH = 2000
MAX_USER_AGENT_LENGTH = 1000
MAX_HASH_LENGTH = 64
# Digits with the separators people type, after an optional leading +.
PHONE_NUMBER = re.compile(r"^\+?[0-9][0-9 ./()-]*$")
# Console ids of trial consoles continue after the largest id in use, and
# start here on an empty platform.
FIRST_CONSOLE_ID = 1000
CONSOLE_ID_ATTEMPTS = 5


# --- Reading the partner's request ----------------------------------------------------


def _read_text(document, name, max_length, required=False):
    """Return the stripped string `document[name]`, or "" when it is absent or null and not required."""
    value = document.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidParameter(name, f"{name} is required.")
        return ""
    if not isinstance(value, str):
        raise InvalidParameter(name, f"{name} must be a JSON string.")

    value = value.strip()
    if SINGLE_LINE_CONTROL_CHARACTERS.search(value):
        raise InvalidParameter(name, f"{name} contains a control character.")
    if len(value) > max_length:
        raise InvalidParameter(name, f"{name} has {len(value)} characters; at most {max_length} are allowed.")
    return value


def _read_email(document):
    raw = _read_text(document, "Email", 254, required=True)
    try:
        return normalize_email(raw)
    except InvalidContact:
        raise InvalidParameter("Email", f"Email {raw[:80]!r} is not a valid e-mail address.") from None


def _read_phone_number(document):
    phone = _read_text(document, "PhoneNumber", MAX_PHONE_LENGTH)
    if phone and not (phone.isascii() and PHONE_NUMBER.match(phone)):
        raise InvalidParameter("PhoneNumber", f"PhoneNumber {phone!r} may contain only digits, spaces, + . / ( ) and -.")
    return phone


def _read_language(document):
    """Return it or en from values such as "it", "En" or "en-US"; absent or null means DEFAULT_LANGUAGE."""
    raw = _read_text(document, "Language", 20)
    if not raw:
        return DEFAULT_LANGUAGE
    language = re.split(r"[-_]", raw.lower(), maxsplit=1)[0]
    if language not in LANGUAGES:
        raise InvalidParameter("Language", f"Language {raw!r} is not supported; use it or en.")
    return language


def _read_flag(document, name):
    value = document.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidParameter(name, f"{name} must be true or false, not {str(value)[:40]!r}.")
    return value


def _read_ip_address(document):
    raw = _read_text(document, "IpAddress", 45)
    if not raw:
        return None
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise InvalidParameter("IpAddress", f"IpAddress {raw!r} is not an IPv4 or IPv6 address.") from None


def read_trial_request(document):
    """Return the model values of a TrialActivation body, or raise InvalidParameter naming the first bad field."""
    return {
        "name_and_surname": _read_text(document, "NameAndSurname", MAX_NAME_LENGTH, required=True),
        "email": _read_email(document),
        "company": _read_text(document, "Company", MAX_COMPANY_LENGTH),
        "phone_number": _read_phone_number(document),
        "language": _read_language(document),
        "is_usa": _read_flag(document, "IsUSA"),
        "register_to_newsletter": _read_flag(document, "RegisterToNewsletter"),
        "ip_address": _read_ip_address(document),
        "referer": _read_text(document, "Referer", MAX_REFERER_LENGTH),
        "user_agent": _read_text(document, "UserAgent", MAX_USER_AGENT_LENGTH),
    }


# --- Requesting a trial ------------------------------------------------------------


def request_trial(application, document):
    """Store a trial request of `application`, queue the activation mail and return the TrialActivation.

    `document` is the JSON object of the TrialActivation call. While a
    request for the same address is pending, the same application gets that
    request back (no second mail is sent) and any other application gets
    InvalidParameter on Email. Raises InvalidParameter for any invalid field.
    """
    values = read_trial_request(document)
    try:
        return _store_trial(application, values)
    except IntegrityError:
        # Another request for the address committed between the check and
        # the insert; the unique pending_email now finds it.
        return _store_trial(application, values)


def _store_trial(application, values):
    now = timezone.now()
    with transaction.atomic():
        _release_expired(values["email"], now)
        pending = TrialActivation.objects.select_for_update().filter(pending_email=values["email"]).first()
        if pending is not None:
            return _answer_pending(pending, application)

        token = secrets.token_urlsafe(32)
        trial = TrialActivation.objects.create(
            application=application,
            hash=secrets.token_urlsafe(24),
            link_digest=_digest(token),
            pending_email=values["email"],
            created_at=now,
            expires_at=now + timedelta(hours=settings.TRIAL_ACTIVATION_HOURS),
            **values,
        )
        _queue_activation_mail(trial, token)
    logger.info("trial activation requested trial=%s client=%s language=%s", trial.pk, application.pk, trial.language)
    return trial


def _release_expired(email, now):
    """Let the address open a new request once its pending one has expired."""
    TrialActivation.objects.filter(pending_email=email, expires_at__lte=now).update(pending_email=None)


def _answer_pending(pending, application):
    if pending.application_id == application.pk:
        logger.info("trial activation repeated trial=%s client=%s", pending.pk, application.pk)
        return pending
    logger.info("trial activation rejected: pending for another client trial=%s client=%s", pending.pk, application.pk)
    raise InvalidParameter(
        "Email",
        f"Email {pending.email} already has a pending trial activation. "
        "Request a new one after that one is activated or expires.",
    )


def _queue_activation_mail(trial, token):
    context = {
        "name": trial.name_and_surname,
        "email": trial.email,
        "activation_url": activation_url(token),
        "valid_hours": settings.TRIAL_ACTIVATION_HOURS,
    }
    sending_services.queue_trial_activation(trial.email, trial.language, context)


def activation_url(token):
    """Return the absolute address of the activation page of a link token, on PUBLIC_ORIGIN."""
    return settings.PUBLIC_ORIGIN + reverse("trial_activation", args=[token])


def _digest(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- Status ------------------------------------------------------------------------------


def trial_state(trial, now=None):
    """Return PENDING, ACTIVATED or EXPIRED."""
    if trial.activated_at is not None:
        return ACTIVATED
    if trial.expires_at <= (now or timezone.now()):
        return EXPIRED
    return PENDING


def _read_trial_id(document):
    value = document.get("Id")
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        # mailup-ruby's documentation sends the Id as a string.
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise InvalidParameter("Id", f"Id must be the number that TrialActivation returned, not {str(value)[:40]!r}.")
    return value


def find_trial(application, document):
    """Return the TrialActivation that `document` names by Id and Hash, among those of `application`.

    Raises InvalidParameter when Id or Hash is missing or malformed, and
    TrialNotFound when the application has no request with that Id or the
    Hash differs, so another client's ids reveal nothing.
    """
    trial_id = _read_trial_id(document)
    given_hash = _read_text(document, "Hash", MAX_HASH_LENGTH, required=True)
    trial = TrialActivation.objects.select_related("account").filter(pk=trial_id, application=application).first()
    if trial is None or not secrets.compare_digest(trial.hash.encode(), given_hash.encode()):
        raise TrialNotFound(f"No trial activation {trial_id} with this Hash.")
    return trial


def describe_status(trial):
    """Return (Code, Description) of TrialActivationStatus for a trial request."""
    state = trial_state(trial)
    if state == ACTIVATED and trial.account is None:
        description = "Activated: the trial console was opened and has since been deleted."
    elif state == ACTIVATED:
        console_id = trial.account.console_id
        description = f"Activated: trial console {console_id} is open for user m{console_id}."
    elif state == EXPIRED:
        description = "Expired: the activation link was not used in time. Request a new trial."
    else:
        description = "Pending: the activation e-mail was sent and its link has not been used yet."
    return STATUS_CODES[state], description


# --- Activation -----------------------------------------------------------------------


def find_trial_by_link(token):
    """Return the TrialActivation of an activation link token, or None."""
    if not token or len(token) > 200:
        return None
    return TrialActivation.objects.select_related("account").filter(link_digest=_digest(token)).first()


def activate_trial(token, password):
    """Open the trial console of a link token, with the console user m<console id> and `password`.

    Returns the TrialActivation, now activated. Raises InvalidLink when the
    token is unknown, already used or expired, and InvalidParameter on a
    password that Django's validators reject; then nothing is created.
    """
    now = timezone.now()
    with transaction.atomic():
        trial = TrialActivation.objects.select_for_update().filter(link_digest=_digest(token)).first()
        if trial is None:
            raise InvalidLink("The trial activation link is not valid.")
        state = trial_state(trial, now)
        if state != PENDING:
            raise InvalidLink(f"The trial activation link is {state}.")

        account = _create_console(trial)
        member = add_console_user(account, account.console_username, password, AccountUser.Role.ADMIN)
        _describe_user(member.user, trial)

        trial.account = account
        trial.activated_at = now
        trial.pending_email = None
        trial.save(update_fields=["account", "activated_at", "pending_email"])
    logger.info("trial activated trial=%s console=%s user=%s", trial.pk, account.console_id, member.user_id)
    return trial


def _create_console(trial):
    """Create the Account of a trial with the next free console id and the default field names."""
    name = trial.company or trial.name_and_surname
    for _attempt in range(CONSOLE_ID_ATTEMPTS):
        account = Account(console_id=_next_console_id(), name=name, language=trial.language)
        # The web-service user a<console id> has no password until the owner sets one.
        account.ws_password = make_password(None)
        try:
            with transaction.atomic():
                account.save()
        except IntegrityError:
            # Another activation took this id at the same moment.
            continue
        FieldDefinition.objects.bulk_create(
            FieldDefinition(account=account, field_id=field_id, name=default_field_name(account.language, field_id))
            for field_id in range(1, MAX_FIELD_ID + 1)
        )
        return account
    raise RuntimeError(f"No free console id after {CONSOLE_ID_ATTEMPTS} attempts for trial {trial.pk}.")


def _next_console_id():
    """Return the id after the largest console id in use, skipping ids whose console user name m<id> is taken.

    add_console_user reserves such names, but a user created before that
    rule would otherwise block every later activation at the same id.
    """
    largest = Account.objects.aggregate(largest=Max("console_id"))["largest"] or FIRST_CONSOLE_ID - 1
    console_id = largest + 1
    while get_user_model().objects.filter(username=f"m{console_id}").exists():
        console_id += 1
    return console_id


def _describe_user(user, trial):
    first_name, _, last_name = trial.name_and_surname.partition(" ")
    user.first_name = first_name[:150]
    user.last_name = last_name.strip()[:150]
    user.email = trial.email
    user.save(update_fields=["first_name", "last_name", "email"])
