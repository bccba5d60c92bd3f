"""ConsoleService.svc of MailUp's REST API v1.1: account, lists, groups and recipients.

Views parse the request, call lists.services for every change, and shape
the response in MailUp's JSON. Plumbing (bearer check, error envelope,
paging) lives in mailup_sim.rest.
"""

import functools
import json
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import NamedTuple
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.db.models import F, Func, TextField
from django.utils import timezone

from lists import services
from lists.countries import country_names, is_country_code
from lists.models import AccountUser, Channel, FieldDefinition, Group, List, Recipient, Subscription, TrialActivation
from lists.rest_xml_recipients import recipient_xml_encoder
from lists.services import Contact
from lists.time_zones import TIME_ZONES
from lists.time_zones import describe as describe_time_zone
from lists.validation import (
    CONTROL_CHARACTERS,
    check_field_value,
    check_recipient_name,
    normalize_email,
    normalize_mobile,
    parse_id,
)
from mailup_sim import sql
from mailup_sim.filterby import FilterError, Property, field_key, parse_filter, parse_orderby
from mailup_sim.rest import (
    RestError,
    empty_response,
    json_response,
    paged_response,
    parse_bool_param,
    query_params,
    read_json_object,
    read_page,
)
from mailup_sim.rest_xml import wants_xml

# Reported as the platform version in Authentication/Info.
PLATFORM_VERSION = "9.0.0"
NEVER = "0001-01-01 00:00:00Z"
SIMULATOR_PLAN = "mailup-sim"
# Prefix of mobile numbers given without one when the recipient has none yet;
# the default of List.default_prefix.
DEFAULT_MOBILE_PREFIX = "0039"

LIST_PROPERTIES = {
    "idlist": Property("list_id", "int"),
    "id": Property("list_id", "int"),
    "name": Property("name"),
    "description": Property("description"),
    "listguid": Property("guid"),
}
GROUP_PROPERTIES = {
    "idgroup": Property("pk", "int"),
    "id": Property("pk", "int"),
    "name": Property("name"),
    "notes": Property("notes"),
}
# Addresses are stored in lower case, so comparisons on Email ignore case.
RECIPIENT_PROPERTIES = {
    "idrecipient": Property("pk", "int"),
    "id": Property("pk", "int"),
    "email": Property("email", casefold=True),
    "mobilenumber": Property("mobile_number"),
    "mobileprefix": Property("mobile_prefix"),
}
OPTIN_PROPERTIES = {
    "idrecipient": Property("recipient_id", "int"),
    "email": Property("recipient__email", casefold=True),
}
FIELD_PROPERTIES = {
    "id": Property("field_id", "int"),
    "description": Property("name"),
}
OPTIN_STATUS_NAMES = {
    Subscription.Status.SUBSCRIBED: "OPTIN",
    Subscription.Status.PENDING: "PENDING",
    Subscription.Status.UNSUBSCRIBED: "OPTOUT",
}


# --- Lookups and shared parsing --------------------------------------------


def get_list(account, list_id):
    mailing_list = next(iter(services.fetch_lists(account, [list_id])), None)
    if mailing_list is None:
        raise RestError(404, f"No list {list_id} in this console.")
    return mailing_list


def get_group(account, group_id):
    group = Group.objects.filter(pk=group_id, list__account=account).select_related("list__account").first()
    if group is None:
        raise RestError(404, f"No group {group_id} in this console.")
    return group


def filtered(queryset, params, properties):
    """Apply `filterby` and `orderby` to a queryset, or raise RestError(400) for an invalid expression."""
    query, ordering = parse_listing(params, properties)
    return queryset.filter(query).order_by(*ordering)


def parse_listing(params, properties, default_order=("pk",)):
    """Return the Q of `filterby` and the order_by() arguments of `orderby`; RestError(400) when invalid.

    `default_order` ends every ordering so pages are stable.
    """
    try:
        query = parse_filter(params.get("filterby"), properties)
        return query, parse_orderby(params.get("orderby"), properties, default=default_order)
    except FilterError as error:
        raise RestError(400, str(error)) from None


def paged(request, queryset, properties, shape):
    params = query_params(request)
    page = read_page(params)
    return paged_response(filtered(queryset, params, properties), page, shape)


def format_date(value):
    return value.strftime("%Y-%m-%d %H:%M:%S.000") if value else ""


# --- Account -------------------------------------------------------------------


