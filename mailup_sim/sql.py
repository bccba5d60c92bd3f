"""Hand-written SQL for the per-request lookups of the hottest endpoints.

Django builds and compiles the SQL of every ORM query anew, about 0.2 to
0.4 ms of CPU each on a 2-core machine, which was most of the cost of
`xmlSubscribe.aspx` and of the REST recipient calls. The statements here are
built once per process and run through the connection's cursor. Each row
goes through the same database converters as the ORM (JSON decoding, time
zones on SQLite), so callers get the values a queryset would return.
"""

import functools

from django.db import DEFAULT_DB_ALIAS, connection, connections, models


def current_connection():
    """Return this thread's default database connection itself, not the `django.db.connection` proxy.

    Each attribute read through the proxy looks the connection up again
    (about 1.5 µs), and an insert read it a dozen times, directly and
    through the field preparations it is passed to.
    """
    return connections[DEFAULT_DB_ALIAS]


def quote(name):
    return connection.ops.quote_name(name)


def table(model):
    return quote(model._meta.db_table)


@functools.cache
def _columns(model, names):
    """Return the model's fields named by `names` (attribute names, `pk` allowed) with their converters."""
    fields = [model._meta.pk if name == "pk" else model._meta.get_field(name) for name in names]
    # Model.from_db expects a partial row in the order of the concrete fields.
    order = {field: index for index, field in enumerate(model._meta.concrete_fields)}
    fields.sort(key=order.__getitem__)
    columns = []
    for field in fields:
        expression = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(expression) + field.get_db_converters(connection)
        columns.append((field, expression, converters))
    return columns


def select_list(model, names, alias=None):
    """Return the SELECT list of `names` (model attribute names) on table `alias`, or the model's table."""
    prefix = quote(alias) if alias else table(model)
    return ", ".join(f"{prefix}.{quote(field.column)}" for field, _expression, _converters in _columns(model, names))


def convert_row(model, names, row, db=None):
    """Return `row`, read in the order of select_list(model, names), with the ORM's converters applied."""
    if db is None:
        db = current_connection()
    values = []
    for value, (_field, expression, converters) in zip(row, _columns(model, names)):
        for converter in converters:
            value = converter(value, expression, db)
        values.append(value)
    return values


def fetch_instances(model, names, sql, params):
    """Run `sql`, whose SELECT list is select_list(model, names), and return model instances.

    The instances are built as the ORM builds them (`Model.from_db`), so they
    save, compare and refresh like queryset results; fields outside `names`
    are deferred.
    """
    db = current_connection()
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [instance_from_row(model, names, row, db) for row in rows]


def instance_from_row(model, names, row, db=None):
    """Return the model instance of `row`, read in the order of select_list(model, names), as the ORM builds it."""
    if db is None:
        db = current_connection()
    attnames = [field.attname for field, _expression, _converters in _columns(model, names)]
    return model.from_db(db.alias, attnames, convert_row(model, names, row, db))


def fetch_rows(model, names, sql, params):
    """Run `sql`, whose SELECT list is select_list(model, names), and return its rows as dicts by attribute name.

    The values pass through the ORM's converters, as in fetch_instances,
    but no model instance is built, which costs more than the read itself
    for a page of listed recipients.
    """
    attnames = [field.attname for field, _expression, _converters in _columns(model, names)]
    db = current_connection()
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [dict(zip(attnames, convert_row(model, names, row, db))) for row in rows]


def fetch_value(sql, params):
    """Run `sql` and return the first column of its first row, or None without rows."""
    with current_connection().cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def cached_until_change(key, compute):
    """Return compute(), reusing what it returned for `key` on this connection while the database is unchanged.

    On SQLite the connection keeps the value until a change is committed
    (see cached_until_change in mailup_sim.sqlite_backend); on other
    databases every call computes. compute() must read the database only,
    and return a value that its callers do not modify.
    """
    db = current_connection()
    if not hasattr(db, "cached_until_change"):
        return compute()
    return db.cached_until_change(key, compute)


