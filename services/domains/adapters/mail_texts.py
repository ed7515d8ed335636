"""The e-mails the domains service sends. Bodies may carry a secret: `shared.mail` never logs them."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage

from shared.mail import build_message


def mailbox_password_link(
    *, sender: str, to: str, address: str, portal_url: str, token: str, expires_at: datetime
) -> EmailMessage:
    # The token rides in the fragment, which browsers never send to a server (no access logs).
    link = f"{portal_url.rstrip('/')}/mailbox-password#token={token}"
    text = (
        f"Hello,\n\na mailbox was set up for you: {address}\n\n"
        f"Choose its password here (the link works once, until {expires_at:%Y-%m-%d %H:%M} UTC):\n\n"
        f"{link}\n\nNobody else, not even our support, will ever know this password.\n"
    )
    return build_message(sender=sender, to=to, subject=f"Set the password for {address}", text=text)


def ftp_credentials(*, sender: str, to: str, domain: str, username: str, password: str) -> EmailMessage:
    text = (
        f"Hello,\n\nhere are the new FTP credentials for {domain}, as requested:\n\n"
        f"  Server:   {domain}\n  User:     {username}\n  Password: {password}\n\n"
        "The previous password no longer works. Keep this one to yourself; our support will never ask"
        " for it.\n"
    )
    return build_message(sender=sender, to=to, subject=f"New FTP credentials for {domain}", text=text)


def ftp_owner_notice(*, sender: str, to: str, domain: str, recipient: str, agent: str) -> EmailMessage:
    text = (
        f"Hello,\n\nnew FTP credentials for {domain} were issued and sent to {recipient}, at their request,"
        f" through our support ({agent}). The previous password no longer works.\n\n"
        "If you did not expect this, please contact us, and review who is authorized to request access"
        " credentials for your account.\n"
    )
    return build_message(sender=sender, to=to, subject=f"FTP credentials for {domain} were reissued", text=text)
