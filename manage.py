#!/usr/bin/env python
"""Django's command-line utility for Tandportal."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
    if not os.environ.get("DATABASE_URL"):
        sys.exit(
            "DATABASE_URL is not set. Use `make run`, or run a command with the embedded services:\n"
            "  .venv/bin/python -m portal.devservices exec -- .venv/bin/python manage.py ..."
        )
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
