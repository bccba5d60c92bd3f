"""Parts shared by MailupSend, MailupManage and MailupReport: error codes, result documents and session operations.

Every result of these services is an XML document sent as a string, with
the root `{Operation}Result` and `errorCode` and `errorDescription` as its
first two children (0 and empty on success) and
the ids the operation creates or touches after them. `GetFields` and
`CreateList` instead report a failure as `<Root><Error>…</Error></Root>`
and carry no code on success.

Error codes are negative and defined by mailup-sim, because MailUp does
not publish its own; docs/soap.md lists them.
"""

import logging
import re
import uuid
from functools import wraps

from lists import services as lists_services
from lists.errors import ListsError
from mailup_sim import soap
from mailup_sim.params import client_ip

logger = logging.getLogger(__name__)

NAMESPACE = "http://services.mailupnet.it/WS"

ERROR_UNRECOGNIZED = -1
ERROR_INVALID_PARAMETER = -2
ERROR_LOGIN_FAILED = -10
ERROR_ACCOUNT_NOT_ACTIVE = -11
ERROR_ACCESS_KEY = -20
ERROR_LIST_NOT_FOUND = -30
ERROR_GROUP_NOT_FOUND = -31
ERROR_MESSAGE_NOT_FOUND = -32
ERROR_DELIVERY_NOT_FOUND = -33
ERROR_RECIPIENT_NOT_FOUND = -34
ERROR_RECIPIENT_BLOCKED = -35
ERROR_DELIVERY_STATE = -36

ERROR_CODES = {
    "invalid_parameter": ERROR_INVALID_PARAMETER,
    "invalid_contact": ERROR_INVALID_PARAMETER,
    "login_failed": ERROR_LOGIN_FAILED,
    "account_not_active": ERROR_ACCOUNT_NOT_ACTIVE,
    "access_key_invalid": ERROR_ACCESS_KEY,
    "list_not_found": ERROR_LIST_NOT_FOUND,
    "group_not_found": ERROR_GROUP_NOT_FOUND,
    "message_not_found": ERROR_MESSAGE_NOT_FOUND,
    "sending_not_found": ERROR_DELIVERY_NOT_FOUND,
    "recipient_not_found": ERROR_RECIPIENT_NOT_FOUND,
    "not_subscribed": ERROR_RECIPIENT_NOT_FOUND,
    "subscription_blocked": ERROR_RECIPIENT_BLOCKED,
    "invalid_state": ERROR_DELIVERY_STATE,
}
# A bare console host name with an optional port, as `Login` takes it:
# no scheme, no path.
BARE_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*\.?(:[0-9]{1,5})?$")


class ResultError(Exception):
    """A failure returned inside the result document as a non-zero errorCode."""

    def __init__(self, code, description):
        super().__init__(description)
        self.code = code
        self.description = description


def invalid(description):
    return ResultError(ERROR_INVALID_PARAMETER, description)


# --- Result documents ----------------------------------------------------------


def coded_result(root, *children):
    """Serialize a success document: `errorCode` 0, an empty `errorDescription`, then `children`."""
    element = soap.result_element(root, soap.text_element("errorCode", 0), soap.text_element("errorDescription", ""))
    for child in children:
        if child is not None:
            element.append(child)
    return soap.serialize(element)


def coded_error(root, code, description, empty_children=()):
    element = soap.result_element(
        root,
        soap.text_element("errorCode", code),
        soap.text_element("errorDescription", description),
        *[soap.text_element(name, "") for name in empty_children],
    )
    return soap.serialize(element)


def error_element_result(root, description):
    return soap.serialize(soap.result_element(root, soap.text_element("Error", description)))


def operation(service, name, *params, root=None, error_element=False, empty_on_error=()):
    """Register a handler of `service` whose failures become a result document.

    `root` is the root element of the result (default `{name}Result`). The
    handler raises ResultError or a lists or sending error, and the failure
    is returned as errorCode and errorDescription followed by an empty
    element for each name in `empty_on_error`, or as `<Error>` when
    `error_element` is set. Wrong parameter types stay SOAP faults.
    """
    root_name = root or f"{name}Result"

    def register(handler):
        @wraps(handler)
        def run(call, **arguments):
            try:
                return handler(call, **arguments)
            except (ResultError, ListsError) as error:
                code, description = code_and_description(error)
                logger.info("SOAP %s.%s failed code=%s: %s", service.name, name, code, description)
                if error_element:
                    return error_element_result(root_name, description)
                return coded_error(root_name, code, description, empty_on_error)

        service.operation(name, *params)(run)
        return handler

    return register


