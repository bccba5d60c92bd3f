"""SOAP WSMailUpImport: its operations, which return MailUp's `<mailupMessage>` result documents.

Each operation takes the account that the `Authentication` header named
and the request's parameters under MailUp's names, calls
integrations.services or lists.services, and returns the result document
as text. mailup_sim.soap reads the envelope, the header and the parameter
types and writes the WSDL; this module maps results to MailUp's ReturnCodes.
"""

import logging
import uuid
from xml.sax.saxutils import escape, quoteattr

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations import importing, services, xmldoc
from integrations.models import Import
from lists import services as lists_services
from lists.errors import ActivationError
from lists.models import Channel, Group, List
from lists.validation import MAX_ID
from mailup_sim import params as request_params
from mailup_sim import soap

logger = logging.getLogger(__name__)

NAMESPACE = "http://ws.mailupnet.it/"
DECLARATION = '<?xml version="1.0" encoding="windows-1252" ?>'
MAX_GROUP_NAME_LENGTH = 50
DATE_FORMAT = "%d/%m/%Y %H:%M:%S"
# importType: 1 e-mail, 2 SMS, 3 both; 4 to 6 the same channels, with empty elements clearing fields.
IMPORT_TYPE_CHANNELS = {1: (Channel.EMAIL,), 2: (Channel.SMS,), 3: (Channel.EMAIL, Channel.SMS)}
PROCESS_STATUS_CODES = {
    Import.Status.CREATED: 1,
    Import.Status.QUEUED: 2,
    Import.Status.RUNNING: 2,
    Import.Status.COMPLETED: 3,
    Import.Status.FAILED: 4,
}


class ImportFault(Exception):
    """A failed operation, returned as a result document with a negative ReturnCode."""

    def __init__(self, return_code, message):
        super().__init__(message)
        self.return_code = return_code


# --- Result documents ----------------------------------------------------------


def result(return_code, body=""):
    """Return a `<mailupMessage>` with the ReturnCode and the operation's elements.

    The declaration names windows-1252 as at MailUp, so every character
    outside ASCII is written as a character reference, which reads the same in any encoding.
    """
    document = f"{DECLARATION}\n<mailupMessage><mailupBody><ReturnCode>{return_code}</ReturnCode>{body}</mailupBody></mailupMessage>"
    return document.encode("ascii", "xmlcharrefreplace").decode("ascii")


def run(operation, user, password, params, client_ip=None):
    """Authenticate and run one operation; return its result document, with a negative ReturnCode on a known failure.

    With `client_ip`, a wrong password counts towards the panel login's lockout.
    """
    handler = OPERATIONS[operation]
    try:
        account = lists_services.authenticate_import_user(user or "", password or "", client_ip=client_ip)
        return handler(account, params)
    except ActivationError as error:
        logger.info("WSMailUpImport %s refused user=%s code=%s", operation, (user or "")[:40], error.return_code)
        return result(error.return_code)
    except ImportFault as error:
        logger.info("WSMailUpImport %s failed code=%s reason=%s", operation, error.return_code, error)
        return result(error.return_code)


# --- Lists, users and groups ---------------------------------------------------


def get_nl_lists(account, params):
    return result(0, _lists_document(account.lists.all()))


def get_nl_lists_user(account, params):
    """Return the lists a user may access: every list for the web-service user and the console users, none for another id."""
    known = lists_services.is_account_user(account, params.get("userId") or 0)
    return result(0, _lists_document(account.lists.all() if known else List.objects.none()))


def get_id_ws_user(account, params):
    """Return the id of the web-service user, which is the console id."""
    return result(account.console_id)


def get_id_user(account, params):
    """Return the id of a user of this account: the console id for `a<id>`, the user's id for a console user."""
    user_id = lists_services.user_id_for_name(account, params.get("userName") or "")
    return result(-1000 if user_id is None else user_id)


