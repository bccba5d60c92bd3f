import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailup_sim.settings")

app = Celery("mailup_sim")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
