# shellcheck shell=bash
# Starts and stops a Redis Cluster of three masters (no replicas) on
# loopback, for the tests of package redis, and exports the masters'
# addresses as QSESSIONS_REDIS_CLUSTER_ADDRS. Sourced by .ci/services.sh;
# also usable by hand:
#
#	source .ci/redis-cluster.sh && start_redis_cluster && go test ./redis/ ; stop_redis_cluster
#
# Each node runs in a directory of its own (under QS_SERVICES_DIR when it is
# set, else in a new temporary directory) on ports QS_REDIS_CLUSTER_PORT,
# +1 and +2 (default 17000), and on those ports + 10000 for the cluster bus.
# Only the processes started here are stopped, by their PID.

QS_REDIS_CLUSTER_PORT=${QS_REDIS_CLUSTER_PORT:-17000}
QS_REDIS_CLUSTER_DIR=
QS_REDIS_CLUSTER_TMP=

start_redis_cluster() {
	if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
		if declare -F apt_install >/dev/null; then
			apt_install redis-server redis-tools
		else
			echo "redis-cluster: redis-server and redis-cli are needed" >&2
			return 1
		fi
	fi
	local base=${QS_SERVICES_DIR:-}
	if [ -z "$base" ]; then
		base=$(mktemp -d /tmp/qsessions-redis-cluster.XXXXXX)
		QS_REDIS_CLUSTER_TMP=$base
	fi
	QS_REDIS_CLUSTER_DIR="$base/redis-cluster"
	local i port dir addrs=()
	for i in 0 1 2; do
		port=$((QS_REDIS_CLUSTER_PORT + i))
		dir="$QS_REDIS_CLUSTER_DIR/$port"
		mkdir -p "$dir"
		redis-server --bind 127.0.0.1 --port "$port" \
			--cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --cluster-node-timeout 5000 \
			--save '' --appendonly no --daemonize yes \
			--pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
		addrs+=("127.0.0.1:$port")
	done
	for i in 0 1 2; do
		port=$((QS_REDIS_CLUSTER_PORT + i))
		for _ in $(seq 50); do
			redis-cli -p "$port" ping >/dev/null 2>&1 && break
			sleep 0.1
		done
		redis-cli -p "$port" ping >/dev/null
	done
	redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes \
		>"$QS_REDIS_CLUSTER_DIR/create.log" 2>&1 || {
		cat "$QS_REDIS_CLUSTER_DIR/create.log" >&2
		return 1
	}
	# Every node must see the whole cluster before the tests start.
	local ok
	for _ in $(seq 100); do
		ok=0
		for i in 0 1 2; do
			port=$((QS_REDIS_CLUSTER_PORT + i))
			redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && ok=$((ok + 1))
		done
		[ "$ok" = 3 ] && break
		sleep 0.1
	done
	if [ "$ok" != 3 ]; then
		echo "redis-cluster: cluster_state is not ok on every node" >&2
		return 1
	fi
	QSESSIONS_REDIS_CLUSTER_ADDRS=$(
		IFS=,
		echo "${addrs[*]}"
	)
	export QSESSIONS_REDIS_CLUSTER_ADDRS
	echo "redis cluster: $QSESSIONS_REDIS_CLUSTER_ADDRS"
}

stop_redis_cluster() {
	[ -n "$QS_REDIS_CLUSTER_DIR" ] || return 0
	local f pid pids=()
	for f in "$QS_REDIS_CLUSTER_DIR"/*/redis.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null || true
		pids+=("$pid")
	done
	# The nodes stop in parallel.
	for pid in ${pids[@]+"${pids[@]}"}; do
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	done
	rm -rf "$QS_REDIS_CLUSTER_DIR" ${QS_REDIS_CLUSTER_TMP:+"$QS_REDIS_CLUSTER_TMP"}
	QS_REDIS_CLUSTER_DIR= QS_REDIS_CLUSTER_TMP=
}
