"""Write the unsubscriber exports now instead of waiting for the nightly run."""

from django.core.management.base import BaseCommand, CommandError

from integrations import exports
from lists.models import Account


class Command(BaseCommand):
    help = (
        "Write export/unsubscribed_<listId>_<YYYYMMDD>.csv with the unsubscribes since the previous export, "
        "for every list of an account or only the lists given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--console-id", type=int, required=True, help="Console id of the account.")
        parser.add_argument("--list", type=int, action="append", default=[], help="Id of a list to export; repeat the option for several lists. Default: every list.")

    def handle(self, *args, **options):
        account = Account.objects.filter(console_id=options["console_id"]).first()
        if account is None:
            raise CommandError(f"Account with console id {options['console_id']} not found.")

        lists = account.lists.all()
        if options["list"]:
            lists = lists.filter(list_id__in=options["list"])
            missing = set(options["list"]) - set(lists.values_list("list_id", flat=True))
            if missing:
                raise CommandError(f"List {min(missing)} not found in account {account.console_id}.")

        for mailing_list in lists:
            export = exports.export_unsubscribed(mailing_list)
            self.stdout.write(f"list {mailing_list.list_id}: {export.rows} rows in export/{export.file_name}")
