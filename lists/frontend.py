"""MailUp's frontend pages (`/frontend/*.aspx`).

Each page reads its parameters, calls one function of lists.services and
returns MailUp's shape: a bare integer for the Xml* pages, an XML
document for WSActivation, redirects and small HTML pages for the pages a
browser opens.
"""

import logging
import re
from functools import wraps
from xml.sax.saxutils import escape

from django.http import Http404, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from lists import services
from lists.errors import (
    ActivationError,
    InvalidContact,
    InvalidLink,
    InvalidParameter,
    ListsError,
    NotSubscribed,
    RecipientNotFound,
)
from lists.forms import FrontendForm
from lists.models import Source, Subscription
from mailup_sim.params import CaseInsensitiveParams, MalformedRequest, client_ip, parse_bool, read_params

logger = logging.getLogger(__name__)

CODE_DONE = 0
CODE_ERROR = 1
CODE_INVALID_CONTACT = 2
CODE_ALREADY = 3
CODE_IP_NOT_REGISTERED = -1011

STATUS_CODES = {
    Subscription.Status.SUBSCRIBED: 2,
    Subscription.Status.UNSUBSCRIBED: 3,
    Subscription.Status.PENDING: 4,
}
# Reason codes recorded by optout.aspx: the confirmation page's own form,
# and any other POST (the RFC 8058 one-click button of webmail clients).
REASON_UNSUBSCRIBE_PAGE = "2"
REASON_ONE_CLICK = "32"
# Characters that XML 1.0 forbids in a document, even as character references.
XML_FORBIDDEN_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Finds retCode in a query string that QueryDict rejected, for example one
# with more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS.
RAW_RET_CODE = re.compile(r"(?:^|&)retcode=([^&]*)", re.IGNORECASE)


def numeric(code):
    """Return the bare decimal code that MailUp clients trim, cast or JSON-decode."""
    return HttpResponse(str(code), content_type="text/plain; charset=utf-8")


def xml_page(view=None, *, text_answer=False):
    """Wrap an Xml* page: find the account, enforce the FrontEnd allow-list, read parameters.

    The view gets (request, form) and returns a MailUp code, or a (code,
    pending) pair. Every failure becomes code 1, never an HTTP error. With
    `text_answer`, the code is sent as a bare number only when the call sends
    `retCode=1`, and as a localized HTML page otherwise.
    """
    if view is None:
        return lambda wrapped: xml_page(wrapped, text_answer=text_answer)

    @wraps(view)
    def wrapper(request):
        code, pending, form = _run_xml_page(view, request)
        if text_answer and not _wants_numeric(request, form):
            return _result_page(request, form, code, pending)
        return numeric(code)

    return wrapper


def _run_xml_page(view, request):
    account = services.find_account_for_host(request.get_host())
    if account is None:
        return CODE_ERROR, False, None

    # The parameters are read before the IP check, so an unregistered caller
    # gets -1011 in the format (retCode) and language (lang) it asked for.
    form = None
    try:
        form = FrontendForm(account, read_params(request))
    except MalformedRequest as error:
        logger.info("frontend request unreadable account=%s page=%s: %s", account.console_id, view.__name__, error)
    if not services.is_frontend_caller_allowed(account, client_ip(request)):
        logger.info("frontend caller rejected account=%s ip=%s", account.console_id, client_ip(request))
        return CODE_IP_NOT_REGISTERED, False, form
    if form is None:
        return CODE_ERROR, False, None

    try:
        result = view(request, form)
    except InvalidParameter as error:
        logger.info("frontend request rejected account=%s page=%s: %s", account.console_id, view.__name__, error)
        return CODE_ERROR, False, form
    if isinstance(result, tuple):
        return result[0], result[1], form
    return result, False, form


