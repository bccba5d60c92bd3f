"""Typed access to the parameters of the frontend pages."""

import uuid

from lists.errors import InvalidContact, InvalidParameter
from lists.models import MAX_FIELD_ID
from lists.services import Contact, fetch_lists
from lists.validation import (
    CONTROL_CHARACTERS,
    check_field_value,
    normalize_email,
    normalize_mobile,
    parse_field_pairs,
    parse_id,
    parse_id_list,
)
from mailup_sim.params import parse_bool

# Bounds the work one call can ask for; MailUp documents no limit.
MAX_LISTS_PER_CALL = 100


class FrontendForm:
    """The parameters of one frontend request, read in the context of an account.

    Methods raise InvalidParameter naming the parameter at fault, or
    InvalidContact for an address or number that is not valid.
    """

    def __init__(self, account, params):
        self.account = account
        self.params = params

    def text(self, name, max_length):
        value = self.params.get(name) or ""
        return CONTROL_CHARACTERS.sub("", value)[:max_length]

    def flag(self, name, default):
        value = parse_bool(self.params.get(name), default)
        if value is None:
            raise InvalidParameter(name, f"{name} must be 1, 0, true or false.")
        return value

    def required_id(self, name):
        raw = self.params.get(name)
        if raw is None or not raw.strip():
            raise InvalidParameter(name, f"{name} is missing.")
        return parse_id(raw, name)

    def optional_id(self, name, minimum=1):
        raw = self.params.get(name)
        if raw is None or not raw.strip():
            return None
        return parse_id(raw, name, minimum)

    def lists(self):
        """Return the lists named by `List` (comma-separated), in call order; `ListGuid`, when given, must name one."""
        raw = self.params.get("List") or ""
        ids = parse_id_list(raw, "List")
        if not ids:
            raise InvalidParameter("List", "List is missing.")
        if len(ids) > MAX_LISTS_PER_CALL:
            raise InvalidParameter("List", f"List names more than {MAX_LISTS_PER_CALL} lists.")

        found = {mailing_list.list_id: mailing_list for mailing_list in fetch_lists(self.account, ids)}
        missing = [list_id for list_id in ids if list_id not in found]
        if missing:
            raise InvalidParameter("List", f"No list {missing[0]} in account {self.account.console_id}.")
        lists = [found[list_id] for list_id in ids]

        guid = self.params.get("ListGuid")
        if guid is not None and guid.strip() and _parse_guid(guid) not in {m.guid for m in lists}:
            raise InvalidParameter("ListGuid", "ListGuid is not the GUID of the list named by List.")
        return lists

    def list_with_guid(self):
        """Return the one list named by `List`, whose GUID must be given as `ListGuid`."""
        list_id = self.required_id("List")
        mailing_list = self.account.lists.filter(list_id=list_id).order_by("pk").first()
        if mailing_list is None:
            raise InvalidParameter("List", f"No list {list_id} in account {self.account.console_id}.")
        if _parse_guid(self.params.get("ListGuid") or "") != mailing_list.guid:
            raise InvalidParameter("ListGuid", "ListGuid is missing or is not the GUID of the list.")
        return mailing_list

    def contact(self, mailing_list):
        """Return the Contact named by `Email` and/or `Sms`; the list gives the default mobile prefix."""
        email_raw = self.params.get("Email") or ""
        sms_raw = self.params.get("Sms") or ""
        if not email_raw.strip() and not sms_raw.strip():
            raise InvalidParameter("Email", "Email or Sms is required.")

        email = normalize_email(email_raw) if email_raw.strip() else None
        prefix, number = "", None
        if sms_raw.strip():
            prefix, number = normalize_mobile(sms_raw, mailing_list.default_prefix)
        return Contact(email=email, mobile_prefix=prefix, mobile_number=number)

    def fields(self):
        return parse_field_pairs(self.params.get("csvFldNames") or "", self.params.get("csvFldValues") or "")

    def form_fields(self):
        """Read subscribe.aspx's `campo1` … `campo39` parameters."""
        fields = {}
        for field_id in range(1, MAX_FIELD_ID + 1):
            value = self.params.get(f"campo{field_id}")
            if value is not None:
                fields[field_id] = check_field_value(f"campo{field_id}", value)
        return fields

    def group_ids(self, separators):
        return parse_id_list(self.params.get("Group") or "", "Group", separators)

    def confirm_list(self, lists):
        """Return the list named by `ConfirmListID`, which must be one of `lists`, or None."""
        list_id = self.optional_id("ConfirmListID")
        if list_id is None:
            return None
        for mailing_list in lists:
            if mailing_list.list_id == list_id:
                return mailing_list
        raise InvalidParameter("ConfirmListID", f"ConfirmListID {list_id} is not among the lists of the call.")

    def sender_name(self):
        """Read `dynsndname` for a From header, where a line break would start a new header."""
        return " ".join(self.text("dynsndname", max_length=200).split())

    def sender_email(self):
        raw = self.params.get("Dynsndmail") or ""
        if not raw.strip():
            return ""
        try:
            return normalize_email(raw)
        except InvalidContact:
            raise InvalidParameter("Dynsndmail", "Dynsndmail is not a valid e-mail address.") from None


def _parse_guid(raw):
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        return None
