"""Transactional APIs v2.0: e-mail (`sendmessage`, `sendtemplate`) and SMS (`sms`, `listsecret`).

Every answer is JSON `{"Code","Message","Status"}`, and the SMS calls add
their own keys. A success carries Code "0" and Status "done", because
clients test one or the other; the error codes are listed in
docs/transactional.md and docs/transactional-sms.md.
"""

import base64
import binascii
import json
import logging

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from lists import services as lists_services
from lists.errors import AccountNotActive, ListNotFound, LoginFailed
from mailup_sim.params import client_ip
from mailup_sim.surrogates import lone_surrogate_path, may_have_lone_surrogate
from sending import transactional, transactional_sms

logger = logging.getLogger(__name__)


@csrf_exempt
def send_message(request):
    return _handle(request, template=False)


@csrf_exempt
def send_template(request):
    return _handle(request, template=True)


def _handle(request, template):
    if request.method != "POST":
        return _answer("6", f"Use POST, not {request.method[:10]}.", 405, status_text="error")
    try:
        body = _read_json(request)
        template_id = _template_id(body) if template else None
        sending = transactional.send_message_dto(
            body, request.META.get("HTTP_AUTHORIZATION"), template_id, client_ip=client_ip(request)
        )
    except transactional.TransactionalError as error:
        logger.info("transactional request rejected path=%s code=%s: %s", request.path, error.code, error.message)
        return _answer(error.code, error.message, error.status, status_text="error")

    count = sending.deliveries.count()
    return _answer("0", f"Queued as sending {sending.pk}; recipients: {count}.", 200, status_text="done")


def _read_json(request, limit=None):
    """Read and decode the body, without holding more than `limit` bytes in memory (default TRANSACTIONAL_MAX_BODY_BYTES)."""
    limit = limit or settings.TRANSACTIONAL_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise transactional.MessageTooLarge(f"The request body has {declared} bytes; the limit is {limit}.")

    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise transactional.MessageTooLarge(f"The request body is larger than {limit} bytes.")
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise transactional.InvalidRequest(f"The request body is not valid UTF-8 JSON: {error}.") from None
    except ValueError:
        # Python's int() refuses integers of more than 4300 digits.
        raise transactional.InvalidRequest("The request body has an integer of more than 4300 digits.") from None

    location = lone_surrogate_path(document) if may_have_lone_surrogate(raw) else None
    if location is not None:
        raise transactional.InvalidField(
            f"{location or 'The request body'} has a UTF-16 surrogate escape without its pair; send the character as UTF-8."
        )
    return document


def _template_id(body):
    if not isinstance(body, dict) or body.get("TemplateId") in (None, ""):
        raise transactional.InvalidField("TemplateId is missing.")
    return body["TemplateId"]


@csrf_exempt
def not_found(request):
    """Return the JSON code 4 error for a path under /api/v2.0/ that no call serves or whose id is not a whole number."""
    return _answer("4", f"No API v2.0 resource at {request.path[:200]}; check the path and its ids.", 404, "error")


def _answer(code, message, http_status, status_text, **extra):
    return JsonResponse({"Code": code, "Message": message, "Status": status_text, **extra}, status=http_status)


# --- SMS ---------------------------------------------------------------------------


@csrf_exempt
def send_sms(request, account_id, list_id):
    """POST /api/v2.0/sms/{accountId}/{listId}: one SMS to a recipient subscribed to the list by SMS."""
    if request.method != "POST":
        return _answer("6", f"Use POST, not {request.method[:10]}.", 405, status_text="error")
    try:
        body = _read_json(request, transactional_sms.MAX_BODY_BYTES)
        result = transactional_sms.send_sms(account_id, list_id, body)
    except transactional.TransactionalError as error:
        logger.info("transactional sms rejected console=%s list=%s code=%s", account_id, list_id, error.code)
        return _answer(error.code, error.message, error.status, status_text="error")

    message = f"Sent as delivery {result.sending.pk} to {result.number}; credits: {result.cost}."
    return _answer("0", message, 200, status_text="done", DeliveryId=result.sending.pk, Cost=result.cost)


@csrf_exempt
def list_secret(request, list_id):
    """GET, POST or DELETE /api/v2.0/lists/{listId}/listsecret with Basic authentication of the console user."""
    if request.method not in ("GET", "POST", "DELETE"):
        return _answer("6", f"Use GET, POST or DELETE, not {request.method[:10]}.", 405, status_text="error")
    try:
        account = _console_account(request)
        mailing_list = lists_services.find_list(account, list_id)
    except transactional.TransactionalError as error:
        logger.info("listsecret request rejected list=%s method=%s code=%s", list_id, request.method, error.code)
        response = _answer(error.code, error.message, error.status, status_text="error")
        if error.status == 401:
            response["WWW-Authenticate"] = 'Basic realm="mailup-sim", charset="UTF-8"'
        return response
    except ListNotFound as error:
        logger.info("listsecret request rejected console=%s list=%s: list not found", account.console_id, list_id)
        return _answer(transactional_sms.ListNotFound.code, error.message, 404, status_text="error")

    if request.method == "POST":
        lists_services.create_sms_list_secret(mailing_list)
        text = f"List {list_id} has a ListSecret."
    elif request.method == "DELETE":
        removed = lists_services.remove_sms_list_secret(mailing_list)
        text = f"ListSecret of list {list_id} removed." if removed else f"List {list_id} had no ListSecret."
    else:
        text = f"ListSecret of list {list_id}." if mailing_list.sms_list_secret else f"List {list_id} has no ListSecret."
    return _answer(
        "0",
        text,
        200,
        status_text="done",
        IdList=mailing_list.list_id,
        ListGuid=str(mailing_list.guid),
        ListSecret=mailing_list.sms_list_secret or None,
    )


def _console_account(request):
    """Return the active account of the request's `Authorization: Basic` console user (`m<console id>`)."""
    username, password = _basic_credentials(request)
    if not username.lower().startswith("m"):
        raise transactional_sms.BasicAuthenticationFailed(f"User {username[:40]!r} is not a console user m<console id>.")
    try:
        return lists_services.authenticate_api_user(username, password, client_ip=client_ip(request), api="listsecret")
    except LoginFailed as error:
        raise transactional_sms.BasicAuthenticationFailed(error.message) from None
    except AccountNotActive as error:
        raise transactional_sms.ConsoleNotActive(error.message) from None


def _basic_credentials(request):
    scheme, _, encoded = request.headers.get("Authorization", "").strip().partition(" ")
    missing = transactional_sms.BasicAuthenticationFailed(
        "Authorization: Basic base64(m<console id>:password) of the console user is required."
    )
    if scheme.lower() != "basic":
        raise missing
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise missing from None
    username, colon, password = decoded.partition(":")
    if not colon or not username or "\x00" in decoded:
        raise missing
    return username, password