def account_info(account):
    return {
        "AccountName": "",
        "Company": account.name,
        "ExpiryDate": NEVER,
        # A console opened through PublicService TrialActivation.
        "IsTrial": TrialActivation.objects.filter(account_id=account.pk).exists(),
        "UID": str(account.console_id),
        "Url": urlsplit(settings.PUBLIC_ORIGIN).hostname,
        "Username": account.console_username,
        "Version": PLATFORM_VERSION,
    }


def authentication_info(request):
    return json_response(account_info(request.account))


def authentication_details(request):
    """GET /Console/Authentication/Details: account info plus plan, language and credits.

    mailup-sim sells nothing, so the plan is a fixed name, renewal is off
    and every credit count is 0 (services.account_credits).
    """
    account = request.account
    credits = services.account_credits(account)
    admins = account.members.filter(role=AccountUser.Role.ADMIN).order_by("pk")
    details = {
        "AutoRenewal": False,
        "CreditsByList": [{"Credit": credit, "ListId": list_id} for list_id, credit in credits.by_list.items()],
        "Email": admins.values_list("user__email", flat=True).first() or "",
        "Lang": account.language,
        "Plan": SIMULATOR_PLAN,
        "TotalCredits": credits.total,
    }
    return json_response({**account_info(account), **details})


def countries(request):
    """GET /Console/List/Countries: every ISO 3166-1 alpha-2 code with its English name, in code order."""
    return json_response(
        [{"CountryCode": code, "CountryName": name} for code, name in country_names().items()]
    )


def time_zones(request):
    """GET /Console/TimeZones: MailUp's numbered time zones in code order, with today's standard offsets."""
    now = timezone.now()
    return json_response([describe_time_zone(time_zone, now) for time_zone in TIME_ZONES])


# --- Lists and groups ------------------------------------------------------------


def console_lists(request):
    """GET /Console/List: lists with `IdList` and `ListGuid`."""
    account = request.account
    return paged(
        request,
        List.objects.filter(account=account),
        LIST_PROPERTIES,
        lambda item: {
            "Company": account.name,
            "Description": item.description,
            "IdList": item.list_id,
            "ListGuid": str(item.guid),
            "Name": item.name,
        },
    )


def user_lists(request):
    """GET /Console/User/Lists: the same lists with `idList` and `listGuid`."""
    account = request.account
    return paged(
        request,
        List.objects.filter(account=account),
        LIST_PROPERTIES,
        lambda item: {
            "Company": account.name,
            "Description": item.description,
            "Name": item.name,
            "idList": item.list_id,
            "listGuid": str(item.guid),
        },
    )


# MailUp's list settings that the platform keeps as given (List.extra_settings).
EXTRA_LIST_SETTINGS = (
    "Business",
    "Customer",
    "CompanyName",
    "ContactName",
    "Address",
    "City",
    "CountryCode",
    "PermissionReminder",
    "WebSiteUrl",
    "UseDefaultSettings",
    "IdSettings",
    "Charset",
    "Format",
    "OptoutType",
    "HeaderListUnsubscriber",
    "HeaderXAbuse",
    "TimeZoneCode",
)
LIST_SETTING_DEFAULTS = {
    "HeaderListUnsubscriber": "<[listunsubscribe]>,<[mailto_uns]>",
    "HeaderXAbuse": "Please report abuse here: http://[host]/p",
}


def read_list_settings(request):
    """Read MailUp's list settings body into List field values for services.create_list and update_list."""
    document = read_json_object(request)
    texts = {}
    for name in ("Name", "OwnerEmail", "ReplyTo", "NLSenderName", "Description", "DefaultPrefix"):
        value = document.get(name)
        if value is not None and not isinstance(value, str):
            raise RestError(400, f"The list setting {name} must be a string.")
        if value and CONTROL_CHARACTERS.search(value):
            raise RestError(400, f"The list setting {name} must not contain control characters.")
        texts[name] = (value or "").strip()

    if not texts["Name"]:
        raise RestError(400, "The list setting Name is missing.")
    if not texts["OwnerEmail"]:
        raise RestError(400, "The list setting OwnerEmail (the sender address) is missing.")
    prefix = texts["DefaultPrefix"].replace("+", "00") or DEFAULT_MOBILE_PREFIX
    if not prefix.isascii() or not prefix.isdigit() or not prefix.startswith("00") or len(prefix) > 6:
        raise RestError(400, f"DefaultPrefix must be 00 and a country code, such as 0039, not {prefix[:20]!r}.")
    extra_settings = {name: document[name] for name in EXTRA_LIST_SETTINGS if name in document}
    country = extra_settings.get("CountryCode")
    if country not in (None, ""):
        if not is_country_code(country):
            raise RestError(400, f"CountryCode must be an ISO 3166-1 alpha-2 code such as IT, not {str(country)[:20]!r}.")
        extra_settings["CountryCode"] = country.upper()

    return {
        "name": texts["Name"][:200],
        "sender_email": normalize_email(texts["OwnerEmail"]),
        "sender_name": texts["NLSenderName"][:200] or texts["Name"][:200],
        "reply_to": normalize_email(texts["ReplyTo"]) if texts["ReplyTo"] else "",
        "description": texts["Description"],
        "default_prefix": prefix,
        "extra_settings": extra_settings,
    }


