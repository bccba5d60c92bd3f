"""Saved filters: conditions on recipient fields and subscription status, evaluated as one database query.

A condition is a small JSON object, validated here before it is stored and
translated into Django lookups when a sending resolves its target. No
condition is ever evaluated as code.

    {"field": "campo3", "operator": "contains", "value": "Srl"}
    {"field": "email", "operator": "ends_with", "value": "@gmail.test"}
    {"status": "subscribed"}

Fields are `campo1` to `campo39`, a field name of the account (stored as
its `campoN`), `email` or `mobile`. Text comparisons ignore case.
"""

from functools import reduce
from operator import and_, or_

from django.db.models import Func, Q, TextField, Value
from django.db.models.functions import Coalesce

from lists.models import MAX_FIELD_ID, MAX_FIELD_VALUE_LENGTH, Channel, Subscription

# operator -> (lookup on the value, whether the condition is negated)
TEXT_OPERATORS = {
    "equals": ("iexact", False),
    "not_equals": ("iexact", True),
    "contains": ("icontains", False),
    "not_contains": ("icontains", True),
    "starts_with": ("istartswith", False),
    "ends_with": ("iendswith", False),
    "is_empty": ("exact", False),
    "is_not_empty": ("exact", True),
}
VALUELESS_OPERATORS = {"is_empty", "is_not_empty"}
STATUSES = {choice.value for choice in Subscription.Status}
MAX_CONDITIONS = 50


class FilterError(ValueError):
    """An invalid saved filter; the message names the condition and the problem."""


class JsonTextValue(Func):
    """The text value stored under one key of a JSON object column, or NULL.

    Django's JSON key transforms read a numeric key such as "3" as an array
    index, and recipient fields are stored under numeric keys, so the SQL
    is written per backend with the key quoted as an object member.
    """

    output_field = TextField()

    def __init__(self, column, key):
        self.key = key
        super().__init__(column)

    def as_sql(self, compiler, connection, **extra_context):
        raise NotImplementedError(f"JsonTextValue has no SQL for the {connection.vendor} backend.")

    def as_sqlite(self, compiler, connection, **extra_context):
        column_sql, params = compiler.compile(self.source_expressions[0])
        return f"json_extract({column_sql}, %s)", [*params, f'$."{self.key}"']

    def as_postgresql(self, compiler, connection, **extra_context):
        column_sql, params = compiler.compile(self.source_expressions[0])
        return f"({column_sql} ->> %s)", [*params, self.key]


def clean_conditions(conditions, field_names):
    """Return the conditions in stored form, or raise FilterError naming the first invalid one.

    `field_names` maps lower-case field names of the account to their ids,
    so `{"field": "nome"}` is stored as `{"field": "campo1"}`.
    """
    if not isinstance(conditions, list) or not conditions:
        raise FilterError("conditions must be a non-empty list.")
    if len(conditions) > MAX_CONDITIONS:
        raise FilterError(f"A filter has at most {MAX_CONDITIONS} conditions, not {len(conditions)}.")
    return [_clean_condition(position, condition, field_names) for position, condition in enumerate(conditions, 1)]


def _clean_condition(position, condition, field_names):
    if not isinstance(condition, dict):
        raise FilterError(f"Condition {position} must be an object.")
    if "status" in condition:
        return _clean_status(position, condition)

    field = _clean_field(position, condition.get("field"), field_names)
    operator = condition.get("operator")
    if operator not in TEXT_OPERATORS:
        raise FilterError(f"Condition {position}: operator must be one of {', '.join(TEXT_OPERATORS)}.")
    if operator in VALUELESS_OPERATORS:
        return {"field": field, "operator": operator}

    value = condition.get("value")
    if not isinstance(value, str) or not value or len(value) > MAX_FIELD_VALUE_LENGTH:
        raise FilterError(
            f"Condition {position}: value must be a non-empty string of at most {MAX_FIELD_VALUE_LENGTH} characters."
        )
    return {"field": field, "operator": operator, "value": value}


def _clean_status(position, condition):
    status = condition["status"]
    if set(condition) != {"status"} or status not in STATUSES:
        raise FilterError(f"Condition {position}: status must be one of {', '.join(sorted(STATUSES))}.")
    return {"status": status}


def _clean_field(position, field, field_names):
    if not isinstance(field, str) or not field:
        raise FilterError(f"Condition {position}: field is missing.")
    name = field.lower()
    if name in ("email", "mobile"):
        return name
    if name.startswith("campo") and name[5:].isascii() and name[5:].isdigit() and 1 <= int(name[5:]) <= MAX_FIELD_ID:
        return f"campo{int(name[5:])}"
    if name in field_names:
        return f"campo{field_names[name]}"
    raise FilterError(f"Condition {position}: unknown field {field[:60]!r}. Use campo1 to campo{MAX_FIELD_ID}, a field name, email or mobile.")


def filter_query(saved_filter):
    """Return a Q over Recipient rows that matches the recipients the filter selects.

    The Q refers to the aliases `alias_fields` adds, so apply both to the
    same queryset.
    """
    parts = [_condition_query(saved_filter.list_id, condition) for condition in saved_filter.conditions]
    combine = or_ if saved_filter.match == saved_filter.Match.ANY else and_
    return reduce(combine, parts)


def alias_fields(queryset, saved_filters):
    """Add, as `filter_value_<field>` aliases, the text of every field the filters compare, never NULL."""
    fields = {
        condition["field"]
        for saved_filter in saved_filters
        for condition in saved_filter.conditions
        if "field" in condition
    }
    aliases = {f"filter_value_{field}": _field_expression(field) for field in sorted(fields)}
    return queryset.alias(**aliases) if aliases else queryset


def _field_expression(field):
    if field == "email":
        return Coalesce("email", Value(""))
    if field == "mobile":
        return Coalesce("mobile_number", Value(""))
    return Coalesce(JsonTextValue("fields", field[len("campo") :]), Value(""), output_field=TextField())


def _condition_query(list_id, condition):
    if "status" in condition:
        statuses = Subscription.objects.filter(
            list_id=list_id, channel=Channel.EMAIL, status=condition["status"]
        ).values("recipient_id")
        return Q(pk__in=statuses)

    lookup, negated = TEXT_OPERATORS[condition["operator"]]
    value = condition.get("value", "")
    query = Q(**{f"filter_value_{condition['field']}__{lookup}": value})
    return ~query if negated else query
