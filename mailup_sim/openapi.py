"""The OpenAPI 3 description of the REST API v1.1 and the transactional SMS API v2.0, served at /API/v1.1/openapi.json.

REST paths and methods come from the route tables themselves, so a route
cannot be served without being described: `build_openapi` raises when a
handler has no entry in OPERATIONS. The two transactional SMS paths are
routed in mailup_sim/urls.py and described in TRANSACTIONAL_SMS_PATHS.
Request and response shapes are kept here by hand, and schemathesis
checks them against the server in the test suite.
"""

import json
from functools import lru_cache
from importlib import import_module

from django.http import HttpResponse

from mailup_sim.rest import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from sending.services import MESSAGE_ATTACHMENT_SLOTS

MAX_ID = 2_147_483_647
# Each service: its path prefix, its route modules and its security scheme.
# PublicService authenticates the OAuth client itself with HTTP Basic.
SERVICES = (
    ("/API/v1.1/Rest/ConsoleService.svc", ("lists.rest_urls", "sending.rest_urls"), "bearer"),
    ("/API/v1.1/Rest/MailStatisticsService.svc", ("sending.rest_statistics_urls",), "bearer"),
    ("/API/v1.1/Rest/PublicService.svc", ("lists.public_rest_urls",), "basic"),
)
# MailUp's spelling of each lower-case path segment.
SEGMENT_NAMES = {
    "console": "Console",
    "authentication": "Authentication",
    "info": "Info",
    "details": "Details",
    "list": "List",
    "lists": "Lists",
    "user": "User",
    "groups": "Groups",
    "group": "Group",
    "recipient": "Recipient",
    "recipients": "Recipients",
    "dynamicfields": "DynamicFields",
    "subscribed": "Subscribed",
    "unsubscribed": "Unsubscribed",
    "pending": "Pending",
    "emailoptins": "EmailOptins",
    "detail": "Detail",
    "unsubscribe": "Unsubscribe",
    "subscribe": "Subscribe",
    "email": "Email",
    "emails": "Emails",
    "template": "Template",
    "templates": "Templates",
    "enabledynamicfields": "EnableDynamicFields",
    "online": "Online",
    "visibility": "Visibility",
    "archived": "Archived",
    "tags": "Tags",
    "tag": "Tag",
    "images": "Images",
    "attachment": "Attachment",
    "send": "Send",
    "sendhistory": "SendHistory",
    "sendings": "Sendings",
    "immediate": "Immediate",
    "deferred": "Deferred",
    "undefined": "Undefined",
    "stop": "Stop",
    "sms": "Sms",
    "message": "Message",
    "messages": "Messages",
    "report": "Report",
    "reportdetails": "ReportDetails",
    "count": "Count",
    "import": "Import",
    "imports": "Imports",
    "views": "Views",
    "bounces": "Bounces",
    "unsubscriptions": "Unsubscriptions",
    "clicks": "Clicks",
    "urlclicks": "UrlClicks",
    "urlclickdetails": "UrlClickDetails",
    "deliveries": "Deliveries",
    "bouncesdetails": "BouncesDetails",
    "clicksdetails": "ClicksDetails",
    "countries": "Countries",
    "timezones": "TimeZones",
    "smtppluspriorities": "SmtpPlusPriorities",
    "smtpplus": "SmtpPlus",
    "sending": "Sending",
    "trialactivation": "TrialActivation",
    "trialactivationstatus": "TrialActivationStatus",
}


# --- Schema helpers -----------------------------------------------------------------


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties, required=None):
    return {"type": "object", "properties": properties, "required": sorted(required or properties)}


def nullable(schema):
    return {**schema, "nullable": True}


def paged(item_name):
    return {
        "type": "object",
        "required": ["IsPaginated", "Items", "PageNumber", "PageSize", "Skipped", "TotalElementsCount"],
        "properties": {
            "IsPaginated": {"type": "boolean"},
            "Items": {"type": "array", "items": ref(item_name)},
            "PageNumber": {"type": "integer", "minimum": 0},
            "PageSize": {"type": "integer", "minimum": 1},
            "Skipped": {"type": "integer", "minimum": 0},
            "TotalElementsCount": {"type": "integer", "minimum": 0},
        },
    }


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
DATE = {"type": "string", "description": "UTC date and time such as 2020-01-27 10:05:53Z, or empty for never."}