def shape_list_settings(mailing_list):
    settings_shape = {name: None for name in EXTRA_LIST_SETTINGS}
    settings_shape.update(LIST_SETTING_DEFAULTS)
    settings_shape.update(mailing_list.extra_settings)
    settings_shape.update(
        {
            "IdList": mailing_list.list_id,
            "Name": mailing_list.name,
            "Description": mailing_list.description,
            "OwnerEmail": mailing_list.sender_email,
            "ReplyTo": mailing_list.reply_to,
            "NLSenderName": mailing_list.sender_name,
            "DefaultPrefix": mailing_list.default_prefix,
            "ListGuid": str(mailing_list.guid),
        }
    )
    return settings_shape


def create_list(request):
    """POST /Console/List or /Console/User/Lists: the new list id as a bare number."""
    values = {**read_list_settings(request), "language": request.account.language}
    mailing_list = services.create_list(request.account, values)
    return json_response(mailing_list.list_id)


def update_list(request, list_id):
    """PUT /Console/List/{id} or /Console/User/List/{id}: the stored settings."""
    mailing_list = get_list(request.account, list_id)
    services.update_list(mailing_list, read_list_settings(request))
    return json_response(shape_list_settings(mailing_list))


def delete_list(request, list_id):
    services.delete_list(get_list(request.account, list_id))
    return empty_response()


def shape_group(group, list_id):
    # Every group of mailup-sim can be deleted; Count is null as in MailUp's lists of groups.
    return {
        "Count": None,
        "Deletable": True,
        "Name": group.name,
        "Notes": group.notes,
        "idGroup": group.pk,
        "idList": list_id,
    }


def list_groups(request, list_id):
    mailing_list = get_list(request.account, list_id)
    return paged(
        request,
        Group.objects.filter(list=mailing_list),
        GROUP_PROPERTIES,
        lambda group: shape_group(group, mailing_list.list_id),
    )


def read_group(request):
    """Read the Name and Notes of a group body; Deletable is ignored because every group can be deleted."""
    document = read_json_object(request)
    name = document.get("Name")
    notes = document.get("Notes") or ""
    if not isinstance(name, str) or not isinstance(notes, str):
        raise RestError(400, "Name and Notes of a group must be strings.")
    if CONTROL_CHARACTERS.search(name) or CONTROL_CHARACTERS.search(notes):
        raise RestError(400, "Name and Notes of a group must not contain control characters.")
    return name, notes


def create_group(request, list_id):
    mailing_list = get_list(request.account, list_id)
    name, notes = read_group(request)
    group = services.create_group(mailing_list, name, notes)
    return json_response(shape_group(group, mailing_list.list_id))


def get_list_group(account, list_id, group_id):
    mailing_list = get_list(account, list_id)
    group = Group.objects.filter(pk=group_id, list=mailing_list).first()
    if group is None:
        raise RestError(404, f"No group {group_id} in list {list_id}.")
    return group


def update_group(request, list_id, group_id):
    group = get_list_group(request.account, list_id, group_id)
    name, notes = read_group(request)
    services.update_group(group, name, notes)
    return json_response(shape_group(group, list_id))


def delete_group(request, list_id, group_id):
    services.delete_group(get_list_group(request.account, list_id, group_id))
    return empty_response()


# --- Recipients -------------------------------------------------------------------


def dynamic_fields(request):
    return paged(
        request,
        FieldDefinition.objects.filter(account=request.account),
        FIELD_PROPERTIES,
        lambda definition: {"Description": definition.name, "Id": definition.field_id},
    )


