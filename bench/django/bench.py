#!/usr/bin/env python3
"""Django's session backends on the workloads of qsessions' Go benchmarks.

Runs full requests in-process through Django's WSGI handler, with
SessionMiddleware and a minimal urlconf, against the cached_db backend
(LocMemCache in front of SQLite) and the db backend (SQLite only):

  Baseline   the same request without SessionMiddleware, to a view that
             answers "ok": Django's own cost per request, for reference.
  ReadOnly   an existing session; the view reads the user ID.
  Write      the view reads the user ID and stores a counter that changes
             on every request, so the session is saved.

Every session holds a user ID (under _auth_user_id, where
django.contrib.auth keeps it) and a 43-character CSRF-style secret, as the
Go benchmarks' sessions do. Requests carry the session cookie, the same
User-Agent and Accept headers as the Go requests, and REMOTE_ADDR.

SQLite runs in WAL mode with synchronous=NORMAL and busy_timeout=5000, the
settings of both Go libraries' SQLite databases, on a persistent connection
(CONN_MAX_AGE=None; Django's default, 0, would reopen the database on
every request).

Each measurement runs the workload for --benchtime seconds, after a
warm-up, timing it with time.perf_counter (wall clock) and
time.process_time (CPU time of this process). It is repeated --count times.

Output: a table of microseconds per request (medians over the repetitions),
or with --gobench, lines in the Go benchmark format, which benchstat and
bench/cmd/report read:

  BenchmarkReadOnly/django-cached_db  20000  51234 ns/op  50990 cpu-ns/op

Run it with the python3 that has Debian's python3-django:

  python3 bench/django/bench.py [--count 5] [--benchtime 1] [--gobench]
"""

import argparse
import io
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

USER = "alice"
CSRF = "dXJ3b3FvZW5vZmNhbWVzaG91bGRub3RiZWd1ZXNzZWQ"
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36")

ENGINES = {
    "cached_db": "django.contrib.sessions.backends.cached_db",
    "db": "django.contrib.sessions.backends.db",
}


def import_django():
    """Imports Django, or re-runs this script under Debian's /usr/bin/python3
    when the python3 first on PATH (a pyenv or venv one) cannot see
    python3-django. Exits with a clear message when Django is nowhere."""
    try:
        import django.conf  # noqa: F401 (not just "django": a directory named so would do)
        return
    except ImportError:
        pass
    system = "/usr/bin/python3"
    if (os.environ.get("QSESSIONS_BENCH_REEXEC") != "1" and os.path.exists(system)
            and os.path.realpath(sys.executable) != os.path.realpath(system)):
        os.environ["QSESSIONS_BENCH_REEXEC"] = "1"
        print(f"bench.py: Django is not importable from {sys.executable}; "
              f"re-running under {system}", file=sys.stderr)
        os.execv(system, [system] + sys.argv)
    sys.exit("bench.py: Django is not installed: apt-get install python3-django "
             "(or pip install django)")


# Views and urlconf (this module is ROOT_URLCONF).

def view_baseline(request):
    from django.http import HttpResponse
    return HttpResponse(b"ok")


def view_read_only(request):
    from django.http import HttpResponse, HttpResponseServerError
    if request.session.get("_auth_user_id") != USER:
        return HttpResponseServerError(b"no user")
    return HttpResponse(b"ok")


_counter = [0]


def view_write(request):
    from django.http import HttpResponse, HttpResponseServerError
    if request.session.get("_auth_user_id") != USER:
        return HttpResponseServerError(b"no user")
    _counter[0] += 1
    request.session["n"] = _counter[0]
    return HttpResponse(b"ok")


urlpatterns = []


def configure(db_path):
    import django
    from django.conf import settings
    from django.urls import path

    settings.configure(
        DEBUG=False,
        SECRET_KEY="qsessions-bench-" + "k" * 40,
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.sessions"],
        MIDDLEWARE=[],
        DATABASES={"default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": db_path,
            "CONN_MAX_AGE": None,
            "OPTIONS": {"timeout": 5},
        }},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        SESSION_ENGINE=ENGINES["cached_db"],
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()

    from django.db.backends.signals import connection_created

    def sqlite_pragmas(sender, connection, **kwargs):
        if connection.vendor == "sqlite":
            with connection.cursor() as c:
                c.execute("PRAGMA journal_mode=WAL")
                c.execute("PRAGMA synchronous=NORMAL")
                c.execute("PRAGMA busy_timeout=5000")

    connection_created.connect(sqlite_pragmas)

    urlpatterns[:] = [
        path("baseline", view_baseline),
        path("read", view_read_only),
        path("write", view_write),
    ]

    from django.core.management import call_command
    call_command("migrate", verbosity=0, interactive=False)


