"""System mail is stored before it is sent, retried on temporary failures and never sent twice."""

from datetime import timedelta

from django.utils import timezone

from sending import services
from sending.models import SystemMail
from sending.tasks import deliver_system_mail
from tests.support import free_port
from tests.personas import subscribe_pending


def test_unreachable_sink_defers_mail(demo, settings):
    settings.SINK_SMTP_PORT = free_port()
    subscribe_pending("nobody-listens@example.com")

    mail = SystemMail.objects.get()
    assert mail.status == SystemMail.Status.DEFERRED
    assert mail.attempts == 1
    assert mail.next_attempt_at > timezone.now()
    assert "failed" in mail.last_error


def test_deferred_mail_sent_by_sweep(demo, settings, sink):
    real_port = settings.SINK_SMTP_PORT
    settings.SINK_SMTP_PORT = free_port()
    subscribe_pending("later@example.com")
    SystemMail.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    settings.SINK_SMTP_PORT = real_port
    assert services.requeue_stalled_mail() == 1

    mail = SystemMail.objects.get()
    assert mail.status == SystemMail.Status.SENT
    assert mail.attempts == 2
    assert len(sink.wait_for(1)) == 1


def test_mail_left_by_dead_worker_is_sent_once(demo, sink, monkeypatch):
    with monkeypatch.context() as patched:
        # The broker loses the task: nothing runs after the commit.
        patched.setattr(services, "_enqueue", lambda mail_id: None)
        subscribe_pending("orphan@example.com")
    SystemMail.objects.update(
        status=SystemMail.Status.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(hours=1)
    )

    assert services.requeue_stalled_mail() == 1
    deliver_system_mail(SystemMail.objects.get().pk)

    assert SystemMail.objects.get().status == SystemMail.Status.SENT
    assert len(sink.wait_for(1)) == 1
    assert len(sink.wait_for(2, timeout=1)) == 1


def test_sent_mail_is_not_sent_again(demo, sink):
    subscribe_pending("once@example.com")
    mail = SystemMail.objects.get()
    assert mail.status == SystemMail.Status.SENT

    deliver_system_mail(mail.pk)
    assert services.requeue_stalled_mail() == 0
    assert len(sink.wait_for(2, timeout=1)) == 1


def test_rejected_recipient_fails_permanently(demo, settings, sink, monkeypatch):
    from sending import smtp

    def reject(*args, **kwargs):
        raise smtp.DeliveryError("550 5.1.1 No such user", permanent=True, smtp_code=550)

    monkeypatch.setattr(smtp, "send_message", reject)
    subscribe_pending("gone@example.com")

    mail = SystemMail.objects.get()
    assert mail.status == SystemMail.Status.FAILED
    assert mail.last_error.startswith("550")


def test_sent_mail_records_message_id_and_source(demo, sink):
    subscribe_pending("headers@example.com")

    mail = SystemMail.objects.get()
    [received] = sink.wait_for(1)
    assert received.message_id == mail.message_id
    assert mail.source_ip == "127.0.0.1"
    assert received.mail_from == f"sys-{mail.pk}@bounces.mailup-sim.localhost"
    assert received.list_id == 1
    assert received.account_console_id == 1234