class FieldValue(Func):
    """The text of one recipient field in Recipient.fields, or NULL when it is unset.

    Django 5.2's JSON key transforms read a digit key such as "3" as an
    array index on SQLite and PostgreSQL, so the key is spelled out as an
    object member here. Only those two databases are supported.
    """

    output_field = TextField()

    def __init__(self, field_id):
        super().__init__(F("fields"))
        self.key = str(field_id)

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"JSON_EXTRACT({sql}, %s)", (*params, f'$."{self.key}"')

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} ->> %s)", (*params, self.key)


class LookedUpProperties(dict):
    """A properties table that remembers the names the filterby and orderby parsers looked up."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.looked_up = set()

    def get(self, key, default=None):
        self.looked_up.add(key)
        return super().get(key, default)


# The columns that recipient_shaper reads; a listing loads only these.
SHAPED_RECIPIENT_COLUMNS = ("pk", "name", "email", "mobile_prefix", "mobile_number", "fields")


def recipient_query(request, recipients):
    """Return a paged recipient listing, filterable and sortable by property and by Fields['name'].

    `recipients` is a Recipient queryset or a StatusListing.
    """
    definitions = field_definitions(request.account)
    field_properties = _field_properties(definitions)
    properties = LookedUpProperties(RECIPIENT_PROPERTIES)
    properties.update(field_properties)
    params = query_params(request)
    page = read_page(params)
    query, ordering = parse_listing(params, properties)

    # Only the fields that filterby or orderby name get an alias: compiling
    # an alias for each of the 39 fields costs more than the query itself.
    aliases = {
        field_properties[key].lookup: FieldValue(field_id)
        for key, field_id in _field_ids_by_key(definitions).items()
        if key in properties.looked_up
    }
    if isinstance(recipients, StatusListing) and not query and ordering == ["pk"]:
        # Without filterby and orderby the listing is a fixed statement, read in SQL written once per process.
        listing = recipients
    else:
        queryset = recipients.queryset() if isinstance(recipients, StatusListing) else recipients
        listing = queryset.alias(**aliases).filter(query).order_by(*ordering)
        listing = listing.only(*SHAPED_RECIPIENT_COLUMNS)
    if wants_xml(request):
        return paged_response(listing, page, encode_xml=recipient_xml_encoder(definitions))
    return paged_response(listing, page, encode=recipient_encoder(definitions))


@functools.lru_cache(maxsize=256)
def _field_properties(definitions):
    """Return the properties table entries of the dynamic fields `definitions`, keyed as in Fields['name']."""
    return {field_key(definition.name): Property(f"field_{definition.field_id}") for definition in definitions}


@functools.lru_cache(maxsize=256)
def _field_ids_by_key(definitions):
    return {field_key(definition.name): definition.field_id for definition in definitions}


class ListedRecipient(NamedTuple):
    """The columns of a recipient that a listing page shows, read without building a model instance."""

    pk: int
    name: str
    email: str | None
    mobile_prefix: str
    mobile_number: str | None
    fields: dict


class StatusListing:
    """The recipients of one list in one subscription status on the e-mail channel, ordered by id.

    It offers the count() and slicing that paged_response uses, in SQL
    written once per process, and queryset() for filtered or sorted listings.
    """

    def __init__(self, mailing_list, status):
        self.mailing_list = mailing_list
        self.status = status

    def queryset(self):
        return Recipient.objects.filter(
            subscriptions__list=self.mailing_list,
            subscriptions__channel=Channel.EMAIL,
            subscriptions__status=self.status,
        )

    def count(self):
        # Every subscription has its recipient (a foreign key constraint), so
        # the count needs no join and reads only the (list, channel, status)
        # index. On SQLite that still reads about 50 ns per entry, which for
        # 10,000 subscribers cost as much as the rest of the page.
        return sql.fetch_value_until_change(_status_count_sql(), self._params())

    def __getitem__(self, window):
        limit = window.stop - window.start
        params = [*self._params(), limit, window.start]
        rows = sql.fetch_rows(Recipient, SHAPED_RECIPIENT_COLUMNS, _status_page_sql(), params)
        return [
            ListedRecipient(
                row["id"], row["name"], row["email"], row["mobile_prefix"], row["mobile_number"], row["fields"]
            )
            for row in rows
        ]

    def _params(self):
        return [self.mailing_list.pk, Channel.EMAIL, self.status]


@functools.cache
def _status_count_sql():
    return (
        f"SELECT COUNT(*) FROM {sql.table(Subscription)} "
        "WHERE list_id = %s AND channel = %s AND status = %s"
    )


@functools.cache
def _status_page_sql():
    columns = sql.select_list(Recipient, SHAPED_RECIPIENT_COLUMNS, "recipient")
    return (
        f"SELECT {columns} FROM {sql.table(Recipient)} recipient "
        f"JOIN {sql.table(Subscription)} subscription ON subscription.recipient_id = recipient.id "
        "WHERE subscription.list_id = %s AND subscription.channel = %s AND subscription.status = %s "
        # subscription.recipient_id equals recipient.id, and naming the
        # indexed column lets the page walk the (list, channel, status,
        # recipient) index in order.
        "ORDER BY subscription.recipient_id LIMIT %s OFFSET %s"
    )


class FieldColumn(NamedTuple):
    """The id and name of one of an account's dynamic fields, as a recipient listing shows it."""

    field_id: int
    name: str


