"""Billing's own settings (the common ones are in `shared.settings`).

BILLING_MAIL_FROM   sender of the notices about a changed invoice e-mail address
"""

from __future__ import annotations

import os

DEFAULT_MAIL_FROM = "Hosting Accounts Billing <billing@hosting-accounts.invalid>"


def mail_from() -> str:
    return os.environ.get("BILLING_MAIL_FROM", DEFAULT_MAIL_FROM)
