"""ConsoleService.svc calls on SMTP+ users: the priority table and creating a user for a list.

The views check JSON types; sending.transactional checks values and
creates the user.
"""

from lists.rest import get_list
from mailup_sim.rest import RestError, json_response, read_json_object
from sending import transactional


def smtp_plus_priorities(request):
    """GET /Console/SmtpPlusPriorities: every priority code and its name, in code order."""
    return json_response(
        [{"PriorityCode": code, "PriorityName": name} for code, name in transactional.SMTP_PLUS_PRIORITIES.items()]
    )


def create_smtp_plus_user(request, list_id):
    """POST /Console/List/{idList}/SmtpPlus: the new user, with its secret in clear this one time."""
    mailing_list = get_list(request.account, list_id)
    user_settings = read_smtp_user_settings(read_json_object(request))
    user, secret = transactional.create_smtp_user(mailing_list, user_settings=user_settings)
    return json_response(shape_smtp_user(user, secret))


def read_smtp_user_settings(document):
    """Read the creation body into SmtpUserSettings. An absent or null key takes the default."""
    defaults = transactional.SmtpUserSettings()
    return transactional.SmtpUserSettings(
        active=_boolean(document, "IsEnabled", defaults.active),
        note=_string(document, "Note", defaults.note),
        priority=_integer(document, "PriorityCode", defaults.priority),
        trusted_domains=_strings(document, "TrustedDomains"),
        trusted_senders=_strings(document, "TrustedSenders"),
    )


def shape_smtp_user(user, secret):
    return {
        "IsEnabled": user.active,
        "Note": user.note,
        "Password": secret,
        "PriorityCode": user.priority,
        "TrustedDomains": user.trusted_domains,
        "TrustedSenders": user.trusted_senders,
        "Username": user.username,
        "idList": user.list.list_id,
    }


def _boolean(document, name, default):
    value = document.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RestError(400, f"{name} must be true or false.")
    return value


def _string(document, name, default):
    value = document.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise RestError(400, f"{name} must be a string.")
    return value


def _integer(document, name, default):
    value = document.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise RestError(400, f"{name} must be an integer.")
    return value


def _strings(document, name):
    value = document.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RestError(400, f"{name} must be an array of strings.")
    return tuple(value)
