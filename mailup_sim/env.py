"""Typed readers for configuration taken from the environment.

Each reader raises ImproperlyConfigured on a value it cannot parse, so a typo
in a deployment stops the process at start-up instead of running with a
default that was not requested.
"""

import os

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def env_str(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default

    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def env_int(name, default, minimum=None, maximum=None):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default

    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None

    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum {minimum}.")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is above the maximum {maximum}.")
    return value


def env_list(name, default=()):
    """Read a comma-separated list; empty items are dropped and an empty value means `default`."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_int_list(name, default=(), minimum=None):
    """Read a comma-separated list of integers, each at least `minimum`; an empty value means `default`."""
    values = []
    for item in env_list(name, [str(value) for value in default]):
        try:
            value = int(item)
        except ValueError:
            raise ImproperlyConfigured(f"{name} contains {item!r}, which is not an integer.") from None
        if minimum is not None and value < minimum:
            raise ImproperlyConfigured(f"{name} contains {value}, below the minimum {minimum}.")
        values.append(value)
    return values
