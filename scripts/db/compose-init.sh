#!/bin/sh
# docker-compose.yml: the postgres image runs this once, on an empty data directory
# (/docker-entrypoint-initdb.d), as POSTGRES_USER on POSTGRES_DB: the service's two roles, their
# passwords read from the compose secrets (never from the environment).
set -eu
psql -X -q -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v owner=vmapi_owner -v app=vmapi_app \
  -v owner_password="$(cat /run/secrets/db_owner_password)" \
  -v app_password="$(cat /run/secrets/db_app_password)" \
  -f /vmapi/create-roles.sql
