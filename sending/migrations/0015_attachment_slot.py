"""Give every attachment a numbered slot of its message, unique per message.

Rows stored before slots existed get 1, 2, 3 … per message in upload
order, so a message keeps its files and their order in the mail.
"""

from django.db import migrations, models


def number_existing_attachments(apps, schema_editor):
    Attachment = apps.get_model("sending", "Attachment")
    next_slot = {}
    for attachment in Attachment.objects.order_by("message_id", "id").only("pk", "message_id"):
        slot = next_slot.get(attachment.message_id, 1)
        Attachment.objects.filter(pk=attachment.pk).update(slot=slot)
        next_slot[attachment.message_id] = slot + 1


class Migration(migrations.Migration):

    dependencies = [
        ("sending", "0014_delivery_breakdown_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="attachment",
            name="slot",
            field=models.PositiveSmallIntegerField(null=True),
        ),
        migrations.RunPython(number_existing_attachments, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="attachment",
            name="slot",
            field=models.PositiveSmallIntegerField(),
        ),
        migrations.AlterModelOptions(
            name="attachment",
            options={"ordering": ["slot"]},
        ),
        migrations.AddConstraint(
            model_name="attachment",
            constraint=models.UniqueConstraint(fields=("message", "slot"), name="attachment_slot_unique"),
        ),
        migrations.AddConstraint(
            model_name="attachment",
            constraint=models.CheckConstraint(condition=models.Q(("slot__gte", 1)), name="attachment_slot_positive"),
        ),
    ]