def _wants_numeric(request, form):
    """Tell whether retCode=1 was sent. Without readable parameters, the raw query string is searched."""
    if form is not None:
        raw = form.params.get("retCode")
    else:
        match = RAW_RET_CODE.search(request.META.get("QUERY_STRING", ""))
        raw = match.group(1) if match else None
    return parse_bool(raw, False) is True


@xml_page(text_answer=True)
def xml_subscribe(request, form):
    """Return (code, pending) for a subscription through xmlSubscribe.aspx."""
    try:
        lists = form.lists()
        contact = form.contact(lists[0])
    except InvalidContact:
        return CODE_INVALID_CONTACT, False

    return _subscribe(request, form, lists, contact, Source.API, form.fields(), form.confirm_list(lists))


def _subscribe(request, form, lists, contact, source, fields, confirm_list):
    """Call lists.services.subscribe with a page's parameters; return (MailUp code, whether a confirmation is pending)."""
    confirm = form.flag("Confirm", default=True)
    subscribe_request = services.SubscribeRequest(
        account=form.account,
        lists=lists,
        contact=contact,
        source=source,
        confirm=confirm,
        fields=fields,
        group_ids=form.group_ids(","),
        ip=client_ip(request),
        confirm_list=confirm_list,
        from_email=form.sender_email(),
        from_name=form.sender_name(),
    )
    try:
        outcome = services.subscribe(subscribe_request)
    except ListsError as error:
        logger.info("subscribe rejected account=%s source=%s: %s", form.account.console_id, source, error)
        return CODE_ERROR, False
    if outcome == services.SubscribeOutcome.ALREADY_SUBSCRIBED:
        return CODE_ALREADY, False
    return CODE_DONE, confirm


RESULT_MESSAGES = {
    CODE_DONE: lambda pending: (
        _("Thank you! We sent you an e-mail: open it and click the link to confirm your subscription.")
        if pending
        else _("Thank you! Your subscription is complete.")
    ),
    CODE_ERROR: lambda pending: _("Your subscription could not be completed because of an error. Please try again later."),
    CODE_INVALID_CONTACT: lambda pending: _("The e-mail address or mobile number is not valid."),
    CODE_ALREADY: lambda pending: _("You are already subscribed to this list."),
    CODE_IP_NOT_REGISTERED: lambda pending: _("This site is not authorised to subscribe recipients."),
}


def _result_page(request, form, code, pending=False, status=200):
    with translation.override(_page_language(request, form)):
        message = RESULT_MESSAGES[code](pending)
        return render(request, "frontend/result.html", {"message": message, "code": code}, status=status)


def _page_language(request, form=None):
    if form is not None:
        lang = form.text("lang", max_length=10).lower()[:2]
        if lang in ("it", "en"):
            return lang
    return translation.get_language_from_request(request) or "it"


@xml_page
def xml_check_subscriber(request, form):
    try:
        mailing_list = form.list_with_guid()
        contact = form.contact(mailing_list)
    except InvalidContact:
        return CODE_ERROR
    status = services.subscription_status(form.account, mailing_list, contact)
    return STATUS_CODES.get(status, CODE_ERROR)


@xml_page
def xml_unsubscribe(request, form):
    try:
        mailing_list = form.list_with_guid()
        contact = form.contact(mailing_list)
    except InvalidContact:
        return CODE_ERROR
    try:
        services.unsubscribe(form.account, mailing_list, contact, Source.API)
    except (RecipientNotFound, NotSubscribed):
        return CODE_ALREADY
    return CODE_DONE


@xml_page
def xml_update_subscriber(request, form):
    try:
        mailing_list = form.list_with_guid()
        contact = form.contact(mailing_list)
    except InvalidContact:
        return CODE_ERROR
    replace = form.flag("Replace", default=False)
    try:
        services.update_profile(
            form.account, mailing_list, contact, form.fields(), form.group_ids(";,"), replace, Source.API
        )
    except RecipientNotFound:
        return CODE_ERROR
    return CODE_DONE


