"""The texts of identity's e-mails. The one-time password appears in the body only: never in
the subject (shown in notifications and logged by some relays) and never in a link (links end
up in browser histories and proxy logs)."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from urllib.parse import urlencode

from services.identity.domain.one_time_password import for_display
from shared.mail import build_message


def one_time_password_mail(
    *, sender: str, to: str, name: str, customer_number: str, code: str, expires_at: datetime, portal_url: str
) -> EmailMessage:
    link = f"{portal_url.rstrip('/')}/password?{urlencode({'customer': customer_number})}"
    text = (
        f"Hello {name},\n\n"
        f"someone (hopefully you) asked to set the password of customer account {customer_number}.\n\n"
        f"Your one-time password:\n\n    {for_display(code)}\n\n"
        f"It is valid until {expires_at:%Y-%m-%d %H:%M} UTC and works only once.\n"
        f"Enter it together with your new password here:\n\n    {link}\n\n"
        "If you did not ask for this, ignore this message: your current password stays as it is.\n"
    )
    return build_message(sender=sender, to=to, subject="Your one-time password", text=text)


def password_changed_mail(
    *,
    sender: str,
    to: str,
    name: str,
    customer_number: str,
    changed_at: datetime,
    portal_url: str,
    this_session_kept: bool = False,
) -> EmailMessage:
    """`this_session_kept`: changed in a logged-in session, which stays (only the others ended)."""
    ended = "every other open session" if this_session_kept else "every open session"
    text = (
        f"Hello {name},\n\n"
        f"the password of customer account {customer_number} was changed on "
        f"{changed_at:%Y-%m-%d at %H:%M} UTC, and {ended} was logged out.\n\n"
        "If this was you, there is nothing to do.\n"
        f"If it was not, request a new one-time password at {portal_url.rstrip('/')}/password "
        "right away and contact our support.\n"
    )
    return build_message(sender=sender, to=to, subject="Your password was changed", text=text)


def _masked(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def reference_email_changed_mail(
    *, sender: str, to: str, name: str, customer_number: str, new_email: str, changed_at: datetime, by_staff: bool
) -> EmailMessage:
    """To the address one-time passwords went to until now: the recovery address has moved, which
    is what taking an account over starts with. The new address is shown masked."""
    who = "by our support staff" if by_staff else "in a logged-in session of the account"
    text = (
        f"Hello {name},\n\n"
        f"the reference e-mail address of customer account {customer_number} was changed {who} on "
        f"{changed_at:%Y-%m-%d at %H:%M} UTC, to {_masked(new_email)}.\n"
        "One-time passwords for setting the password now go there; a code sent here before no longer works.\n\n"
        "If this was you or was agreed with you, there is nothing to do.\n"
        "If it was not, contact our support right away.\n"
    )
    return build_message(sender=sender, to=to, subject="Your reference e-mail address was changed", text=text)
