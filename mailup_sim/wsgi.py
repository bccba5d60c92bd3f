import gc
import os

from django.core.wsgi import get_wsgi_application

from mailup_sim.middleware import drop_undecodable_charset

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailup_sim.settings")

application = drop_undecodable_charset(get_wsgi_application())


def _freeze_loaded_objects():
    """Import every view, then move the objects loaded so far out of the garbage collector's full passes.

    A full collection traversed the roughly 200,000 objects of Django and
    the project, a pause of about 65 ms for every request in flight in the
    worker. With them frozen, one took about 4 ms (measured in-process on
    the 2-core machine of docs/benchmarks.md). The frozen objects live as
    long as the process anyway.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns
    gc.freeze()


_freeze_loaded_objects()
