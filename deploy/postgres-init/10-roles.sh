#!/bin/sh
# Run once by the postgres image when its data volume is new (/docker-entrypoint-initdb.d), as the superuser.
# Creates the two roles of docs/deployment.md and the database:
#   tandportal      owns the database and every table; migrations run as it (DATABASE_OWNER_URL)
#   tandportal_app  what the web server, worker and beat connect as (DATABASE_URL): owns nothing; after each
#                   migrate, `manage.py db_grant_app_role tandportal_app` gives it ordinary access to the
#                   tables and only SELECT and INSERT on the audit and access logs.
# Neither is a superuser, so neither can set session_replication_role to skip the logs' triggers.
set -eu
psql --variable ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set owner_password="$TANDPORTAL_OWNER_PASSWORD" --set app_password="$TANDPORTAL_APP_PASSWORD" <<'SQL'
CREATE ROLE tandportal LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'owner_password';
CREATE ROLE tandportal_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';
CREATE DATABASE tandportal OWNER tandportal;
\connect tandportal
ALTER SCHEMA public OWNER TO tandportal;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO tandportal_app;
REVOKE ALL ON DATABASE tandportal FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE tandportal TO tandportal_app;
SQL
