# shellcheck shell=bash
# Starts the servers the tests need, on loopback, each in a temp directory,
# and exports their addresses. Sourced by .ci/run; also usable by hand:
#
#	source .ci/services.sh && start_services && go test ./... ; stop_services
#
# Only processes started here are stopped, by their PID.

QS_SERVICES_DIR=${QS_SERVICES_DIR:-$(mktemp -d /tmp/qsessions-services.XXXXXX)}
QS_REDIS_PORT=${QS_REDIS_PORT:-16379}
QS_PG_PORT=${QS_PG_PORT:-15432}

# shellcheck source=redis-cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/redis-cluster.sh"

apt_updated=
apt_install() {
	if [ -z "$apt_updated" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pg_bindir() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		if [ -x "$d/initdb" ]; then
			echo "$d"
		fi
	done | sort -V | tail -1
}

start_redis() {
	command -v redis-server >/dev/null || apt_install redis-server
	redis-server --bind 127.0.0.1 --port "$QS_REDIS_PORT" --save '' --appendonly no \
		--daemonize yes --pidfile "$QS_SERVICES_DIR/redis.pid" \
		--logfile "$QS_SERVICES_DIR/redis.log" --dir "$QS_SERVICES_DIR"
	for _ in $(seq 50); do
		redis-cli -p "$QS_REDIS_PORT" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	redis-cli -p "$QS_REDIS_PORT" ping >/dev/null
	export QSESSIONS_REDIS_ADDR="127.0.0.1:$QS_REDIS_PORT"
	echo "redis: $QSESSIONS_REDIS_ADDR"
}

start_postgres() {
	[ -n "$(pg_bindir)" ] || apt_install postgresql
	local bin data
	bin=$(pg_bindir)
	data="$QS_SERVICES_DIR/pgdata"
	mkdir -p "$data"
	chown -R postgres: "$QS_SERVICES_DIR"
	chmod 755 "$QS_SERVICES_DIR"
	su postgres -s /bin/sh -c "'$bin/initdb' -D '$data' -U postgres -A trust -E UTF8 --no-locale" >"$QS_SERVICES_DIR/initdb.log"
	su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$data' -l '$QS_SERVICES_DIR/pg.log' -w -o \"-h 127.0.0.1 -p $QS_PG_PORT -k '$QS_SERVICES_DIR' -c fsync=off -c max_connections=200\" start" >/dev/null
	head -1 "$data/postmaster.pid" >"$QS_SERVICES_DIR/pg.pid"
	export QSESSIONS_POSTGRES_DSN="postgres://postgres@127.0.0.1:$QS_PG_PORT/postgres?sslmode=disable"
	echo "postgres: $QSESSIONS_POSTGRES_DSN"
}

start_services() {
	start_redis
	start_redis_cluster
	start_postgres
}

stop_services() {
	local f pid
	stop_redis_cluster
	for f in "$QS_SERVICES_DIR/redis.pid" "$QS_SERVICES_DIR/pg.pid"; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	done
	rm -rf "$QS_SERVICES_DIR"
}
