"""REST bulk imports reject deep nesting whole, and a NUL in an address only rejects its item."""

import pytest

from integrations import importing, services
from integrations.models import Import
from lists.models import Recipient
from lists.services import ImportOptions
from tests.personas import demo_list


@pytest.fixture
def queued(monkeypatch):
    monkeypatch.setattr("integrations.tasks.run_import.delay", lambda *arguments: None)


def create(body):
    return services.create_import(demo_list(), Import.Kind.REST, services.JSON, body, ImportOptions(), start=True)


def test_deeply_nested_body_is_rejected(demo, queued):
    # 30,000 levels took over 2 GiB in ijson's items(); 17 are enough to cross the limit.
    body = "[" + "[" * 17 + "]" * 17 + "]"

    with pytest.raises(importing.InputRejected, match="more than 16 levels deep"):
        create(body)

    assert not Import.objects.exists()


def test_recipient_item_nesting_is_accepted(demo, queued):
    job = create('[{"Email":"anna@example.com","Fields":[{"Id":1,"Value":"Anna"}]}]')

    job = services.run_import(job.pk)

    assert job.status == Import.Status.COMPLETED
    assert Recipient.objects.get().fields == {"1": "Anna"}


def test_nul_in_email_rejects_only_its_item(demo, queued):
    job = create('[{"Email":"anna\\u0000@example.com"},{"Email":"bruno@example.com"}]')

    job = services.run_import(job.pk)

    assert job.status == Import.Status.COMPLETED, job.error
    assert job.count("rejected") == 1
    [[number, label, reason]] = job.rejections
    assert (number, label) == (1, "anna?@example.com")
    assert "\x00" not in reason
    assert list(Recipient.objects.values_list("email", flat=True)) == ["bruno@example.com"]
