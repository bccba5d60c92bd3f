"""Settings of the server that bench/endpoints.py starts: the production settings plus the ceiling view."""

from mailup_sim.settings import *  # noqa: F401,F403

ROOT_URLCONF = "bench.http_urls"
