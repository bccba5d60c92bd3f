"""Saved filters in the panel: the editor, the live count, and sending to a filter."""

import pytest

from lists.models import Recipient, Subscription
from sending import services as sending_services
from sending.models import SavedFilter, Sending

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(demo_account):
    """Three subscribed recipients of list 1 whose field 1 (first name) is Anna, Bruno and Anita."""
    mailing_list = demo_account.lists.get(list_id=1)
    for name in ("Anna", "Bruno", "Anita"):
        recipient = Recipient.objects.create(account=demo_account, email=f"{name.lower()}@example.com", fields={"1": name})
        Subscription.objects.create(recipient=recipient, list=mailing_list, status="subscribed", source="API")
    return mailing_list


def filter_form(name, **rows):
    data = {"name": name, "match": "all", "statuses": ["subscribed"]}
    for row in range(5):
        data.setdefault(f"field_{row}", "")
    data.update(rows)
    return data


def test_editor_saves_filter_from_rows(editor, people):
    response = editor.post(
        "/console/lists/1/filters/new", filter_form("An", field_0="campo1", operator_0="starts_with", value_0="an")
    )
    saved = SavedFilter.objects.get(list=people, name="An")

    assert response.status_code == 302
    assert saved.conditions == [{"status": "subscribed"}, {"field": "campo1", "operator": "starts_with", "value": "an"}]


def test_invalid_condition_is_shown_on_form(editor, people):
    response = editor.post("/console/lists/1/filters/new", filter_form("Empty", field_0="campo1", operator_0="contains"))

    assert response.status_code == 200
    assert not SavedFilter.objects.filter(name="Empty").exists()
    assert "value must be a non-empty string" in response.content.decode()


def test_edit_page_shows_stored_rows(editor, people):
    conditions = [{"field": "campo1", "operator": "contains", "value": f"x{n}"} for n in range(7)]
    saved = sending_services.save_filter(people, "Many", conditions)

    response = editor.get(f"/console/filters/{saved.pk}")

    assert response.context["form"].row_count == 8
    assert 'value="x6"' in response.content.decode()


def test_filter_count_returns_matches(viewer, people):
    saved = sending_services.save_filter(people, "An", [{"field": "campo1", "operator": "starts_with", "value": "an"}])

    assert viewer.get(f"/console/filters/{saved.pk}/count").json() == {"count": 2}


def test_viewer_cannot_save_filter(viewer, people):
    response = viewer.post("/console/lists/1/filters/new", filter_form("X", field_0="email", operator_0="is_not_empty"))

    assert response.status_code == 403
    assert not SavedFilter.objects.filter(name="X").exists()


def test_send_to_filter_narrows_target(editor, people, monkeypatch):
    monkeypatch.setattr(sending_services, "_enqueue_fan_out", lambda sending_id: None)
    saved = sending_services.save_filter(people, "An", [{"field": "campo1", "operator": "starts_with", "value": "an"}])
    message = sending_services.create_message(people, "Ciao", html="<p>x</p>")

    count = editor.get(f"/console/messages/{message.pk}/count?filters={saved.pk}&filters_match=all").json()
    editor.post(f"/console/messages/{message.pk}/send", {"filters": [saved.pk], "filters_match": "all"})
    sending = Sending.objects.get(message=message)

    assert count == {"count": 2}
    assert list(sending.filters.all()) == [saved]
    assert sending_services.target_recipients(sending).count() == 2


def test_filter_of_waiting_sending_is_not_deleted(editor, people, monkeypatch):
    monkeypatch.setattr(sending_services, "_enqueue_fan_out", lambda sending_id: None)
    saved = sending_services.save_filter(people, "An", [{"field": "campo1", "operator": "starts_with", "value": "an"}])
    message = sending_services.create_message(people, "Ciao", html="<p>x</p>")
    sending_services.queue_sending(message, filters=[saved])

    response = editor.post(f"/console/filters/{saved.pk}/delete", follow=True)

    assert SavedFilter.objects.filter(pk=saved.pk).exists()
    assert "has not finished" in response.content.decode()


def test_unused_filter_is_deleted(editor, people):
    saved = sending_services.save_filter(people, "An", [{"field": "campo1", "operator": "starts_with", "value": "an"}])

    editor.post(f"/console/filters/{saved.pk}/delete")

    assert not SavedFilter.objects.filter(pk=saved.pk).exists()
