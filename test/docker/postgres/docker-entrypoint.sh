#!/bin/bash
# First start: initdb as POSTGRES_USER (password POSTGRES_PASSWORD, or trust
# when POSTGRES_HOST_AUTH_METHOD=trust), create POSTGRES_DB, run the files in
# /docker-entrypoint-initdb.d. Every start: exec postgres listening on all
# addresses (or what `-c listen_addresses=` in the command says).
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
	exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 0700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export POSTGRES_USER POSTGRES_DB

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
		echo 'error: POSTGRES_PASSWORD is empty; set it, or POSTGRES_HOST_AUTH_METHOD=trust' >&2
		exit 1
	fi
	# Words, as the official image splits them (no globbing here).
	read -ra initdb_args <<<"${POSTGRES_INITDB_ARGS:-}"
	pwfile=$(mktemp)
	printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
	initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
		--auth-host="$auth" --encoding=UTF8 --locale=C.UTF-8 "${initdb_args[@]}" >/dev/null
	rm -f "$pwfile"
	printf 'host all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

	# A private server on the socket only, for the first-start setup.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start >/dev/null
	psql=(psql -v ON_ERROR_STOP=1 -X -q --username "$POSTGRES_USER" --no-password)
	if [ "$POSTGRES_DB" != postgres ]; then
		"${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<-'SQL'
			CREATE DATABASE :"db";
		SQL
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case $f in
		*.sh)
			echo "running $f" >&2
			# shellcheck source=/dev/null # the image user's scripts, not ours
			. "$f"
			;;
		*.sql) echo "running $f" >&2; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
		*.sql.gz) echo "running $f" >&2; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo 'PostgreSQL init process complete; ready for start up.' >&2
fi

case " $* " in
*listen_addresses*) exec "$@" ;;
*) exec "$@" -c listen_addresses='*' ;;
esac
