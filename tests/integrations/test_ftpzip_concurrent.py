"""Two uploads of the same FTPZIP archive that workers claim at the same time send the campaign once."""

from integrations import ftpzip
from integrations.models import SendZip
from lists.models import Account
from sending.models import Message, Sending
from tests.integrations.test_ftpzip import campaign_members, home, make_zip  # noqa: F401


def receive(home, data, name):
    path = home / "sendzip" / name
    path.write_bytes(data)
    return ftpzip.receive_send_zip(Account.objects.get(console_id=1234), path)


def test_same_archive_claimed_twice_sends_once(home, monkeypatch):
    monkeypatch.setattr("integrations.tasks.process_send_zip.delay", lambda *arguments: None)
    data = make_zip(campaign_members())
    first = ftpzip.claim_send_zip(receive(home, data, "campaign.zip").pk)
    second = ftpzip.claim_send_zip(receive(home, data, "again.zip").pk)
    second_statuses = []
    carry_out = ftpzip._carry_out

    def carry_out_while_second_runs(send_zip, package, mailing_list):
        # The second worker processes its archive while the first is still running.
        carry_out(send_zip, package, mailing_list)
        if send_zip.pk == first.pk:
            second_statuses.append(ftpzip.process_send_zip(second))

    monkeypatch.setattr(ftpzip, "_carry_out", carry_out_while_second_runs)
    first_status = ftpzip.process_send_zip(first)

    assert first_status == SendZip.Status.DONE
    assert second_statuses == [SendZip.Status.DUPLICATE]
    assert Message.objects.count() == 1
    assert Sending.objects.count() == 1


def test_stale_running_archive_is_ignored(home, monkeypatch):
    monkeypatch.setattr("integrations.tasks.process_send_zip.delay", lambda *arguments: None)
    data = make_zip(campaign_members())
    crashed = receive(home, data, "campaign.zip")
    ftpzip.claim_send_zip(crashed.pk)
    SendZip.objects.filter(pk=crashed.pk).update(started_at=crashed.received_at - ftpzip.STALE_RUN * 2)
    again = receive(home, data, "again.zip")

    status = ftpzip.process_send_zip(ftpzip.claim_send_zip(again.pk))

    assert status == SendZip.Status.DONE