def array(schema):
    return {"type": "array", "items": schema}


FIELD_VALUE = obj({"Description": nullable(STRING), "Id": INTEGER, "Value": nullable(STRING)}, ["Id"])
COMPONENTS = {
    "Error": obj(
        {
            "ErrorCode": STRING,
            "ErrorDescription": STRING,
            "ErrorName": nullable(STRING),
            "ErrorStack": nullable(STRING),
        }
    ),
    "AccountInfo": obj(
        {
            "AccountName": STRING,
            "Company": STRING,
            "ExpiryDate": STRING,
            "IsTrial": BOOLEAN,
            "UID": STRING,
            "Url": nullable(STRING),
            "Username": STRING,
            "Version": STRING,
        }
    ),
    "List": obj({"Company": STRING, "Description": STRING, "IdList": ID, "ListGuid": STRING, "Name": STRING}),
    "UserList": obj({"Company": STRING, "Description": STRING, "Name": STRING, "idList": ID, "listGuid": STRING}),
    "ListSettings": obj(
        {
            "Name": {"type": "string", "minLength": 1, "maxLength": 200},
            "OwnerEmail": {"type": "string", "format": "email"},
            "ReplyTo": STRING,
            "NLSenderName": {"type": "string", "maxLength": 200},
            "Description": STRING,
            "DefaultPrefix": {"type": "string", "pattern": "^(00|\\+)[0-9]{1,4}$"},
            "TimeZoneCode": STRING,
            "Charset": STRING,
        },
        ["Name", "OwnerEmail"],
    ),
    "ListSettingsResult": {
        "type": "object",
        "required": ["IdList", "Name", "OwnerEmail", "ListGuid"],
        "properties": {"IdList": ID, "Name": STRING, "OwnerEmail": STRING, "ListGuid": STRING},
    },
    "GroupInput": obj({"Name": {"type": "string", "minLength": 1}, "Notes": STRING, "Deletable": BOOLEAN}, ["Name"]),
    "Group": obj(
        {
            "Count": nullable(INTEGER),
            "Deletable": BOOLEAN,
            "Name": STRING,
            "Notes": STRING,
            "idGroup": ID,
            "idList": ID,
        }
    ),
    "DynamicField": obj({"Description": STRING, "Id": INTEGER}),
    "RecipientInput": obj(
        {
            "idRecipient": ID,
            "Name": nullable(STRING),
            "Email": {"type": "string", "format": "email"},
            "MobilePrefix": nullable(STRING),
            "MobileNumber": nullable(STRING),
            "Fields": array(FIELD_VALUE),
        },
        [],
    ),
    "Recipient": obj(
        {
            "idRecipient": ID,
            "Name": STRING,
            "Email": STRING,
            "MobilePrefix": nullable(STRING),
            "MobileNumber": nullable(STRING),
            "Fields": array(obj({"Description": STRING, "Id": INTEGER, "Value": STRING})),
        }
    ),
    "EmailOptin": obj(
        {
            "Email": STRING,
            "Optin_Date": STRING,
            "Optin_Request_Date": STRING,
            "Optin_Request_IP": nullable(STRING),
            "Optout_Date": STRING,
            "Optout_MsgID": nullable(INTEGER),
            "Optout_Subtype": nullable(STRING),
            "Optout_Type": nullable(STRING),
            "Status": {"type": "string", "enum": ["OPTIN", "PENDING", "OPTOUT"]},
            "idRecipient": ID,
        }
    ),
    "MessageInput": obj(
        {
            "Subject": {"type": "string", "minLength": 1, "maxLength": 500},
            "Content": STRING,
            "Embed": BOOLEAN,
            "Fields": array(FIELD_VALUE),
            "IsConfirmation": BOOLEAN,
            "Notes": STRING,
            "Tags": array(obj({"Enabled": BOOLEAN, "Id": INTEGER, "Name": STRING}, ["Name"])),
            "TrackingInfo": obj(
                {"CustomParams": STRING, "Enabled": BOOLEAN, "Protocols": array(STRING)}, []
            ),
            "UseDynamicField": BOOLEAN,
            "PreHeader": {"type": "string", "maxLength": 300},
        },
        ["Subject"],
    ),
    "MessageDetails": {
        "type": "object",
        "required": ["idMessage", "Subject", "Content", "Attachments"],
        "properties": {"Attachments": array(ref("Attachment"))},
    },
    "MessageCreated": obj({"CreationDate": DATE, "Notes": STRING, "Subject": STRING, "idList": ID, "idMessage": ID}),
    "MessageItem": obj(
        {"CreationDate": DATE, "Notes": STRING, "Subject": STRING, "idList": ID, "idMessage": ID, "ServiceType": STRING}
    ),
    "PublishedMessage": obj(
        {
            "CreationDate": DATE,
            "Notes": STRING,
            "Subject": STRING,
            "idList": ID,
            "idMessage": ID,
            "ServiceType": STRING,
            "LastSendDate": DATE,
            "Url": STRING,
        }
    ),
    "Tag": obj({"Enabled": BOOLEAN, "Id": ID, "Name": STRING}),
    "TagInput": obj({"Enabled": BOOLEAN, "Name": {"type": "string", "minLength": 1}}, ["Name"]),
    "Template": obj({"Content": STRING, "Id": ID, "Text": STRING, "Thumbnail": STRING, "Title": STRING}),
    "ImageUpload": obj({"Base64Data": {"type": "string", "format": "byte"}, "Name": STRING}),
    "AttachmentUpload": obj(
        {
            "Base64Data": {"type": "string", "format": "byte", "minLength": 1},
            "Name": {"type": "string", "minLength": 1},
            "Slot": {"type": "integer", "minimum": 1, "maximum": MESSAGE_ATTACHMENT_SLOTS},
            "idList": ID,
            "idMessage": ID,
        },
        ["Base64Data", "Name"],
    ),
    "Attachment": obj(
        {
            "Name": STRING,
            "Size": {"type": "integer", "minimum": 0},
            "Slot": {"type": "integer", "minimum": 1},
            "idList": ID,
            "idMessage": ID,
        }
    ),
    "SendResult": obj(
        {
            "Id": INTEGER,
            "InvalidRecipients": array({"type": "object"}),
            "Sent": {"type": "integer", "minimum": 0},
            "UnprocessedRecipients": array({"type": "object"}),
            "idMessage": nullable(INTEGER),
        }
    ),
    "SingleSend": obj(
        {"idMessage": ID, "Email": {"type": "string", "format": "email"}, "Fields": array(FIELD_VALUE)},
        ["idMessage", "Email"],
    ),
    "Sending": obj(
        {
            "CreationDate": DATE,
            "EndDate": DATE,
            "Id": ID,
            "ScheduledDate": DATE,
            "StartDate": DATE,
            "Status": STRING,
            "Subject": STRING,
            "idList": ID,
            "idMessage": ID,
        }
    ),
    "DeferredDate": obj({"Date": {"type": "string", "example": "2030-01-01 08:00:00"}}),
    "SmsInput": obj({"Subject": STRING, "Content": {"type": "string", "minLength": 1}, "Notes": STRING}, ["Content"]),
    "SmsMessage": obj(
        {"Content": STRING, "CreationDate": DATE, "Notes": STRING, "Subject": STRING, "idList": ID, "idMessage": ID}
    ),
    "SmsSingleSend": obj(
        {"Number": {"type": "string", "pattern": "^[0-9]{6,15}$"}, "Prefix": STRING, "idMessage": ID},
        ["Number", "idMessage"],
    ),
    "SmsReport": obj({"Delivered": INTEGER, "NotDelivered": INTEGER, "Sent": INTEGER, "idMessage": ID}),
    "SmsReportItem": obj({"Date": DATE, "Number": STRING, "Status": STRING}),
    "ImportStatus": obj(
        {
            "idImport": ID,
            "Completed": BOOLEAN,
            "CreatedRecipients": INTEGER,
            "ImportedRecipients": INTEGER,
            "NotValidRecipients": INTEGER,
            "UpdatedRecipients": INTEGER,
            "ValidRecipients": INTEGER,
        }
    ),
    "Country": obj({"CountryCode": {"type": "string", "pattern": "^[A-Z]{2}$"}, "CountryName": STRING}),
    "TimeZone": obj(
        {
            "OffsetFromUTC": {"type": "string", "pattern": "^-?[0-9]{2}:[0-9]{2}:00$", "example": "-05:00:00"},
            "TimeZoneCode": {"type": "integer", "minimum": 0},
            "TimeZoneDescription": STRING,
            "TimeZoneName": STRING,
        }
    ),
    "SmtpPlusPriority": obj({"PriorityCode": {"type": "integer", "minimum": 1, "maximum": 5}, "PriorityName": STRING}),
    "SmtpPlusUserInput": obj(
        {
            "IsEnabled": BOOLEAN,
            "Note": {"type": "string", "maxLength": 500},
            "PriorityCode": {"type": "integer", "minimum": 1, "maximum": 5},
            "TrustedDomains": array({"type": "string", "example": "shop.example"}),
            "TrustedSenders": array({"type": "string", "format": "email"}),
        },
        [],
    ),
    "SmtpPlusUser": obj(
        {
            "IsEnabled": BOOLEAN,
            "Note": STRING,
            "Password": STRING,
            "PriorityCode": {"type": "integer", "minimum": 1, "maximum": 5},
            "TrustedDomains": array(STRING),
            "TrustedSenders": array(STRING),
            "Username": {"type": "string", "pattern": "^s[0-9]+_[0-9]+$"},
            "idList": ID,
        }
    ),
    "TrialActivationInput": obj(
        {
            "NameAndSurname": {"type": "string", "minLength": 1, "maxLength": 200},
            "Email": {"type": "string", "format": "email"},
            "Company": nullable({"type": "string", "maxLength": 200}),
            "PhoneNumber": nullable({"type": "string", "pattern": "^\\+?[0-9][0-9 ./()-]{0,39}$"}),
            "Language": nullable({"type": "string", "pattern": "^([iI][tT]|[eE][nN])([-_][A-Za-z]{2})?$"}),
            "IsUSA": nullable(BOOLEAN),
            "RegisterToNewsletter": nullable(BOOLEAN),
            "IpAddress": nullable({"type": "string", "description": "IPv4 or IPv6 address of the person"}),
            "Referer": nullable({"type": "string", "maxLength": 2000}),
            "UserAgent": nullable({"type": "string", "maxLength": 1000}),
        },
        ["NameAndSurname", "Email"],
    ),
    "TrialActivation": obj({"Hash": {"type": "string", "minLength": 1}, "Id": ID}),
    "TrialActivationStatus": obj({"Code": {"type": "string", "enum": ["1", "2", "3"]}, "Description": STRING}),
    # Rows of MailStatisticsService: per recipient {Count, Email, IdRecipient}
    # or per URL {Count, IdMessage, Url}, and per message {Count, IdList,
    # IdMessage, Notes, Subject} with Date and Type or Url in the details.
    "StatisticsRow": obj({"Count": INTEGER}),
    "MessageStatisticsRow": obj(
        {"Count": INTEGER, "IdList": INTEGER, "IdMessage": ID, "Notes": nullable(STRING), "Subject": STRING}
    ),
}


