#!/bin/sh
# The parts of the official postgres image's entrypoint the project relies on: a first start initialises PGDATA
# with POSTGRES_USER (its password from POSTGRES_PASSWORD, checked with scram-sha-256 from any address) and
# creates POSTGRES_DB; every start then runs the server as the postgres user, listening on all addresses.
set -eu
: "${POSTGRES_PASSWORD:?the official image requires it too}"
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 0700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    password_file=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
    initdb --username="$user" --pwfile="$password_file" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$password_file"
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    pg_ctl --wait --options="-c listen_addresses=''" start >/dev/null
    if [ "$database" != postgres ]; then
        psql --username="$user" --dbname=postgres --quiet --command="CREATE DATABASE \"$database\""
    fi
    pg_ctl --wait --mode=fast stop >/dev/null
    echo "postgres-entrypoint: initialised $PGDATA for user $user, database $database"
fi
exec "$@" -c listen_addresses='*'
