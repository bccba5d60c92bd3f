"""Deleting a group before a sending to it starts: the sending must not fall back to the whole list."""

from datetime import timedelta

from django.utils import timezone

from lists import services as lists_services
from lists.models import Group, GroupMembership, Recipient, Subscription
from sending import services
from sending.models import Delivery, Sending
from tests.personas import demo_list


def scheduled_sending(groups):
    message = services.create_message(demo_list(), "Offerta", html="<p>Offerta</p>")
    return services.queue_sending(message, groups=groups, scheduled_at=timezone.now() + timedelta(hours=1))


def test_deleting_only_group_stops_sending(demo):
    group = Group.objects.create(list=demo_list(), name="Automatic 01")
    sending = scheduled_sending([group])

    lists_services.delete_group(group)

    assert Sending.objects.get(pk=sending.pk).status == Sending.Status.CANCELLED


def test_deleting_one_of_two_groups_keeps_sending(demo):
    first = Group.objects.create(list=demo_list(), name="A")
    second = Group.objects.create(list=demo_list(), name="B")
    member = Recipient.objects.create(account=demo_list().account, email="b@example.com")
    GroupMembership.objects.create(group=second, recipient=member)
    sending = scheduled_sending([first, second])

    lists_services.delete_group(first)

    sending.refresh_from_db()
    assert sending.status == Sending.Status.SCHEDULED
    assert list(sending.groups.all()) == [second]


def test_deleting_excluded_group_stops_sending(demo):
    excluded = Group.objects.create(list=demo_list(), name="Esclusi")
    message = services.create_message(demo_list(), "Offerta", html="<p>Offerta</p>")
    sending = services.queue_sending(message, excluded_groups=[excluded], scheduled_at=timezone.now() + timedelta(hours=1))

    lists_services.delete_group(excluded)

    assert Sending.objects.get(pk=sending.pk).status == Sending.Status.CANCELLED


def test_paused_before_fan_out_is_stopped(demo):
    group = Group.objects.create(list=demo_list(), name="Automatic 02")
    sending = scheduled_sending([group])
    services.pause_sending(sending)

    lists_services.delete_group(group)

    assert Sending.objects.get(pk=sending.pk).status == Sending.Status.CANCELLED


def test_paused_after_fan_out_keeps_its_deliveries(demo):
    group = Group.objects.create(list=demo_list(), name="Automatic 03")
    sending = scheduled_sending([group])
    Sending.objects.filter(pk=sending.pk).update(status=Sending.Status.PAUSED, prepared_at=timezone.now())

    lists_services.delete_group(group)

    assert Sending.objects.get(pk=sending.pk).status == Sending.Status.PAUSED


def test_fan_out_of_stopped_sending_creates_nothing(demo):
    group = Group.objects.create(list=demo_list(), name="Automatic 04")
    member = Recipient.objects.create(account=demo_list().account, email="socio@example.com")
    GroupMembership.objects.create(group=group, recipient=member)
    Subscription.objects.create(recipient=member, list=demo_list(), status=Subscription.Status.SUBSCRIBED)
    sending = scheduled_sending([group])
    Sending.objects.filter(pk=sending.pk).update(status=Sending.Status.PREPARING)

    lists_services.delete_group(group)
    services.fan_out(Sending.objects.get(pk=sending.pk))

    assert not Delivery.objects.filter(sending=sending).exists()