def field_definitions(account):
    """Return the account's dynamic fields as a tuple of FieldColumn in field id order.

    The tuple is hashable, so the tables built from it are cached per set
    of definitions. Like a listing's count, it is read again only after the
    database changed (see sql.fetch_value_until_change), because a client
    walking a list page by page reads the same 39 fields on every page.
    """
    return sql.cached_until_change(("field_definitions", account.pk), lambda: _read_field_definitions(account))


def _read_field_definitions(account):
    with connection.cursor() as cursor:
        cursor.execute(_field_definitions_sql(), [account.pk])
        return tuple(FieldColumn(field_id, name) for field_id, name in cursor.fetchall())


@functools.cache
def _field_definitions_sql():
    columns = sql.select_list(FieldDefinition, ("field_id", "name"))
    return f"SELECT {columns} FROM {sql.table(FieldDefinition)} WHERE account_id = %s ORDER BY field_id"


def recipient_shaper(account, definitions=None):
    """Return a function that shapes recipients with every field of the account, in id order.

    `definitions` are the account's FieldColumn tuples in id order, when
    the caller has already read them.
    """
    if definitions is None:
        definitions = field_definitions(account)
    # Recipient.fields is keyed by the field id as a string.
    columns = [(definition.name, definition.field_id, str(definition.field_id)) for definition in definitions]

    def shape(recipient):
        values = recipient.fields
        return {
            "idRecipient": recipient.pk,
            "Name": recipient.name,
            "Email": recipient.email or "",
            "MobilePrefix": recipient.mobile_prefix or None,
            "MobileNumber": recipient.mobile_number or None,
            "Fields": [
                {"Description": name, "Id": field_id, "Value": values.get(key, "")} for name, field_id, key in columns
            ],
        }

    return shape


@functools.lru_cache(maxsize=256)
def recipient_encoder(definitions):
    """Return a function that writes a recipient as the JSON text of json.dumps(recipient_shaper(...)(recipient)).

    `definitions` is a tuple of FieldColumn. The constant part of each
    field's object is encoded once per set of definitions, not once per
    recipient, because a page of 20 recipients with 39 fields each took
    most of the listing's time in the shaping and in json.dumps. Building
    those parts took a tenth of a millisecond per page, so the encoder is
    cached.
    """
    columns = []
    for definition in definitions:
        prefix = f'{{"Description": {json.dumps(definition.name)}, "Id": {json.dumps(definition.field_id)}, "Value": '
        # Most values are empty, so the whole text of an empty field is kept too.
        columns.append((prefix, str(definition.field_id), prefix + '""}'))
    all_empty = ", ".join(empty for _prefix, _key, empty in columns)

    def encode_value(value):
        # The C encoder that json.dumps uses for strings with ensure_ascii.
        return encode_basestring_ascii(value) if type(value) is str else json.dumps(value)

    def encode_fields(values):
        if not values:
            return all_empty
        return ", ".join(
            [
                empty if (value := values.get(key, "")) == "" else prefix + encode_value(value) + "}"
                for prefix, key, empty in columns
            ]
        )

    def encode(recipient):
        # Same keys and spacing as json.dumps of the shaped dict. The columns
        # are strings or None, as the database returns them.
        name = encode_basestring_ascii(recipient.name)
        email = encode_basestring_ascii(recipient.email or "")
        prefix = encode_basestring_ascii(recipient.mobile_prefix) if recipient.mobile_prefix else "null"
        number = encode_basestring_ascii(recipient.mobile_number) if recipient.mobile_number else "null"
        return (
            f'{{"idRecipient": {int(recipient.pk)}, "Name": {name}, "Email": {email}, "MobilePrefix": {prefix}, '
            f'"MobileNumber": {number}, "Fields": [{encode_fields(recipient.fields)}]}}'
        )

    return encode