# --- Operations ----------------------------------------------------------------------
#
# Each handler (by function name, or name.method when one handler serves
# two methods) maps to its summary, its response (a schema, "empty" for an
# empty body, or None for JSON whose shape is given inline), its request
# body and whether it is a paged collection.


def op(summary, response="empty", body=None, collection=False, query=()):
    return {"summary": summary, "response": response, "body": body, "collection": collection, "query": query}


def paged_op(summary, item_name, query=()):
    return op(summary, paged(item_name), collection=True, query=query)


IMPORT_QUERY = ("ConfirmEmail", "importType", "confirmMessage", "ignoreMobile", "clearMissingOrEmptyFields")
SEND_QUERY = ("SenderName", "SenderAddress", "datetime", "inGroups", "notInGroups")
OPERATIONS = {
    # Account
    "authentication_info": op("Account information", ref("AccountInfo")),
    "authentication_details": op("Account information with plan, language and credits", {"type": "object"}),
    "countries": op("ISO 3166-1 country codes and English names, in code order", array(ref("Country"))),
    "time_zones": op("Numbered time zones with their standard offsets, in code order", array(ref("TimeZone"))),
    # Lists and groups
    "console_lists": paged_op("Lists of the console (IdList, ListGuid)", "List"),
    "user_lists": paged_op("Lists of the console (idList, listGuid)", "UserList"),
    "create_list": op("Create a list; returns its id", INTEGER, body=ref("ListSettings")),
    "update_list": op("Update a list's settings", ref("ListSettingsResult"), body=ref("ListSettings")),
    "delete_list": op("Delete a list"),
    "list_groups": paged_op("Groups of a list", "Group"),
    "create_group": op("Create a group", ref("Group"), body=ref("GroupInput")),
    "update_group": op("Rename a group", ref("Group"), body=ref("GroupInput")),
    "delete_group": op("Delete a group"),
    "recipient_groups": paged_op("Groups of a list that a recipient belongs to", "Group"),
    # Recipients
    "dynamic_fields": paged_op("Recipient field definitions", "DynamicField"),
    "add_list_recipient": op(
        "Subscribe a recipient to a list; returns its id",
        INTEGER,
        body=ref("RecipientInput"),
        query=("ConfirmEmail",),
    ),
    "add_group_recipient": op(
        "Subscribe a recipient to a group's list and add it to the group; returns its id",
        INTEGER,
        body=ref("RecipientInput"),
        query=("ConfirmEmail",),
    ),
    "recipients_by_status": paged_op("Recipients of a list by subscription status", "Recipient"),
    "email_optins": paged_op("Subscription records of a list", "EmailOptin"),
    "group_recipients": paged_op("Members of a group", "Recipient"),
    "update_recipient_detail": op("Update a recipient found by idRecipient or Email", ref("Recipient"), body=ref("RecipientInput")),
    "unsubscribe_from_list": op("Unsubscribe a recipient from a list"),
    "unsubscribe_from_group": op("Remove a recipient from a group"),
    "remove_from_list": op("Remove a recipient from a list"),
    "remove_from_all_lists": op("Remove a recipient from every list"),
    "force_subscribe": op("Subscribe a known recipient to a list without confirmation"),
    "add_to_group": op("Add a known recipient to a group"),
    # Bulk imports (integrations.rest)
    "import_list_recipients": op(
        "Import recipients into a list; returns the import id",
        INTEGER,
        body=array(ref("RecipientInput")),
        query=IMPORT_QUERY,
    ),
    "import_group_recipients": op(
        "Import recipients into a group; returns the import id",
        INTEGER,
        body=array(ref("RecipientInput")),
        query=(*IMPORT_QUERY, "removeFromPrevGroups"),
    ),
    "import_sms_list_recipients": op(
        "Import SMS recipients into a list; returns the import id", INTEGER, body=array(ref("RecipientInput"))
    ),
    "import_sms_group_recipients": op(
        "Import SMS recipients into a group; returns the import id", INTEGER, body=array(ref("RecipientInput"))
    ),
    "import_status": op("Status of one import", ref("ImportStatus")),
    "import_sending": op("Id of the sending that holds an import's confirmation requests", ID),
    "imports": paged_op("Imports of the console, newest first", "ImportStatus"),
    # Messages
    "create_message": op("Create an e-mail message", ref("MessageCreated"), body=ref("MessageInput")),
    "create_from_template": op("Create a message from a template", ref("MessageCreated")),
    "read_message": op("Message details", ref("MessageDetails")),
    "copy_message": op("Copy a message", ref("MessageCreated")),
    "update_message": op("Update a message", ref("MessageDetails"), body=ref("MessageInput")),
    "delete_message": op("Delete a message"),
    "enable_dynamic_fields": op("Switch dynamic fields of a message on or off"),
    "online_visibility": op("Publish a message in the online archive or hide it", body=BOOLEAN),
    "list_messages": paged_op("Messages of a list", "MessageItem", query=("tags",)),
    "online_messages": paged_op("Messages of a list published online", "PublishedMessage"),
    "archived_messages": paged_op("Messages of a list that were sent", "PublishedMessage"),
    "user_messages": paged_op("Messages of every list", "MessageItem"),
    "list_tags": op("Tags of a list", array(ref("Tag"))),
    "create_tag": op("Create a tag from a JSON string", ref("Tag"), body={"type": "string", "minLength": 1}),
    "update_tag": op("Rename or switch a tag", ref("Tag"), body=ref("TagInput")),
    "delete_tag": op("Delete a tag"),
    "list_templates": paged_op("Message templates", "Template"),
    "read_template": op("One message template", ref("Template")),
    "list_attachments": op("Attachments of a message, in slot order", array(ref("Attachment"))),
    "upload_attachment": op(
        f"Store a file in an attachment slot (1 to {MESSAGE_ATTACHMENT_SLOTS}), replacing the file there",
        body=ref("AttachmentUpload"),
    ),
    "delete_attachment": op("Delete the file in an attachment slot"),
    "list_images": op("Image URLs of the library", array(STRING)),
    "upload_image": op("Upload an image; returns its URL", STRING, body=ref("ImageUpload")),
    "delete_image": op("Delete an image named by its URL", body=STRING),
    # Sendings
    "send_to_list": op("Send a message to its list", ref("SendResult"), query=SEND_QUERY),
    "send_to_group": op("Send a message to a group", ref("SendResult"), query=SEND_QUERY[:3]),
    "send_to_recipient": op("Send a message to one recipient", ref("SendResult"), body=ref("SingleSend")),
    "send_history": paged_op("Sendings of a message", "Sending"),
    "sending_queue": paged_op("Sendings in a queue", "Sending"),
    "start_now": op("Start a deferred or stopped sending now"),
    "deferred.get": op("Earliest allowed start date", STRING),
    "deferred.post": op("Schedule a deferred or stopped sending", body=ref("DeferredDate")),
    "stop": op("Stop a sending"),
    "delete_sending": op("Delete a stopped sending"),
    # SMTP+ users
    "smtp_plus_priorities": op("SMTP+ priority codes and names", array(ref("SmtpPlusPriority"))),
    "create_smtp_plus_user": op(
        "Create an SMTP+ user for a list; the answer shows its password this one time",
        ref("SmtpPlusUser"),
        body=ref("SmtpPlusUserInput"),
    ),
    # SMS
    "create_sms": op("Create an SMS message", ref("SmsMessage"), body=ref("SmsInput")),
    "list_sms": paged_op("SMS messages of a list", "SmsMessage"),
    "read_sms": op("One SMS message", ref("SmsMessage")),
    "update_sms": op("Update an SMS message", ref("SmsMessage"), body=ref("SmsInput")),
    "send_sms_to_list": op("Send an SMS message to its list", ref("SendResult")),
    "send_sms_to_group": op("Send an SMS message to a group", ref("SendResult")),
    "send_sms_to_number": op("Send an SMS message to one number", ref("SendResult"), body=ref("SmsSingleSend")),
    "sms_sending_queue": paged_op("SMS sendings in a queue: due, scheduled for later, or paused and failed", "Sending"),
    "sms_report": op("Delivery report of an SMS message", ref("SmsReport")),
    "sms_report_details": paged_op("Deliveries of an SMS message", "SmsReportItem"),
    # Statistics
    "message_count": op("Number of rows of a message statistic, without filterby", INTEGER),
    "message_list": paged_op("Rows of a message statistic: per recipient, or per link URL", "StatisticsRow"),
    "recipient_count": op("Number of rows of a recipient statistic, without filterby", INTEGER),
    "recipient_list": paged_op("Rows of a recipient statistic, per message or per event", "MessageStatisticsRow"),
    # PublicService
    "trial_activation": op(
        "Request a trial console; the person receives an activation link by e-mail",
        ref("TrialActivation"),
        body=ref("TrialActivationInput"),
    ),
    "trial_activation_status": op(
        "Status of a trial request: 1 pending, 2 activated, 3 expired",
        ref("TrialActivationStatus"),
        body=ref("TrialActivation"),
    ),
}
PAGING_QUERY = ("pageSize", "pageNumber", "filterby", "orderby")
ERROR_STATUSES = {
    "400": "Malformed request or invalid parameter",
    "401": "Missing, invalid or expired access token, or wrong client credentials",
    "404": "Unknown id or path",
    "405": "Method not allowed on this path",
    "429": "Too many calls per second on this route",
}