@csrf_exempt
def subscribe_form(request):
    """subscribe.aspx: the HTML form handler. It is never restricted by IP and always returns a redirect."""
    account = services.find_account_for_host(request.get_host())
    if account is None:
        raise Http404("No account serves this host.")

    first_list = None
    try:
        form = FrontendForm(account, read_params(request))
        lists = form.lists()
        first_list = lists[0]
        code, pending = _subscribe_from_form(request, form, lists)
    except InvalidContact:
        code, pending = CODE_INVALID_CONTACT, False
    except (MalformedRequest, InvalidParameter, ListsError) as error:
        logger.info("subscribe.aspx rejected account=%s: %s", account.console_id, error)
        code, pending = CODE_ERROR, False

    if first_list is not None and first_list.subscribe_result_url:
        # The result goes before a fragment, where the page's server can read it.
        page, hash_mark, fragment = first_list.subscribe_result_url.partition("#")
        separator = "&" if "?" in page else "?"
        return HttpResponseRedirect(f"{page}{separator}result={code}{hash_mark}{fragment}")
    suffix = "p" if pending else ""
    return HttpResponseRedirect(f"/frontend/subscriberesult.aspx?result={code}{suffix}")


def _subscribe_from_form(request, form, lists):
    contact = form.contact(lists[0])
    # One confirmation request for all lists, from the first list.
    return _subscribe(request, form, lists, contact, Source.RECIPIENT, form.form_fields(), lists[0])


def subscribe_result(request):
    raw = request.GET.get("result", "1")
    pending = raw.endswith("p")
    try:
        code = int(raw.rstrip("p"))
    except ValueError:
        code = CODE_ERROR
    if code not in RESULT_MESSAGES:
        code = CODE_ERROR
    return _result_page(request, None, code, pending)


def confirm(request):
    """Follow a confirmation link: confirm the subscriptions it names and show the outcome."""
    token = request.GET.get("code", "")
    language = _page_language(request)
    try:
        lists = services.confirm_subscriptions(token, ip=client_ip(request))
    except InvalidLink as error:
        logger.info("confirmation link rejected ip=%s: %s", client_ip(request), error)
        with translation.override(language):
            context = {"message": _("This confirmation link is not valid or has expired. Subscribe again to receive a new one.")}
            return render(request, "frontend/result.html", context, status=400)

    if lists[0].confirm_result_url:
        return HttpResponseRedirect(lists[0].confirm_result_url)
    with translation.override(lists[0].language):
        names = ", ".join(mailing_list.name for mailing_list in lists)
        context = {"message": _("Your subscription to %(lists)s is confirmed. Thank you!") % {"lists": names}}
        return render(request, "frontend/result.html", context)


@csrf_exempt
def optout(request):
    """optout.aspx: GET shows a confirmation page, POST unsubscribes (also as RFC 8058 one-click)."""
    params = _read_optout_params(request)
    link = _read_optout_link(request, params)
    if link is None:
        with translation.override(_page_language(request)):
            context = {"message": _("This unsubscribe link is not valid.")}
            return render(request, "frontend/result.html", context, status=400)

    recipient_id, mailing_list, message_id = link
    with translation.override(mailing_list.language):
        if request.method != "POST":
            return render(request, "frontend/optout.html", {"list": mailing_list})
        reason = REASON_UNSUBSCRIBE_PAGE if params.get("source") == "page" else REASON_ONE_CLICK
        try:
            services.unsubscribe_recipient(recipient_id, mailing_list, Source.RECIPIENT, reason, message_id or None)
        except RecipientNotFound:
            context = {"message": _("This unsubscribe link is not valid.")}
            return render(request, "frontend/result.html", context, status=400)
        message = _("You have been unsubscribed from %(list)s.") % {"list": mailing_list.name}
        return render(request, "frontend/result.html", {"message": message})


