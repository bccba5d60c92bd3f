"""Transactional e-mail API v2.0: `POST /API/v2.0/messages/sendmessage` and `sendtemplate`.

Every answer is JSON `{"Code","Message","Status"}`. A success carries
Code "0" and Status "done", because clients test one or the other; the
error codes are listed in docs/transactional.md.
"""

import json
import logging

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sending import transactional

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
        sending = transactional.send_message_dto(body, request.META.get("HTTP_AUTHORIZATION"), template_id)
    except transactional.TransactionalError as error:
        logger.info("transactional request rejected path=%s code=%s: %s", request.path, error.code, error.message)
        return _answer(error.code, error.message, error.status, status_text="error")

    count = sending.deliveries.count()
    return _answer("0", f"Queued as sending {sending.pk}; recipients: {count}.", 200, status_text="done")


def _read_json(request):
    """Read and decode the body, without holding more than TRANSACTIONAL_MAX_BODY_BYTES in memory."""
    limit = settings.TRANSACTIONAL_MAX_BODY_BYTES
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
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise transactional.InvalidRequest(f"The request body is not valid UTF-8 JSON: {error}.") from None


def _template_id(body):
    if not isinstance(body, dict) or body.get("TemplateId") in (None, ""):
        raise transactional.InvalidField("TemplateId is missing.")
    return body["TemplateId"]


def _answer(code, message, http_status, status_text):
    return JsonResponse({"Code": code, "Message": message, "Status": status_text}, status=http_status)
