#!/bin/sh
# Runs the Go benchmarks (qsessions and scs) and Django's, once, and prints
# one combined markdown table with the machine it ran on.
#
#   ./run.sh                        # COUNT=5 BENCHTIME=1s
#   COUNT=10 BENCHTIME=2s ./run.sh
#   RATIO=cpu ./run.sh              # ratio columns on CPU time
#   OUT=results ./run.sh            # keep the raw outputs (benchstat reads them)
#
#   ./run.sh scale                  # the scale scenario of issue 16, Django's then ours
#   ./run.sh scale -big             # and the million-row sweeps under write load
#
# "scale" runs django-qsessions' scenario E (DJANGO_SCALE_BENCH, by default
# ../shared/anchors/django-bench/bench.py relative to the repository, with
# /usr/bin/python3 unless PYTHON is set) and then go run ./cmd/scale with
# its figures; further arguments go to cmd/scale.
#
# Redis + PostgreSQL rows run when QSESSIONS_REDIS_ADDR and
# QSESSIONS_POSTGRES_DSN are set. Django rows need python3-django (Debian);
# PYTHON picks the interpreter, else the first of python3 and /usr/bin/python3
# that can import Django. Without Django they are skipped with a message.
set -eu

cd "$(dirname "$0")"

if [ "${1:-}" = scale ]; then
	shift
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
	bench=${DJANGO_SCALE_BENCH:-../../shared/anchors/django-bench/bench.py}
	python=${PYTHON:-/usr/bin/python3}
	if [ -f "$bench" ] && "$python" -I -c 'import django.conf' 2>/dev/null; then
		echo "run.sh: Django, $python $bench --only E --sync NORMAL" >&2
		"$python" "$bench" --only E --sync NORMAL --json "$out/django-scale.json" >&2
		set -- -django "$out/django-scale.json" "$@"
	else
		echo "run.sh: no Django side ($bench, or python3-django, missing): qsessions only" >&2
	fi
	echo "run.sh: go run ./cmd/scale $*" >&2
	go run ./cmd/scale "$@"
	echo
	echo "Reproduce: cd bench && ./run.sh scale $*" | sed 's/ -django [^ ]*//'
	exit
fi

COUNT=${COUNT:-5}
BENCHTIME=${BENCHTIME:-1s}
RATIO=${RATIO:-wall}
if [ -n "${OUT:-}" ]; then
	mkdir -p "$OUT"
else
	OUT=$(mktemp -d)
	trap 'rm -rf "$OUT"' EXIT
fi

load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown; }

echo "run.sh: Go benchmarks, -count $COUNT -benchtime $BENCHTIME" >&2
{
	echo "load-before: $(load)"
	go test -run '^$' -bench . -benchmem -count "$COUNT" -benchtime "$BENCHTIME"
	echo "load-after: $(load)"
} >"$OUT/go.txt"

python=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null 2>&1 && "$p" -I -c 'import django.conf' 2>/dev/null; then
		python=$p
		break
	fi
done
inputs="-in $OUT/go.txt"
if [ -n "$python" ]; then
	# Seconds per Django measurement, from BENCHTIME ("2s", "500ms"); a
	# BENCHTIME that is a count of iterations ("100x") gives Django 1 second.
	case $BENCHTIME in
	*[0-9]ms) secs=${BENCHTIME%ms}e-3 ;;
	*[0-9]s) secs=${BENCHTIME%s} ;;
	*) secs=1 ;;
	esac
	echo "run.sh: Django benchmarks, $python django/bench.py --count $COUNT --benchtime $secs" >&2
	"$python" django/bench.py --gobench --count "$COUNT" --benchtime "$secs" >"$OUT/django.txt"
	inputs="$inputs -in $OUT/django.txt"
else
	echo "run.sh: python3-django is not installed (apt-get install python3-django): the Django rows are skipped" >&2
fi

# shellcheck disable=SC2086 # $inputs is a list of flags
go run ./cmd/report -ratio "$RATIO" $inputs
echo
echo "Reproduce: cd bench && COUNT=$COUNT BENCHTIME=$BENCHTIME ./run.sh"
