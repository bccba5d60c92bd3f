import os

from celery import Celery
from kombu.transport import sqlalchemy as sqlalchemy_transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailup_sim.settings")

# How long a worker on the default SQLite broker sleeps before it looks for a
# task again; kombu's default is 1 s. The worker also sleeps there while every
# pool process is busy, so a process that finished a delivery batch stayed idle
# for half a second on average, a third of the time a batch of 200 takes. It
# is set on the class because kombu 5 passes every broker transport option
# of this transport to SQLAlchemy's create_engine, which rejects this one. A
# Redis broker does not poll: its worker blocks until Redis replies.
sqlalchemy_transport.Transport.polling_interval = 0.05

app = Celery("mailup_sim")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
