#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailup_sim.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # A setting that cannot be read, such as SINK_SMTP_PORT=abc, is
        # reported in one line that names it, not in a long traceback.
        sys.exit(f"Configuration error: {error}")


if __name__ == "__main__":
    main()
