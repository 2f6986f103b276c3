#!/bin/sh
# Writes ddl/*.sql: the tables that Django 3.2 (Debian's python3-django) and
# django-qsessions 1.1.4 create, as `manage.py sqlmigrate` prints them, for
# SQLite and PostgreSQL. The tests create their tables from these files, so
# that they run without Django. Rerun after changing Django's version:
#
#	QSESSIONS_POSTGRES_DSN=postgres://... sh django/testdata/mkddl.sh
#
# (sqlmigrate connects to PostgreSQL to learn its version; it changes nothing.)
set -eu
cd "$(dirname "$0")/site"
export PYTHONDONTWRITEBYTECODE=1 QSD_SECRET_KEY=unused QSD_REDIS_URL=redis://127.0.0.1:1/0 QSD_KEY_PREFIX=unused
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sql() { # engine database app migration...
	engine=$1 db=$2 app=$3
	shift 3
	for m in "$@"; do
		QSD_ENGINE=$engine QSD_DATABASE=$db /usr/bin/python3 manage.py sqlmigrate "$app" "$m"
	done | grep -v -e '^BEGIN;$' -e '^COMMIT;$' -e '^--'
}
sqlite="sqlite:///$tmp/ddl.sqlite3"
pg=${QSESSIONS_POSTGRES_DSN:?set QSESSIONS_POSTGRES_DSN to a PostgreSQL server}
pg=${pg%%\?*}
sql qsessions "$sqlite" qsessions 0001 0002 >../ddl/sqlite_qsessions.sql
sql django "$sqlite" sessions 0001 >../ddl/sqlite_django.sql
sql qsessions "$pg" qsessions 0001 0002 >../ddl/postgres_qsessions.sql
sql django "$pg" sessions 0001 >../ddl/postgres_django.sql