def fetch_value_until_change(sql, params):
    """Return fetch_value(sql, params), reusing the value last read on this connection while the database is unchanged.

    A client that walks a big list page by page repeats the same count on every page.
    """
    return cached_until_change((sql, tuple(params)), lambda: fetch_value(sql, params))


def concrete_names(model):
    """Return the attribute names of every concrete column of `model`, in declaration order."""
    return tuple(field.attname for field in model._meta.concrete_fields)


def insert(instance, skip_on_conflict=False):
    """Insert a new model instance as Model.save() would, and return it with its primary key set.

    Fields get their pre_save() values (auto_now, auto_now_add) and their
    database preparation as in save(). No model signal is sent, so use it
    only for models without pre_save or post_save receivers. With
    `skip_on_conflict`, a row that breaks a unique constraint is not
    inserted and None is returned, with no savepoint needed on PostgreSQL.
    """
    model = type(instance)
    db = current_connection()
    values = []
    for field, attname, unchanged in _insert_plan(model):
        value = getattr(instance, attname) if attname else field.pre_save(instance, True)
        values.append(value if value.__class__ in unchanged else field.get_db_prep_save(value, db))
    with db.cursor() as cursor:
        cursor.execute(_insert_sql(model, skip_on_conflict), values)
        row = cursor.fetchone()
    if row is None:
        return None
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = db.alias
    return instance


# Field classes whose save preparation may return values of these types as
# they are: to_python() of a str or an int, and on some backends no
# adaptation. Subclasses are not listed, as they may prepare more.
MAYBE_UNCHANGED_ON_SAVE = {
    models.CharField: (str,),
    models.TextField: (str,),
    models.EmailField: (str,),
    models.IntegerField: (int,),
    models.PositiveIntegerField: (int,),
    models.PositiveSmallIntegerField: (int,),
    models.SmallIntegerField: (int,),
    models.BigIntegerField: (int,),
    models.BooleanField: (bool,),
}
AUTO_KEYS = (models.AutoField, models.BigAutoField)
PROBE_VALUES = {str: "probe", int: 7, bool: True, type(None): None}


@functools.cache
def _insert_plan(model):
    """Return (field, attname or None, value types kept as they are) for each column that insert() writes.

    The attname is set when the field's pre_save() is Field's own, which only
    reads the attribute. Preparing every value through get_db_prep_save()
    was about a third of an insert's CPU time, so insert() skips it for the
    types that this backend's preparation returns unchanged. PostgreSQL,
    for one, wraps ints in psycopg's sized integer types, so there ints are
    still prepared.
    """
    plan = []
    for field in _insert_fields(model):
        attname = field.attname if type(field).pre_save is models.Field.pre_save else None
        candidates = MAYBE_UNCHANGED_ON_SAVE.get(type(field), ())
        if type(field) is models.ForeignKey and type(field.target_field) in AUTO_KEYS:
            candidates = (int,)
        unchanged = tuple(kind for kind in (*candidates, type(None)) if candidates and _kept_as_is(field, kind))
        plan.append((field, attname, unchanged))
    return plan


def _kept_as_is(field, kind):
    probe = PROBE_VALUES[kind]
    prepared = field.get_db_prep_save(probe, connection)
    return type(prepared) is kind and prepared == probe


def _insert_fields(model):
    return [field for field in model._meta.local_concrete_fields if field is not model._meta.auto_field]


@functools.cache
def _insert_sql(model, skip_on_conflict):
    fields = _insert_fields(model)
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    conflict = " ON CONFLICT DO NOTHING" if skip_on_conflict else ""
    primary_key = quote(model._meta.pk.column)
    return f"INSERT INTO {table(model)} ({columns}) VALUES ({placeholders}){conflict} RETURNING {primary_key}"


def prepare_value(model, name, value):
    """Return `value` prepared for the column of field `name`, as a query on that field would bind it."""
    return model._meta.get_field(name).get_db_prep_value(value, current_connection())
