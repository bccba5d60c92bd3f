"""MailupReport (`/MailupReport.asmx`): per-recipient and per-message reports, in Italian and English.

The Italian and English operations return the same data under different
element and attribute names, so each report is built once from a table of
names per language.
"""

from lists.models import Subscription
from mailup_sim import soap
from sending import services
from sending.soap_common import NAMESPACE, add_session_operations, coded_result, list_of, operation
from sending.soap_send import format_date

REPORT = soap.Service("MailupReport", NAMESPACE, "/MailupReport.asmx", aliases=["/Services/MailupReport.asmx"])
add_session_operations(REPORT)

FIELD_COUNT = 39
STATUS_WORDS = {
    "it": {
        Subscription.Status.SUBSCRIBED: "Iscritto",
        Subscription.Status.UNSUBSCRIBED: "Disiscritto",
        Subscription.Status.PENDING: "In attesa",
        None: "Non Registrato",
    },
    "en": {
        Subscription.Status.SUBSCRIBED: "Subscribed",
        Subscription.Status.UNSUBSCRIBED: "Unsubscribed",
        Subscription.Status.PENDING: "Pending",
        None: "Not Registered",
    },
}
NAMES = {
    "it": {
        "channels": "Canali",
        "mail": "Posta",
        "voice": "Voce",
        "total": "Totale",
        "date": "DataOra",
        "message": "IDMessaggio",
        "subject": "Oggetto",
        "fields": "CampiAnagrafici",
        "field": "campo",
        "field_id": "id",
        "value": "Valore",
    },
    "en": {
        "channels": "Channels",
        "mail": "RegularMail",
        "voice": "Voice",
        "total": "Total",
        "date": "DateTime",
        "message": "MessageID",
        "subject": "Subject",
        "fields": "PersonalDataFields",
        "field": "Field",
        "field_id": "Id",
        "value": "Value",
    },
}
REPORT_PARAMS = (soap.string("accessKey"), soap.string("email"), soap.integer("listID"), soap.integer("messageID"))
MESSAGE_REPORT_PARAMS = (soap.string("accessKey"), soap.integer("listID"), soap.integer("messageID"))


def user_report(language, root, access_key, email, list_id, message_id):
    mailing_list = list_of(access_key, list_id)
    report = services.recipient_report(mailing_list, email, message_id)
    names, words = NAMES[language], STATUS_WORDS[language]
    unregistered = words[None]
    channels = soap.result_element(
        names["channels"],
        soap.text_element("Email", words[report.email_status]),
        soap.text_element("SMS", words[report.sms_status]),
        soap.text_element(names["mail"], unregistered),
        soap.text_element(names["voice"], unregistered),
        soap.text_element("Fax", unregistered),
    )
    return coded_result(
        root,
        channels,
        soap.text_element("Bounce", format_date(report.last_bounce)),
        *_user_clicks(names, report.clicks),
        _user_opens(names, report.opens),
        _fields(names, report.fields),
    )


def _event_attributes(names, event):
    return {
        names["date"]: format_date(event["at"]),
        "IP": event["ip"] or "",
        names["message"]: event["message_id"],
        names["subject"]: event["subject"],
    }


def _user_clicks(names, clicks):
    elements = []
    for url, events in clicks.items():
        items = [soap.result_element("Click", **_event_attributes(names, event)) for event in events]
        elements.append(soap.result_element("Clicks", *items, Url=url, **{names["total"]: len(events)}))
    return elements


def _user_opens(names, opens):
    items = [soap.result_element("Open", **_event_attributes(names, event)) for event in opens]
    return soap.result_element("Opens", *items, **{names["total"]: len(opens)})


def _fields(names, values):
    items = [
        soap.result_element(names["field"], **{names["field_id"]: field_id, names["value"]: values.get(str(field_id), "")})
        for field_id in range(1, FIELD_COUNT + 1)
    ]
    return soap.result_element(names["fields"], *items)


@operation(REPORT, "ReportByUser", *REPORT_PARAMS)
def report_by_user(call, access_key, email, list_id, message_id):
    return user_report("it", "ReportByUserResult", access_key, email, list_id, message_id)


@operation(REPORT, "ReportByUserEN", *REPORT_PARAMS)
def report_by_user_en(call, access_key, email, list_id, message_id):
    return user_report("en", "ReportByUserENResult", access_key, email, list_id, message_id)


def message_report(language, root, access_key, list_id, message_id):
    report = services.message_report(list_of(access_key, list_id), message_id)
    total = NAMES[language]["total"]
    clicks = [
        soap.result_element(
            "Clicks",
            *[soap.result_element("Click", Email=email, **{total: count}) for email, count in per_email.items()],
            Url=url,
            **{total: sum(per_email.values())},
        )
        for url, per_email in report.clicks.items()
    ]
    opens = soap.result_element(
        "Opens",
        *[soap.result_element("Open", Email=email, **{total: count}) for email, count in report.opens.items()],
        **{total: sum(report.opens.values())},
    )
    return coded_result(root, *clicks, opens)


@operation(REPORT, "ReportByMessage", *MESSAGE_REPORT_PARAMS)
def report_by_message(call, access_key, list_id, message_id):
    return message_report("it", "ReportByMessageResult", access_key, list_id, message_id)


@operation(REPORT, "ReportByMessageEN", *MESSAGE_REPORT_PARAMS)
def report_by_message_en(call, access_key, list_id, message_id):
    return message_report("en", "ReportByMessageENResult", access_key, list_id, message_id)
