"""ConsoleService REST calls of bulk imports: recipients into a list or group, and import status.

The POST calls store the array as an Import and return its id at once;
a worker imports it (integrations.services.run_import). REST imports fire
no webhooks, as at MailUp.
"""

from django.conf import settings

from integrations import services
from integrations.importing import InputRejected
from integrations.models import Import
from lists.models import Channel
from lists.rest import get_group, get_list
from lists.services import ImportOptions
from mailup_sim.rest import RestError, json_response, paged_response, parse_bool_param, query_params, read_page

READ_CHUNK_BYTES = 64 * 1024
IMPORT_TYPES = {"": {}, "asoptout": {"as_opt_out": True}, "asoptin": {"force_opt_in": True}}


def import_list_recipients(request, list_id):
    """POST /Console/List/{idList}/Recipients: import an array of recipients; return the import id."""
    mailing_list = get_list(request.account, list_id)
    return _start_import(request, mailing_list, group_ids=())


def import_group_recipients(request, group_id):
    """POST /Console/Group/{idGroup}/Recipients: as for a list, and add every recipient to the group."""
    group = get_group(request.account, group_id)
    return _start_import(request, group.list, group_ids=(group.pk,))


def import_sms_list_recipients(request, list_id):
    """POST /Console/Sms/List/{idList}/Recipients: as for a list, changing only the SMS channel."""
    mailing_list = get_list(request.account, list_id)
    return _start_import(request, mailing_list, group_ids=(), channels=(Channel.SMS,))


def import_sms_group_recipients(request, group_id):
    """POST /Console/Sms/Group/{idGroup}/Recipients: as for a group, changing only the SMS channel."""
    group = get_group(request.account, group_id)
    return _start_import(request, group.list, group_ids=(group.pk,), channels=(Channel.SMS,))


def _start_import(request, mailing_list, group_ids, channels=(Channel.EMAIL, Channel.SMS)):
    params = query_params(request)
    body = _read_body(request)
    options, payload_settings = _read_options(params, group_ids, channels)
    try:
        job = services.create_import(
            mailing_list, Import.Kind.REST, services.JSON, body, options, payload_settings, start=True
        )
    except InputRejected as error:
        raise RestError(400, str(error)) from None
    return json_response(job.pk)


def _read_body(request):
    """Read the body up to IMPORT_MAX_PAYLOAD_BYTES as text, or raise RestError(400)."""
    limit = settings.IMPORT_MAX_PAYLOAD_BYTES
    chunks, size = [], 0
    while chunk := request.read(READ_CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise RestError(400, f"The request body is larger than {limit} bytes (IMPORT_MAX_PAYLOAD_BYTES).")
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise RestError(400, "The request body is not valid UTF-8.") from None


def _read_options(params, group_ids, channels):
    import_type = (params.get("importType") or "").strip().lower()
    if import_type not in IMPORT_TYPES:
        raise RestError(400, f"importType must be asOptin or asOptout, not {import_type[:40]!r}.")
    confirm = parse_bool_param(params, "ConfirmEmail") or parse_bool_param(params, "confirmMessage")
    ignore_mobile = parse_bool_param(params, "ignoreMobile")
    options = ImportOptions(
        confirm_email=confirm,
        replace_groups=parse_bool_param(params, "removeFromPrevGroups") and bool(group_ids),
        channels=tuple(channel for channel in channels if not (ignore_mobile and channel == Channel.SMS)),
        group_ids=group_ids,
        **IMPORT_TYPES[import_type],
    )
    payload_settings = services.PayloadSettings(
        ignore_mobile=ignore_mobile, clear_missing=parse_bool_param(params, "clearMissingOrEmptyFields")
    )
    return options, payload_settings


def import_status(request, import_id):
    """GET /Console/Import/{idImport}: the counts of one import of this console."""
    job = Import.objects.filter(account=request.account, pk=import_id).first()
    if job is None:
        raise RestError(404, f"No import {import_id} in this console.")
    return json_response(shape_import(job))


def import_sending(request, import_id):
    """GET /Console/Import/{idImport}/Sending: the id of the sending that contains the import's confirmation requests.

    An import made without ConfirmEmail, or whose sending was deleted, gets 404.
    """
    job = Import.objects.filter(account=request.account, pk=import_id).first()
    if job is None:
        raise RestError(404, f"No import {import_id} in this console.")
    if job.confirmation_sending_id is None:
        raise RestError(404, f"Import {import_id} has no confirmation sending: it was made without ConfirmEmail, or its sending was deleted.")
    return json_response(job.confirmation_sending_id)


def imports(request):
    """GET /Console/Imports: the imports of this console, newest first, paged."""
    page = read_page(query_params(request))
    return paged_response(Import.objects.filter(account=request.account).order_by("-pk"), page, shape_import)


def shape_import(job):
    """MailUp's import status; `UpdatedRecipients` counts every existing recipient, changed or not."""
    created = job.count("created")
    existing = job.count("updated") + job.count("unchanged")
    return {
        "idImport": job.pk,
        "Completed": job.status in (Import.Status.COMPLETED, Import.Status.FAILED),
        "CreatedRecipients": created,
        "ImportedRecipients": created + existing,
        "NotValidRecipients": job.count("rejected"),
        "UpdatedRecipients": existing,
        "ValidRecipients": created + existing,
    }