def code_and_description(error):
    if isinstance(error, ResultError):
        return error.code, error.description
    return ERROR_CODES.get(error.code, ERROR_UNRECOGNIZED), error.message


def account_of(access_key):
    """Return the account of a valid accessKey; raises AccessKeyInvalid or AccountNotActive."""
    return lists_services.account_for_access_key(access_key)


def list_of(access_key, list_id):
    """Return the account's list `list_id` after checking the accessKey."""
    return lists_services.find_list(account_of(access_key), list_id)


def list_by_id_or_guid(account, raw_id, raw_guid):
    """Return the list that `listId` and/or `listGuid` name. When both are given, they must name the same list."""
    if not raw_id and not raw_guid:
        raise invalid("Parameter 'listId' or 'listGuid' is missing.")
    if raw_id and not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 10):
        raise invalid(f"Parameter 'listId' must be a list id; got {raw_id[:40]!r}.")
    mailing_list = lists_services.find_list(account, int(raw_id)) if raw_id else None
    if not raw_guid:
        return mailing_list

    try:
        guid = uuid.UUID(raw_guid)
    except ValueError:
        raise invalid(f"Parameter 'listGuid' is not a GUID: {raw_guid[:40]!r}.") from None
    by_guid = account.lists.filter(guid=guid).first()
    if by_guid is None or (mailing_list is not None and by_guid.pk != mailing_list.pk):
        raise ResultError(ERROR_LIST_NOT_FOUND, f"No list of console {account.console_id} matches listId {raw_id!r} and listGuid {raw_guid[:40]!r}.")
    by_guid.account = account
    return by_guid


def parse_id_list(raw, name):
    """Read `;`-separated ids (MailUp's recipients, exclude and filters options); raises ResultError."""
    ids = []
    for part in raw.split(";"):
        part = part.strip()
        if not part:
            continue
        if not (part.isascii() and part.isdigit()) or len(part) > 18:
            raise invalid(f"Option {name!r} must contain ids separated by ';'; {part[:40]!r} is not an id.")
        ids.append(int(part))
    return ids


def parse_flag(options, key, default):
    """Read a `true`/`false` option; raises ResultError for another value."""
    raw = options.get(key)
    if raw is None or not raw.strip():
        return default
    value = soap.BOOLEAN_WORDS.get(raw.strip().lower())
    if value is None:
        raise invalid(f"Option {key!r} must be true or false; got {raw[:40]!r}.")
    return value


# --- Login, LoginFromId, Logout ------------------------------------------------


# Login and LoginFromId share the root LoginResult, and a failed login
# carries an empty accessKey.
LOGIN_RESULT = {"root": "LoginResult", "empty_on_error": ("accessKey",)}


def add_session_operations(service):
    """Register Login, LoginFromId and Logout on `service`; one accessKey works on all three services."""

    @operation(service, "LoginFromId", soap.string("user"), soap.string("pwd"), soap.integer("consoleId"), **LOGIN_RESULT)
    def login_from_id(call, user, pwd, console_id):
        account = lists_services.authenticate_api_user(user, pwd, console_id=console_id, client_ip=client_ip(call.request))
        return _login_result(account, user)

    @operation(service, "Login", soap.string("user"), soap.string("pwd"), soap.string("url"), **LOGIN_RESULT)
    def login(call, user, pwd, url):
        if not BARE_HOST.match(url.strip()):
            raise ResultError(
                ERROR_LOGIN_FAILED, f"Parameter 'url' must be the bare console host, such as abcd.s02.com; got {url[:80]!r}."
            )
        account = lists_services.authenticate_api_user(user, pwd, client_ip=client_ip(call.request))
        return _login_result(account, user)

    @operation(service, "Logout", soap.string("accessKey"))
    def logout(call, access_key):
        lists_services.close_access_key(access_key)
        return coded_result("LogoutResult")


def _login_result(account, user):
    key = lists_services.open_access_key(account, user)
    return coded_result("LoginResult", soap.cdata_element("accessKey", key))