def _lists_document(lists):
    items = []
    for mailing_list in lists.prefetch_related("groups"):
        groups = "".join(
            f"<Group idGroup={quoteattr(str(group.pk))} groupName={_name_attribute(group.name)} />"
            for group in mailing_list.groups.all()
        )
        items.append(
            f'<List idList="{mailing_list.list_id}" listGUID="{mailing_list.guid}" '
            f"listName={_name_attribute(mailing_list.name)}><Groups>{groups}</Groups></List>"
        )
    return "<Lists>" + "".join(items) + "</Lists>"


def _name_attribute(name):
    """Quote a list or group name as MailUp does, with `&` and `"` left as they are, unless WSMAILUPIMPORT_ESCAPE_NAMES requests well-formed XML.

    The official Magento extension re-escapes `&` itself and would show `&amp;` otherwise.
    """
    if settings.WSMAILUPIMPORT_ESCAPE_NAMES:
        return quoteattr(name)
    return '"' + name.replace("<", "&lt;").replace(">", "&gt;") + '"'


def create_group(account, params):
    """CreateGroup: the id of a new group, or of the group of that name the list already has."""
    mailing_list = find_list(account, params, missing_code=-301)
    name = (params.get("newGroupName") or "").strip()[:MAX_GROUP_NAME_LENGTH]
    if not name:
        raise ImportFault(-302, "newGroupName is empty.")

    with transaction.atomic():
        List.objects.select_for_update().get(pk=mailing_list.pk)
        existing = Group.objects.filter(list=mailing_list, name=name).first()
        group = existing or lists_services.create_group(mailing_list, name)
    return result(group.pk)


def find_list(account, params, missing_code=-101):
    """Return the account's list named by `idList` and/or `listGUID`, or raise ImportFault (-101, -102)."""
    list_id = params.get("idList") or 0
    raw_guid = (params.get("listGUID") or "").strip()
    if not list_id and not raw_guid:
        raise ImportFault(missing_code, "Neither idList nor listGUID names a list.")

    lists = account.lists.select_related("account")
    if raw_guid:
        try:
            lists = lists.filter(guid=uuid.UUID(raw_guid))
        except ValueError:
            raise ImportFault(-102, f"listGUID {raw_guid[:40]!r} is not a GUID.") from None
    if list_id:
        lists = lists.filter(list_id=list_id)
    mailing_list = lists.first()
    if mailing_list is None:
        raise ImportFault(-101, f"No list matches idList {list_id} and listGUID {raw_guid[:40]!r}.")
    return mailing_list


# --- Import processes ----------------------------------------------------------


def new_import_process(account, params):
    """NewImportProcess: store the xmlDoc as an import that has not started; ReturnCode is its id."""
    mailing_list = find_list(account, params)
    job = _create(mailing_list, params, params.get("idGroups"), start=False)
    return result(job.pk)


def start_process(account, params):
    """StartProcess: queue an import created by NewImportProcess; ReturnCode 0 once it has started."""
    mailing_list = find_list(account, params)
    job = Import.objects.filter(account=account, list=mailing_list, pk=params.get("idProcess") or 0).first()
    if job is None:
        raise ImportFault(-600, f"No import process {params.get('idProcess')} on list {mailing_list.list_id}.")
    _start(job)
    return result(0)


def start_import_processes(account, params):
    """StartImportProcesses: one started process per list, listed after an overall ReturnCode.

    With an xmlDoc, each list gets a new process that imports it. Without
    one, the processes that NewImportProcess created on those lists start.
    """
    lists = _lists_of(account, params)
    xml_doc = params.get("xmlDoc") or ""
    processes = []
    # A list whose groupsIDs fail must not leave the earlier lists' processes behind.
    with transaction.atomic():
        for mailing_list in lists:
            if xml_doc.strip():
                processes.append((_create(mailing_list, params, params.get("groupsIDs"), start=False), 0))
            else:
                processes.extend((job, 0) for job in Import.objects.filter(list=mailing_list, status=Import.Status.CREATED))
    if not processes:
        raise ImportFault(-401, "xmlDoc is empty and no created process waits on these lists.")

    started = []
    for job, _code in processes:
        try:
            _start(job)
            started.append((job, 0))
        except ImportFault as error:
            started.append((job, error.return_code))
    overall = 0 if all(code == 0 for _job, code in started) else next(code for _job, code in started if code)
    triples = "".join(
        f"<processID>{job.pk}</processID><listID>{job.list.list_id}</listID><ReturnCode>{code}</ReturnCode>"
        for job, code in started
    )
    return result(overall, f"<processes><process>{triples}</process></processes>")