def handler(engine, with_sessions=True):
    """A WSGI handler with SessionMiddleware over the given engine (or no
    middleware at all)."""
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    settings.SESSION_ENGINE = ENGINES[engine]
    settings.MIDDLEWARE = (["django.contrib.sessions.middleware.SessionMiddleware"]
                           if with_sessions else [])
    return WSGIHandler()


def new_session(engine):
    """Stores a signed-in session through the engine and returns its key."""
    from importlib import import_module
    store = import_module(ENGINES[engine]).SessionStore()
    store["_auth_user_id"] = USER
    store["csrf"] = CSRF
    store.create()
    return store.session_key


def environ(path, session_key):
    env = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/" + path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.1",
        "REMOTE_PORT": "1234",
        "HTTP_HOST": "testserver",
        "HTTP_USER_AGENT": USER_AGENT,
        "HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if session_key:
        env["HTTP_COOKIE"] = "sessionid=" + session_key
    return env


class Failure(Exception):
    pass


def make_request(app, base):
    """Returns a function that serves one request and checks the answer."""
    status = []

    def start_response(s, headers, exc_info=None):
        status.append(s)

    def serve():
        env = dict(base)
        env["wsgi.input"] = io.BytesIO(b"")
        status.clear()
        resp = app(env, start_response)
        try:
            body = b"".join(resp)
        finally:
            resp.close()  # sends request_finished, as a WSGI server does
        if status[0] != "200 OK" or body != b"ok":
            raise Failure(f"{status[0]} {body!r}")

    return serve


def measure(serve, benchtime):
    """Runs serve for about benchtime seconds; returns (iterations, wall ns
    per request, CPU ns per request)."""
    for _ in range(50):  # warm-up
        serve()
    n = 50
    while True:
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            serve()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if wall >= benchtime or n >= 100_000_000:
            return n, wall * 1e9 / n, cpu * 1e9 / n
        # Aim 20% past benchtime, growing at most 100-fold, as Go does.
        n = int(min(max(n * 1.2 * benchtime / max(wall, 1e-9), n + 1), n * 100))


def run(args):
    """Yields (workload, backend, iterations, wall ns, cpu ns)."""
    cases = [("Baseline", "django", lambda: (handler("cached_db", False), "baseline", None))]
    for engine in ("cached_db", "db"):
        for workload, path in (("ReadOnly", "read"), ("Write", "write")):
            def setup(engine=engine, path=path):
                return handler(engine), path, new_session(engine)
            cases.append((workload, "django-" + engine, setup))
    for workload, backend, setup in cases:
        app, path, key = setup()
        serve = make_request(app, environ(path, key))
        for _ in range(args.count):
            n, wall, cpu = measure(serve, args.benchtime)
            yield workload, backend, n, wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=5, help="repetitions of each measurement")
    ap.add_argument("--benchtime", type=float, default=1.0, help="seconds per measurement")
    ap.add_argument("--gobench", action="store_true", help="print Go benchmark lines")
    args = ap.parse_args()
    if args.count < 1 or args.benchtime <= 0:
        ap.error("--count must be at least 1 and --benchtime positive")

    import_django()
    import django

    tmp = tempfile.mkdtemp(prefix="qsessions-django-bench-")
    try:
        configure(os.path.join(tmp, "sessions.sqlite3"))
        if args.gobench:
            print("pkg: django")
            print(f"django-version: {django.get_version()}")
            print(f"python-version: {platform.python_version()}")
            sys.stdout.flush()
        results = {}
        for workload, backend, n, wall, cpu in run(args):
            if args.gobench:
                print(f"Benchmark{workload}/{backend}\t{n}\t{wall:.1f} ns/op\t{cpu:.1f} cpu-ns/op",
                      flush=True)
            results.setdefault((workload, backend), []).append((wall, cpu))
    finally:
        from django.db import connections
        connections.close_all()
        shutil.rmtree(tmp, ignore_errors=True)

    if not args.gobench:
        print(f"Django {django.get_version()}, Python {platform.python_version()}, "
              f"median of {args.count} x {args.benchtime:g} s\n")
        print("| Workload | Backend | µs/request (wall) | µs/request (CPU) |")
        print("|---|---|---:|---:|")
        for (workload, backend), runs in results.items():
            wall = statistics.median(r[0] for r in runs) / 1000
            cpu = statistics.median(r[1] for r in runs) / 1000
            print(f"| {workload} | {backend} | {wall:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        sys.exit(f"bench.py: a request failed: {e}")
