from django.apps import AppConfig


class MailupSimConfig(AppConfig):
    name = "mailup_sim"
    verbose_name = "mailup-sim"
