from django.apps import AppConfig


class PanelConfig(AppConfig):
    name = "panel"
    verbose_name = "Control panel"

    def ready(self):
        from panel import auth

        auth.route_failed_logins_to_axes()