def _lists_of(account, params):
    """Read listsIDs and listsGUIDs (separated by `,` or `;`) into the account's lists, or raise ImportFault."""
    ids = _split(params.get("listsIDs"))
    guids = _split(params.get("listsGUIDs"))
    if guids and len(guids) != len(ids):
        raise ImportFault(-450, f"listsIDs has {len(ids)} items but listsGUIDs has {len(guids)}.")
    if not ids:
        raise ImportFault(-101, "listsIDs names no list.")

    lists = []
    for position, raw_id in enumerate(ids):
        if not (raw_id.isascii() and raw_id.isdigit()) or not 1 <= int(raw_id) <= MAX_ID:
            raise ImportFault(-101, f"listsIDs item {raw_id[:20]!r} is not a list id.")
        lists.append(find_list(account, {"idList": int(raw_id), "listGUID": guids[position] if guids else ""}))
    return lists


def _split(raw):
    return [item.strip() for item in (raw or "").replace(";", ",").split(",") if item.strip()]


def _create(mailing_list, params, raw_groups, start):
    options, payload_settings = _read_options(mailing_list, params, raw_groups)
    xml_doc = params.get("xmlDoc") or ""
    if not xml_doc.strip():
        raise ImportFault(-401, "xmlDoc is empty.")
    try:
        return services.create_import(
            mailing_list, Import.Kind.SOAP, services.XMLDOC, xml_doc, options, payload_settings, start=start
        )
    except xmldoc.XmlDocRejected as error:
        raise ImportFault(-402, str(error)) from None
    except importing.InputRejected as error:
        raise ImportFault(-401 if "no recipients" in str(error) else -403, str(error)) from None


def _read_options(mailing_list, params, raw_groups):
    import_type = params.get("importType") or 3
    if import_type not in range(1, 7):
        raise ImportFault(-400, f"importType must be 1 to 6, not {import_type}.")
    mobile_input_type = params.get("mobileInputType") or xmldoc.SPLIT_MOBILE
    if mobile_input_type not in (xmldoc.MERGED_MOBILE, xmldoc.SPLIT_MOBILE):
        raise ImportFault(-400, f"mobileInputType must be 1 or 2, not {mobile_input_type}.")

    options = lists_services.ImportOptions(
        confirm_email=bool(params.get("ConfirmEmail")),
        as_pending=bool(params.get("asPending")),
        as_opt_out=bool(params.get("asOptOut")),
        force_opt_in=bool(params.get("forceOptIn")),
        replace_groups=bool(params.get("replaceGroups")),
        channels=IMPORT_TYPE_CHANNELS[(import_type - 1) % 3 + 1],
        group_ids=_group_ids(mailing_list, raw_groups),
    )
    return options, services.PayloadSettings(mobile_input_type=mobile_input_type, clear_empty=import_type > 3)


def _group_ids(mailing_list, raw):
    ids = _split(raw)
    if not all(item.isascii() and item.isdigit() and 1 <= int(item) <= MAX_ID for item in ids):
        raise ImportFault(-400, f"idGroups {str(raw)[:60]!r} is not a list of group ids.")
    wanted = [int(item) for item in ids]
    found = set(Group.objects.filter(list=mailing_list, pk__in=wanted).values_list("pk", flat=True))
    missing = [group_id for group_id in wanted if group_id not in found]
    if missing:
        raise ImportFault(-400, f"Group {missing[0]} is not a group of list {mailing_list.list_id}.")
    return tuple(dict.fromkeys(wanted))


def _start(job):
    """Queue a created import, or raise ImportFault -601 while another import of its list is queued or running."""
    if job.status != Import.Status.CREATED:
        return
    if importing.list_busy(job.list):
        raise ImportFault(-601, f"An import is already running on list {job.list.list_id}.")
    services.start_import(job)