# --- Transactional SMS API v2.0 ---------------------------------------------------------
#
# Responses are {"Code","Message","Status"} plus the keys of each call, not
# the REST error envelope; docs/transactional-sms.md lists the codes.

TRANSACTIONAL_ERROR_STATUSES = {
    "400": "Invalid body or field",
    "401": "Missing or wrong Basic credentials of the console user",
    "403": "Wrong ListGuid or ListSecret, no ListSecret on the list, or console not active",
    "404": "Unknown console or list",
    "405": "Method not allowed on this path",
    "413": "Request body too large",
}
TRANSACTIONAL_ANSWER = {
    "Code": STRING,
    "Message": STRING,
    "Status": {"type": "string", "enum": ["done", "error"]},
}
SMS_REQUEST = {
    "type": "object",
    "required": ["Content", "ListGuid", "ListSecret", "Recipient"],
    "properties": {
        "Content": STRING,
        "ListGuid": STRING,
        "ListSecret": STRING,
        "Recipient": {"type": "string", "description": "Mobile number as +39…, 0039… or national digits."},
        "CampaignCode": STRING,
        "DynamicFields": array(obj({"N": STRING, "V": STRING})),
        "isUnicode": {"type": "integer", "enum": [0, 1]},
        "Sender": {"type": "string", "pattern": "^[A-Za-z0-9]{0,11}$"},
    },
}
# The examples name the demo console's list 1, so the explicit examples
# reach a real list.
ACCOUNT_AND_LIST = [
    {"name": "accountId", "in": "path", "required": True, "schema": ID, "example": 1234},
    {"name": "listId", "in": "path", "required": True, "schema": ID, "example": 1},
]