def read_contact(document, default_prefix):
    """Read Email, MobilePrefix and MobileNumber of a recipient body into a Contact."""
    email = document.get("Email") or ""
    number = document.get("MobileNumber") or ""
    prefix = document.get("MobilePrefix") or ""
    if not all(isinstance(value, str) for value in (email, number, prefix)):
        raise RestError(400, "Email, MobilePrefix and MobileNumber must be strings.")

    contact_email = normalize_email(email) if email.strip() else None
    if not number.strip():
        return Contact(email=contact_email)

    prefix = prefix.strip()
    if prefix.startswith("+"):
        prefix = "00" + prefix[1:]
    mobile_prefix, mobile_number = normalize_mobile(prefix + number.strip(), default_prefix)
    return Contact(email=contact_email, mobile_prefix=mobile_prefix, mobile_number=mobile_number)


def read_fields(document):
    """Read `Fields: [{"Id":1,"Value":"…"}]` into {field id: value}."""
    items = document.get("Fields") or []
    if not isinstance(items, list):
        raise RestError(400, "Fields must be an array of {Id, Value} objects.")

    fields = {}
    for item in items:
        if not isinstance(item, dict):
            raise RestError(400, "Each item of Fields must be an object with Id and Value.")
        field_id = _read_field_id(item.get("Id"))
        value = _read_field_value(field_id, item.get("Value"))
        fields[field_id] = check_field_value(f"Fields Id {field_id}", value)
    return fields


def _read_field_value(field_id, raw):
    """Return a field value as text: MailUp stores strings, so only a string, a number or null is accepted.

    JSON numbers arrive as int and float, or as Decimal from ijson in bulk
    imports. true and false are rejected with arrays and objects, because
    str() would store "True" or "['a']" in place of the value.
    """
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, (int, float, Decimal)) and not isinstance(raw, bool):
        return str(raw)
    raise RestError(
        400, f"The Value of Fields Id {field_id} must be a string or a number, not {_json_type_name(raw)}."
    )


def _json_type_name(value):
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _read_field_id(raw):
    text = str(raw).strip() if isinstance(raw, (int, str)) and not isinstance(raw, bool) else ""
    # int() raises ValueError on thousands of digits, so longer strings never reach it.
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or not 1 <= int(text) <= 39:
        raise RestError(400, f"Field Id must be an integer from 1 to 39, not {str(raw)[:40]!r}.")
    return int(text)


def read_recipient(request, default_prefix):
    """Read a recipient body into (Contact, fields, name)."""
    document = read_json_object(request)
    contact = read_contact(document, default_prefix)
    if not contact.channels:
        raise RestError(400, "The recipient needs an Email or a MobileNumber.")
    return contact, read_fields(document), read_name(document)


def read_name(document):
    """Return the recipient's `Name`, or "" when the body has none."""
    name = document.get("Name")
    if name is None:
        return ""
    if not isinstance(name, str):
        raise RestError(400, f"Name must be a string, not {_json_type_name(name)}.")
    return check_recipient_name(name)


def wants_confirmation(request):
    params = query_params(request)
    return parse_bool_param(params, "ConfirmEmail") or parse_bool_param(params, "confirmMessage")


def add_list_recipient(request, list_id):
    mailing_list = get_list(request.account, list_id)
    contact, fields, name = read_recipient(request, mailing_list.default_prefix)
    recipient = services.add_recipient(
        request.account, mailing_list, contact, fields, confirm=wants_confirmation(request), name=name
    )
    return json_response(recipient.pk)


def add_group_recipient(request, group_id):
    group = get_group(request.account, group_id)
    contact, fields, name = read_recipient(request, group.list.default_prefix)
    recipient = services.add_recipient(
        request.account,
        group.list,
        contact,
        fields,
        group_ids=[group.pk],
        confirm=wants_confirmation(request),
        name=name,
    )
    return json_response(recipient.pk)


