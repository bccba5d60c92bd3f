"""Saved filters as sending targets: field and status conditions, AND/OR, live counts."""

import pytest

from lists.models import Group
from sending import services
from sending.filters import FilterError
from sending.models import SavedFilter
from tests.personas import demo_list
from tests.sending.campaigns import deliveries, newsletter, subscribe, unsubscribe


def save(conditions, match="all", name="filter", list_id=1):
    return services.save_filter(demo_list(list_id), name, conditions, match)


def count(**target):
    return services.count_target_recipients(demo_list(), **target)


@pytest.fixture
def people(demo):
    """Four subscribers of list 1 with a city (campo4) and a company (campo3), and one who left."""
    subscribe("anna@gmail.test", fields={4: "Milano", 3: "Rossi Srl"})
    subscribe("bruno@libero.test", fields={4: "milano"})
    subscribe("carla@gmail.test", fields={4: "Roma", 3: "Bianchi SpA"})
    subscribe("dario@outlook.test")
    subscribe("elena@gmail.test", fields={4: "Milano"})
    unsubscribe("elena@gmail.test")


def test_field_equals_ignores_case(people):
    milano = save([{"field": "campo4", "operator": "equals", "value": "MILANO"}])

    assert count(filters=[milano]) == 2


def test_field_name_is_stored_as_campo(people):
    saved = save([{"field": "città", "operator": "equals", "value": "Roma"}])

    assert saved.conditions == [{"field": "campo4", "operator": "equals", "value": "Roma"}]
    assert count(filters=[saved]) == 1


def test_and_or_combinations(people):
    conditions = [
        {"field": "email", "operator": "ends_with", "value": "@gmail.test"},
        {"field": "campo4", "operator": "equals", "value": "milano"},
    ]
    both = save(conditions, match="all", name="both")
    either = save(conditions, match="any", name="either")

    assert count(filters=[both]) == 1
    assert count(filters=[either]) == 3


def test_several_filters_all_or_any(people):
    milano = save([{"field": "campo4", "operator": "equals", "value": "Milano"}], name="milano")
    gmail = save([{"field": "email", "operator": "ends_with", "value": "@gmail.test"}], name="gmail")

    assert count(filters=[milano, gmail]) == 1
    assert count(filters=[milano, gmail], filters_match="all") == 1
    assert count(filters=[milano, gmail], filters_match="any") == 3
    with pytest.raises(ValueError, match="filters_match"):
        count(filters=[milano], filters_match="xor")


def test_sending_keeps_filters_match(people, sink):
    milano = save([{"field": "campo4", "operator": "equals", "value": "Milano"}], name="milano")
    gmail = save([{"field": "email", "operator": "ends_with", "value": "@gmail.test"}], name="gmail")

    sending = services.queue_sending(newsletter(), filters=[milano, gmail], filters_match="any")

    sink.wait_for(3, sending_id=sending.pk)
    assert sorted(deliveries(sending)) == ["anna@gmail.test", "bruno@libero.test", "carla@gmail.test"]


def test_missing_field_counts_as_empty(people):
    empty = save([{"field": "campo3", "operator": "is_empty"}], name="empty")
    not_rossi = save([{"field": "campo3", "operator": "not_contains", "value": "rossi"}], name="not rossi")

    assert count(filters=[empty]) == 2
    assert count(filters=[not_rossi]) == 3


def test_status_condition_or_field(people):
    unsubscribed_or_roma = save(
        [{"status": "unsubscribed"}, {"field": "campo4", "operator": "equals", "value": "Roma"}], match="any"
    )

    # A sending reaches subscribed recipients only, so Elena is not counted.
    assert count(filters=[unsubscribed_or_roma]) == 1


def test_filter_with_groups_and_exclusions(people):
    clienti = Group.objects.get(list=demo_list(), name="Clienti")
    prospect = Group.objects.get(list=demo_list(), name="Prospect")
    subscribe("anna@gmail.test", group_ids=[clienti.pk])
    subscribe("carla@gmail.test", group_ids=[clienti.pk, prospect.pk])
    gmail = save([{"field": "email", "operator": "contains", "value": "gmail"}])

    assert count(groups=[clienti], filters=[gmail]) == 2
    assert count(groups=[clienti], excluded_groups=[prospect], filters=[gmail]) == 1


def test_sending_to_filter_reaches_matches(people, sink):
    milano = save([{"field": "campo4", "operator": "equals", "value": "Milano"}])

    sending = services.queue_sending(newsletter(), filters=[milano])

    sink.wait_for(2, sending_id=sending.pk)
    assert sorted(deliveries(sending)) == ["anna@gmail.test", "bruno@libero.test"]


def test_filter_of_other_list_rejected(people):
    other = save([{"status": "subscribed"}], list_id=2)

    with pytest.raises(ValueError, match="does not belong"):
        services.queue_sending(newsletter(), filters=[other])
    with pytest.raises(ValueError, match="does not belong"):
        count(filters=[other])


@pytest.mark.parametrize(
    "conditions, message",
    [
        ([], "non-empty list"),
        ("status == 1", "non-empty list"),
        (["__import__('os')"], "must be an object"),
        ([{"field": "campo40", "operator": "equals", "value": "x"}], "unknown field"),
        ([{"field": "password", "operator": "equals", "value": "x"}], "unknown field"),
        ([{"field": "campo1", "operator": "regex", "value": ".*"}], "operator must be"),
        ([{"field": "campo1", "operator": "equals"}], "value must be"),
        ([{"field": "campo1", "operator": "equals", "value": "x" * 201}], "value must be"),
        ([{"status": "deleted"}], "status must be"),
        ([{"status": "subscribed", "field": "campo1"}], "status must be"),
    ],
)
def test_invalid_conditions_rejected(demo, conditions, message):
    with pytest.raises(FilterError, match=message):
        save(conditions)
    assert not SavedFilter.objects.exists()


def test_duplicate_name_rejected(demo):
    save([{"status": "subscribed"}], name="Tutti")

    with pytest.raises(ValueError, match="already has a filter"):
        save([{"status": "pending"}], name="Tutti")


def test_quote_in_value_is_data(people):
    subscribe("frank@example.com", fields={3: "O'Brien \"& Co\"; DROP TABLE"})
    quoted = save([{"field": "campo3", "operator": "equals", "value": "o'brien \"& co\"; drop table"}])

    assert count(filters=[quoted]) == 1


def test_filter_recipients_lists_any_status(people):
    unsubscribed = save([{"status": "unsubscribed"}])

    assert [recipient.email for recipient in services.filter_recipients(unsubscribed)] == ["elena@gmail.test"]