def transactional_operation(summary, operation_id, success, parameters, body=None, basic=False):
    responses = {"200": {"description": "Success", "content": {"application/json": {"schema": success}}}}
    for status, description in TRANSACTIONAL_ERROR_STATUSES.items():
        if status == "401" and not basic:
            continue
        responses[status] = {"description": description, "content": {"application/json": {"schema": ref("TransactionalError")}}}
    document = {
        "summary": summary,
        "operationId": operation_id,
        "parameters": parameters,
        "responses": responses,
        "security": [{"basic": []}] if basic else [],
    }
    if body is not None:
        document["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return document


def transactional_sms_paths():
    list_secret = obj({**TRANSACTIONAL_ANSWER, "IdList": ID, "ListGuid": STRING, "ListSecret": nullable(STRING)})
    sms_sent = obj({**TRANSACTIONAL_ANSWER, "DeliveryId": ID, "Cost": {"type": "integer", "minimum": 1}})
    secret_parameters = ACCOUNT_AND_LIST[1:]
    return {
        "/api/v2.0/sms/{accountId}/{listId}": {
            "post": transactional_operation(
                "Send one SMS to a recipient subscribed to the list by SMS", "post_sms", sms_sent, ACCOUNT_AND_LIST, SMS_REQUEST
            ),
        },
        "/api/v2.0/lists/{listId}/listsecret": {
            method: transactional_operation(summary, f"{method}_listsecret", list_secret, secret_parameters, basic=True)
            for method, summary in (
                ("get", "Read the list's ListSecret (null when it has none)"),
                ("post", "Create the list's ListSecret unless it has one"),
                ("delete", "Remove the list's ListSecret, which turns transactional SMS off"),
            )
        },
    }


# --- Building the document -----------------------------------------------------------


def spell_route(route):
    """Turn a lower-case route with converters into an OpenAPI path in MailUp's spelling."""
    segments = []
    for segment in route.split("/"):
        if segment.startswith("<"):
            segments.append("{" + segment.strip("<>").partition(":")[2] + "}")
        else:
            segments.append(SEGMENT_NAMES.get(segment, segment[:1].upper() + segment[1:]))
    return "/" + "/".join(segments)


# Schemas of Django's path converters; <str:…> appears only in the true/false flag of EnableDynamicFields.
PATH_CONVERTER_SCHEMAS = {"id": ID, "int": {"type": "integer", "minimum": 0, "maximum": MAX_ID}}


def path_parameters(route):
    parameters = []
    for segment in route.split("/"):
        if not segment.startswith("<"):
            continue
        converter, _, name = segment.strip("<>").partition(":")
        schema = PATH_CONVERTER_SCHEMAS.get(converter, {"type": "string", "enum": ["true", "false"]})
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def query_parameters(spec):
    parameters = []
    if spec["collection"]:
        parameters += [
            {"name": "pageSize", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}},
            {"name": "pageNumber", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID}},
            {"name": "filterby", "in": "query", "schema": STRING},
            {"name": "orderby", "in": "query", "schema": STRING},
        ]
    for name in spec["query"]:
        parameters.append({"name": name, "in": "query", "schema": STRING})
    return parameters


