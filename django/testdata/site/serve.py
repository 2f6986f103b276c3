#!/usr/bin/env python3
"""Migrates the database, then serves the test site on a free loopback port.

It prints "listening PORT" once it accepts connections, and exits when its
standard input closes, so that it never outlives the Go test that started it.
"""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interop.settings")


def exit_on_eof():
    sys.stdin.read()
    os._exit(0)


def main():
    threading.Thread(target=exit_on_eof, daemon=True).start()
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    call_command("migrate", verbosity=0, interactive=False)

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=QuietHandler)
    print("listening", server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
