#!/usr/bin/env python3
"""The Django side of package django's interop test (see ../../interop_test.go)."""
import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