def operation_spec(handler, method):
    """Return the OPERATIONS entry of a handler serving `method` (lower case), or None."""
    name = handler.__name__
    return OPERATIONS.get(f"{name}.{method}") or OPERATIONS.get(name)


def request_body_schema(handler, method):
    """Return the request body schema of a handler, with $ref resolved, or None when it takes no body."""
    spec = operation_spec(handler, method)
    if spec is None or spec["body"] is None:
        return None
    return resolve_refs(spec["body"])


def resolve_refs(schema):
    """Return `schema` with every `$ref` to a component replaced by the component itself."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return resolve_refs(COMPONENTS[schema["$ref"].rpartition("/")[2]])
        return {key: resolve_refs(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [resolve_refs(value) for value in schema]
    return schema


def operation(route, method, handler, security):
    name = handler.__name__
    spec = operation_spec(handler, method)
    if spec is None:
        raise LookupError(f"The REST handler {handler.__module__}.{name} has no entry in mailup_sim.openapi.OPERATIONS.")

    success = {"description": "Success"}
    if spec["response"] != "empty":
        success["content"] = {"application/json": {"schema": spec["response"]}}
    responses = {"200": success}
    for status, description in ERROR_STATUSES.items():
        responses[status] = {"description": description, "content": {"application/json": {"schema": ref("Error")}}}

    document = {
        "summary": spec["summary"],
        "operationId": f"{method}_{route.replace('/', '_').replace('<', '').replace('>', '').replace(':', '_')}",
        "parameters": path_parameters(route) + query_parameters(spec),
        "responses": responses,
        "security": [{security: []}],
    }
    if spec["body"] is not None:
        document["requestBody"] = {"required": True, "content": {"application/json": {"schema": spec["body"]}}}
    return document


def service_paths(prefix, url_modules, security):
    paths = {}
    for module_name in url_modules:
        for pattern in import_module(module_name).urlpatterns:
            route = str(pattern.pattern)
            item = paths.setdefault(prefix + spell_route(route), {})
            for method, handler in sorted(pattern.callback.handlers.items()):
                item[method] = operation(route, method, handler, security)
    return paths


@lru_cache(maxsize=1)
def build_openapi():
    """Return the OpenAPI 3.0 document of every REST route as a dict."""
    paths = {}
    for prefix, modules, security in SERVICES:
        paths.update(service_paths(prefix, modules, security))
    paths.update(transactional_sms_paths())
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "mailup-sim REST API v1.1",
            "version": "1.1",
            "description": (
                "MailUp's REST API v1.1 as mailup-sim serves it, and the transactional SMS API v2.0. Paths and "
                "query names match without regard to case. Collections page with pageSize "
                f"(default {DEFAULT_PAGE_SIZE}) and zero-based pageNumber."
            ),
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": {
                **COMPONENTS,
                "TransactionalError": obj({**TRANSACTIONAL_ANSWER, "Status": {"type": "string", "enum": ["error"]}}),
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "PublicService: base64(client_id:client_secret). ListSecret: the console user and password.",
                },
            },
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def openapi_json(request):
    """Serve the OpenAPI document; it needs no token, like any API description."""
    response = HttpResponse(json.dumps(build_openapi(), indent=1), content_type="application/json; charset=utf-8")
    response["Access-Control-Allow-Origin"] = "*"
    return response
