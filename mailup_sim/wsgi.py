import os

from django.core.wsgi import get_wsgi_application

from mailup_sim.middleware import drop_undecodable_charset

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailup_sim.settings")

application = drop_undecodable_charset(get_wsgi_application())