def get_process_details(account, params):
    mailing_list = find_list(account, params)
    job = Import.objects.filter(account=account, list=mailing_list, pk=params.get("idProcess") or 0).first()
    if job is None:
        raise ImportFault(-501, f"No import process {params.get('idProcess')} on list {mailing_list.list_id}.")
    return result(0, _process_document(job))


def _process_document(job):
    running = job.status in (Import.Status.QUEUED, Import.Status.RUNNING)
    confirmation = bool(job.options.get("confirm_email"))
    children = {
        "StartDate": _date(job.started_at),
        "EndDate": _date(job.finished_at),
        "TotalContacts": job.count("total"),
        "NewEmail": job.count("new_email"),
        "ExistingEmail": job.count("existing_email"),
        "OptOutEmail": job.count("optout_email"),
        "NewMobile": job.count("new_sms"),
        "ExistingMobile": job.count("existing_sms"),
        "OptOutMobile": job.count("optout_sms"),
        "StatusCode": PROCESS_STATUS_CODES[job.status],
        "IsRunning": _bool(running),
        "ConfirmationEmail": _bool(confirmation),
        "ConfirmationSent": _bool(confirmation and job.status == Import.Status.COMPLETED),
    }
    body = "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in children.items())
    return f'<ImportProcess idProcess="{job.pk}">{body}</ImportProcess>'


def _date(value):
    return timezone.localtime(value).strftime(DATE_FORMAT) if value else ""


def _bool(value):
    return "true" if value else "false"


OPERATIONS = {
    "GetNlLists": get_nl_lists,
    "GetNlListsUser": get_nl_lists_user,
    "GetIdWsUser": get_id_ws_user,
    "GetIdUser": get_id_user,
    "CreateGroup": create_group,
    "NewImportProcess": new_import_process,
    "StartProcess": start_process,
    "StartImportProcesses": start_import_processes,
    "GetProcessDetails": get_process_details,
}


# --- SOAP service ----------------------------------------------------------------

SERVICE = soap.Service(
    "WSMailUpImport",
    NAMESPACE,
    "/Services/WSMailUpImport.asmx",
    header=soap.Header("Authentication", ("User", "Password", "encType")),
)
LIST_PARAMS = (soap.integer("idList"), soap.string("listGUID"))
FLAG_PARAMS = (
    soap.integer("importType"),
    soap.integer("mobileInputType"),
    soap.boolean("asPending"),
    soap.boolean("ConfirmEmail"),
    soap.boolean("asOptOut"),
    soap.boolean("forceOptIn"),
    soap.boolean("replaceGroups"),
)
SIGNATURES = {
    "GetNlLists": (),
    "GetIdWsUser": (),
    "GetIdUser": (soap.string("userName"),),
    "GetNlListsUser": (soap.integer("userId"),),
    "CreateGroup": (*LIST_PARAMS, soap.string("newGroupName")),
    "NewImportProcess": (
        *LIST_PARAMS,
        soap.string("xmlDoc"),
        soap.string("idGroups"),
        *FLAG_PARAMS,
        soap.integer("idConfirmNL"),
    ),
    "StartImportProcesses": (
        soap.string("listsIDs"),
        soap.string("listsGUIDs"),
        soap.string("xmlDoc"),
        soap.string("groupsIDs"),
        *FLAG_PARAMS,
    ),
    "GetProcessDetails": (*LIST_PARAMS, soap.integer("idProcess")),
    "StartProcess": (*LIST_PARAMS, soap.integer("idProcess")),
}


def _soap_handler(operation):
    def handle(call, **arguments):
        header = call.header or {}
        params = {param.name: arguments[param.argument] for param in call.operation.params}
        return run(operation, header.get("User"), header.get("Password"), params, client_ip=request_params.client_ip(call.request))

    return handle


for _name, _params in SIGNATURES.items():
    SERVICE.operation(_name, *_params)(_soap_handler(_name))
