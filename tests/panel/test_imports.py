import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from integrations.models import ImportFile
from lists.models import Subscription


@pytest.fixture
def ftp_root(settings, tmp_path):
    settings.FTP_ROOT = tmp_path / "ftp"
    return settings.FTP_ROOT


@pytest.mark.django_db(transaction=True)
def test_upload_imports_through_engine(editor, demo_account, ftp_root):
    upload = SimpleUploadedFile("people.csv", b"111|1\nanna@example.com|Anna\nnot-an-address|X\n", "text/csv")

    response = editor.post("/console/lists/1/import", {"file": upload})

    imported = ImportFile.objects.get()
    assert response.url == f"/console/imports/{imported.pk}"
    status = editor.get(f"/console/imports/{imported.pk}/status").json()
    assert status["finished"] is True
    assert status["created"] == 1
    assert status["rejected"] == 1
    assert Subscription.objects.filter(recipient__email="anna@example.com", list__list_id=1).exists()


@pytest.mark.django_db(transaction=True)
def test_full_prefix_makes_a_full_import(editor, demo_account, ftp_root):
    editor.post("/console/lists/1/import", {"file": SimpleUploadedFile("people.csv", b"111\nanna@example.com\nbruno@example.com\n")})
    full = SimpleUploadedFile("full_people.csv", b"111\nanna@example.com\n", "text/csv")

    editor.post("/console/lists/1/import", {"file": full})

    assert ImportFile.objects.get(name__endswith="-full_people.csv").full is True
    bruno = Subscription.objects.get(recipient__email="bruno@example.com", list__list_id=1)
    assert bruno.status == Subscription.Status.UNSUBSCRIBED


@pytest.mark.django_db(transaction=True)
def test_upload_rejects_other_file_types(editor, demo_account, ftp_root):
    upload = SimpleUploadedFile("people.exe", b"MZ", "application/octet-stream")

    response = editor.post("/console/lists/1/import", {"file": upload}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "Upload a .csv or .zip file" in response.content.decode()
    assert not ImportFile.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_import_status_follows_the_panel_language(editor, demo_account, ftp_root):
    upload = SimpleUploadedFile("persone.csv", b"111|1\nanna@example.com|Anna\n", "text/csv")
    editor.post("/console/lists/1/import", {"file": upload})
    imported = ImportFile.objects.get()

    page = editor.get(f"/console/imports/{imported.pk}", HTTP_ACCEPT_LANGUAGE="it").content.decode()
    status = editor.get(f"/console/imports/{imported.pk}/status", HTTP_ACCEPT_LANGUAGE="it").json()

    assert 'id="import-status">completato<' in page
    assert status["status_label"] == "completato"
    assert "<dt>Creati</dt>" in page


@pytest.mark.django_db(transaction=True)
def test_upload_rejects_overlong_file_name(editor, demo_account, ftp_root):
    # 240 bytes: the stored copy, its report and its done/ copy would pass the 255-byte limit of a file name.
    upload = SimpleUploadedFile("é" * 118 + ".csv", b"111|1\nanna@example.com|Anna\n", "text/csv")

    response = editor.post("/console/lists/1/import", {"file": upload}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "Upload a .csv or .zip file" in response.content.decode()
    assert not ImportFile.objects.exists()
