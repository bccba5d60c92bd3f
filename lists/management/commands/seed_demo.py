import json

from django.core.management.base import BaseCommand

from lists.demo import seed_demo


class Command(BaseCommand):
    help = "Create or reset the demo console 1234 with its lists, groups, fields and credentials."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the demo data as JSON for scripts.")

    def handle(self, *args, **options):
        data = seed_demo()
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write(f"Demo console {data['console_id']} ready at {data['origin']}")
        self.stdout.write(f"  console user {data['console_user']['username']} / {data['console_user']['password']}")
        self.stdout.write(f"  web-service user {data['ws_user']['username']} / {data['ws_user']['password']}")
        for item in data["lists"]:
            groups = ", ".join(f"{group['id']} {group['name']}" for group in item["groups"])
            self.stdout.write(f"  list {item['id']} {item['name']} GUID {item['guid']} groups: {groups}")
