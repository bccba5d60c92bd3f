import pytest

from lists.models import List
from sending import services as sending_services
from sending.models import Sending

pytestmark = pytest.mark.django_db

NEW_LIST = {
    "name": "Weekly",
    "description": "",
    "sender_name": "Weekly news",
    "sender_email": "weekly@demo.example",
    "reply_to": "",
    "language": "en",
    "default_prefix": "0039",
    "confirmation_link_hours": "48",
    "send_welcome": "on",
}


def test_list_index_shows_demo_lists(viewer):
    page = viewer.get("/console/lists", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Newsletter" in page
    assert "Offers" in page


def test_editor_creates_list_with_next_id(editor, demo_account):
    response = editor.post("/console/lists/new", NEW_LIST)

    created = List.objects.get(account=demo_account, name="Weekly")
    assert created.list_id == 3
    assert response.url == "/console/lists/3"
    assert created.confirmation_link_hours == 48


def test_list_form_names_invalid_sender(editor):
    response = editor.post("/console/lists/new", {**NEW_LIST, "sender_email": "not-an-address"}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()


def test_viewer_cannot_create_list(viewer, demo_account):
    response = viewer.post("/console/lists/new", NEW_LIST)

    assert response.status_code == 403
    assert not List.objects.filter(account=demo_account, name="Weekly").exists()


def test_editor_changes_welcome_message(editor, demo_account):
    mailing_list = demo_account.lists.get(list_id=1)
    form = {**NEW_LIST, "name": mailing_list.name, "welcome_subject": "Benvenuto!", "welcome_html": "<p>Ciao</p>"}

    editor.post("/console/lists/1/edit", form)

    mailing_list.refresh_from_db()
    assert mailing_list.welcome_subject == "Benvenuto!"
    assert mailing_list.welcome_html == "<p>Ciao</p>"


def test_only_admin_deletes_list(admin, editor, demo_account):
    assert editor.post("/console/lists/2/delete").status_code == 403

    response = admin.post("/console/lists/2/delete")

    assert response.status_code == 302
    assert not demo_account.lists.filter(list_id=2).exists()


def test_list_with_sending_in_progress_kept(admin, demo_account):
    mailing_list = demo_account.lists.get(list_id=2)
    message = sending_services.create_message(mailing_list, "In corso", html="<p>x</p>")
    Sending.objects.create(message=message, list=mailing_list, status=Sending.Status.SENDING)

    response = admin.post("/console/lists/2/delete", HTTP_ACCEPT_LANGUAGE="en", follow=True)

    assert demo_account.lists.filter(list_id=2).exists()
    assert "The list has a sending in progress." in response.content.decode()


def test_group_create_rename_delete(editor, demo_account):
    mailing_list = demo_account.lists.get(list_id=1)

    editor.post("/console/lists/1/groups/new", {"name": "Partner"})
    group = mailing_list.groups.get(name="Partner")
    editor.post(f"/console/groups/{group.pk}/edit", {"name": "Partners", "notes": ""})
    group.refresh_from_db()
    renamed = group.name
    editor.post(f"/console/groups/{group.pk}/delete")

    assert renamed == "Partners"
    assert not mailing_list.groups.filter(pk=group.pk).exists()


def test_list_id_that_is_not_a_number_gets_404(editor):
    response = editor.post("/console/recipients/1/change", {"action": "subscribe", "list_id": "x"})

    assert response.status_code == 404
