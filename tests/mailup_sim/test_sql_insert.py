"""sql.insert() skips the save preparation only where Django's would return the value as it is."""

import pytest
from django.apps import apps
from django.db import connection

from mailup_sim import sql

SAMPLES = {str: ["", "città", "0"], int: [0, 7, 2**40], bool: [True, False], type(None): [None]}


def project_models():
    return [model for model in apps.get_models() if model.__module__.split(".")[0] in {"lists", "sending", "integrations"}]


@pytest.mark.parametrize("model", project_models(), ids=lambda model: model.__name__)
def test_skipped_preparation_keeps_values(model):
    for field, _attname, unchanged in sql._insert_plan(model):
        for kind in unchanged:
            for value in SAMPLES[kind]:
                if value is None and not field.null:
                    continue
                prepared = field.get_db_prep_save(value, connection)
                assert prepared == value, (field, value)
                assert type(prepared) is type(value), (field, value)

