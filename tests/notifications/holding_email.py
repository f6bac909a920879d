"""For the killed-worker test (test_worker_kill.py): the worker's settings, and an e-mail backend that holds in the
middle of sending until the test lets it go, then writes each message as a file (one file, one e-mail sent)."""

import os

from django.core.mail.backends.filebased import EmailBackend
from django.db import connection

from portal.settings.local import *  # noqa: F403

# The advisory lock the test holds while the worker is to be killed (advisory locks belong to one database).
HOLD_KEY = 6_060_606

EMAIL_BACKEND = "tests.notifications.holding_email.HoldingEmailBackend"
EMAIL_FILE_PATH = os.environ.get("NOTIFICATION_TEST_MAIL_DIR", "")


class HoldingEmailBackend(EmailBackend):
    def send_messages(self, email_messages):
        # Inside the send's transaction, with the notification row locked: waits while the test holds the key.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [HOLD_KEY])
        return super().send_messages(email_messages)
