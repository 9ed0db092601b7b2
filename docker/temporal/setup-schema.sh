#!/bin/sh
# Temporal's two PostgreSQL databases: created with their schema on the first start, brought up
# to this image's schema version on every start (the server refuses an older schema).
#
# Runs in temporalio/admin-tools (temporal-sql-tool and the schema files ship with it). Safe to
# run again: the initial schema is only set up in a database this run created, because setting it
# up again would reset an existing database's recorded version. If a first run stopped between
# creating a database and setting up its schema, the update fails and says so; drop that empty
# database and start again.
set -eu

: "${POSTGRES_SEEDS:?the PostgreSQL host}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
DB_PORT=${DB_PORT:-5432}
SCHEMA_ROOT=/etc/temporal/schema/postgresql/v12

sql_tool() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
        -u "$POSTGRES_USER" "$@"
}

for pair in temporal:temporal temporal_visibility:visibility; do
    database=${pair%%:*}
    schema=${pair#*:}
    if created=$(sql_tool --db "$database" create 2>&1); then
        echo "created database $database"
        sql_tool --db "$database" setup-schema -v 0.0
    elif echo "$created" | grep -q "already exists"; then
        echo "database $database exists"
    else
        echo "$created" >&2
        exit 1
    fi
    sql_tool --db "$database" update-schema -d "$SCHEMA_ROOT/$schema/versioned"
done
echo "Temporal schema is up to date"