def _read_optout_params(request):
    """Read the link's parameters, ignoring a body that cannot be parsed.

    RFC 8058 one-click POSTs must unsubscribe whatever their body, and the
    link's own parameters are in the query string.
    """
    try:
        return read_params(request)
    except MalformedRequest as error:
        logger.info("optout.aspx body ignored ip=%s: %s", client_ip(request), error)
        return CaseInsensitiveParams(request.GET, QueryDict())


def _read_optout_link(request, params):
    """Return (recipient id, list, message id) from a correctly signed link, else None.

    The message id is 0 in links of mail that belongs to no message, such
    as welcome messages.
    """
    account = services.find_account_for_host(request.get_host())
    if account is None:
        return None
    form = FrontendForm(account, params)
    try:
        recipient_id = form.required_id("id")
        list_number = form.required_id("idList")
        message_id = form.optional_id("idNL", minimum=0) or 0
    except InvalidParameter:
        return None

    signature = form.text("HASH", max_length=200)
    if not services.check_optout_hash(recipient_id, list_number, message_id, signature):
        return None
    mailing_list = account.lists.filter(list_id=list_number).first()
    if mailing_list is None:
        return None
    return recipient_id, mailing_list, message_id


def ws_activation(request):
    """WSActivation.aspx: enable a web service and register the caller's IP, then return MailUp's XML document."""
    try:
        params = read_params(request)
    except MalformedRequest:
        return _activation_answer(-1000, "", "")

    values = {name: (params.get(name) or "").strip() for name in ("usr", "pwd", "nl_url", "ws_name")}
    missing = sum(code for name, code in (("ws_name", 2), ("usr", 4), ("pwd", 8), ("nl_url", 16)) if not values[name])
    if missing:
        return _activation_answer(-missing, values["ws_name"], values["usr"])

    try:
        services.activate_web_service(values["usr"], values["pwd"], values["ws_name"], client_ip(request))
    except ActivationError as error:
        logger.info("WSActivation rejected user=%s ws=%s: %s", values["usr"][:40], values["ws_name"][:40], error)
        return _activation_answer(error.return_code, values["ws_name"], values["usr"])
    return _activation_answer(0, values["ws_name"], values["usr"])


def _activation_answer(return_code, ws_name, user):
    body = (
        "<mailupMessage>\n<mailupBody>\n"
        f"<ReturnCode>{return_code}</ReturnCode>\n"
        "<WS_Activation>\n"
        f"<WS_Name> {_xml_text(ws_name)} </WS_Name>\n"
        f"<DateOfRequest>{timezone.localdate().isoformat()}</DateOfRequest>\n"
        f"<User>{_xml_text(user)}</User>\n"
        "</WS_Activation>\n</mailupBody>\n</mailupMessage>"
    )
    return HttpResponse(body.encode("utf-8"), content_type="text/xml; charset=utf-8")


def _xml_text(value):
    """Escape an echoed value and drop the characters XML 1.0 forbids, so the document stays well-formed."""
    return escape(XML_FORBIDDEN_CHARACTERS.sub("", value[:100]))


PAGES = {
    "subscribe.aspx": subscribe_form,
    "subscriberesult.aspx": subscribe_result,
    "xmlsubscribe.aspx": xml_subscribe,
    "xmlchksubscriber.aspx": xml_check_subscriber,
    "xmlunsubscribe.aspx": xml_unsubscribe,
    "xmlupdsubscriber.aspx": xml_update_subscriber,
    "updsubscriber.aspx": xml_update_subscriber,
    "wsactivation.aspx": ws_activation,
    "confirm.aspx": confirm,
    "optout.aspx": optout,
}


@csrf_exempt
def dispatch(request, page):
    """Route /frontend/<page>; the path arrives lower-cased from CanonicalPathMiddleware."""
    view = PAGES.get(page)
    if view is None:
        return HttpResponse(f"No frontend page named {page[:80]}.", status=404, content_type="text/plain; charset=utf-8")
    return view(request)
