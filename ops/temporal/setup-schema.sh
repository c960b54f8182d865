#!/bin/sh
# Creates Temporal's two databases and brings their schemas to the server's version, with the
# server's own SQL tool (run by the temporal-schema job in docker-compose.yml, from the
# admin-tools image, which ships the tool and the schema files). Safe to run on every `up`:
# create-database passes over a database that exists, setup-schema keeps a newer version,
# update-schema applies only what is missing. Any real failure exits non-zero.
# common/temporal-cluster.ts runs the same three steps for the cluster test tier.
set -eu
schema=${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}
sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"; }
export SQL_PASSWORD="$POSTGRES_PWD"
# DBNAME and VISIBILITY_DBNAME are the server image's own names for them.
for pair in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
  db=${pair%%:*}
  dir=${pair#*:}
  sql --db "$db" create-database
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$schema/$dir/versioned"
done
echo "temporal schemas up to date: ${DBNAME:-temporal}, ${VISIBILITY_DBNAME:-temporal_visibility}"