def recipients_by_status(status):
    """Build the view of `GET List/{id}/Recipients/Subscribed|Unsubscribed|Pending`."""

    def view(request, list_id):
        mailing_list = get_list(request.account, list_id)
        return recipient_query(request, StatusListing(mailing_list, status))

    view.__name__ = "recipients_by_status"
    return view


def group_recipients(request, group_id):
    """GET /Console/Group/{id}/Recipients: members of the group, whatever their subscription status."""
    group = get_group(request.account, group_id)
    recipients = Recipient.objects.filter(group_memberships__group=group)
    return recipient_query(request, recipients)


def email_optins(request, list_id):
    mailing_list = get_list(request.account, list_id)
    subscriptions = Subscription.objects.filter(list=mailing_list, channel=Channel.EMAIL).select_related("recipient")
    return paged(request, subscriptions, OPTIN_PROPERTIES, shape_optin)


def shape_optin(subscription):
    unsubscribed = subscription.status == Subscription.Status.UNSUBSCRIBED
    return {
        "Email": subscription.recipient.email or "",
        "Optin_Date": format_date(subscription.optin_at),
        "Optin_Request_Date": format_date(subscription.requested_at),
        "Optin_Request_IP": subscription.request_ip,
        "Optout_Date": format_date(subscription.optout_at) if unsubscribed else "",
        "Optout_MsgID": subscription.optout_message_id if unsubscribed else None,
        "Optout_Subtype": None,
        "Optout_Type": (subscription.optout_reason or None) if unsubscribed else None,
        "Status": OPTIN_STATUS_NAMES[subscription.status],
        "idRecipient": subscription.recipient_id,
    }


def update_recipient_detail(request):
    """PUT /Console/Recipient/Detail: find the recipient by idRecipient, else by Email."""
    document = read_json_object(request)
    recipient = _find_recipient_for_update(request.account, document)
    default_prefix = recipient.mobile_prefix or DEFAULT_MOBILE_PREFIX
    contact = read_contact(document, default_prefix)
    recipient = services.update_recipient(
        request.account, recipient, contact, read_fields(document), name=read_name(document)
    )
    return json_response(recipient_shaper(request.account)(recipient))


def _find_recipient_for_update(account, document):
    raw_id = document.get("idRecipient")
    if raw_id not in (None, "", 0):
        if isinstance(raw_id, bool) or not isinstance(raw_id, (int, str)):
            raise RestError(400, f"idRecipient must be a positive integer, not {str(raw_id)[:40]!r}.")
        return services.find_account_recipient(account, parse_id(str(raw_id), "idRecipient"))

    email = document.get("Email")
    if not isinstance(email, str) or not email.strip():
        raise RestError(400, "Give idRecipient or Email to name the recipient to update.")
    recipient = services.find_recipient(account, Contact(email=normalize_email(email)))
    if recipient is None:
        raise RestError(404, f"No recipient with the address {email.strip()[:80]} in this console.")
    return recipient


def unsubscribe_from_list(request, list_id, recipient_id):
    services.unsubscribe_by_id(get_list(request.account, list_id), recipient_id)
    return empty_response()


def unsubscribe_from_group(request, group_id, recipient_id):
    services.remove_from_group(get_group(request.account, group_id), recipient_id)
    return empty_response()


def remove_from_list(request, list_id, recipient_id):
    services.remove_from_list(get_list(request.account, list_id), recipient_id)
    return empty_response()


def force_subscribe(request, list_id, recipient_id):
    services.force_subscribe(get_list(request.account, list_id), recipient_id)
    return empty_response()


def add_to_group(request, group_id, recipient_id):
    services.add_to_group(get_group(request.account, group_id), recipient_id)
    return empty_response()


def recipient_groups(request, list_id, recipient_id):
    """GET /Console/List/{id}/Recipient/{r}/Groups: the list's groups that the recipient belongs to."""
    mailing_list = get_list(request.account, list_id)
    recipient = services.find_account_recipient(request.account, recipient_id)
    groups = Group.objects.filter(list=mailing_list, memberships__recipient=recipient)
    return paged(request, groups, GROUP_PROPERTIES, lambda group: shape_group(group, mailing_list.list_id))


def remove_from_all_lists(request, recipient_id):
    services.remove_from_all_lists(request.account, recipient_id)
    return empty_response()

