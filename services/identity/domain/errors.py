"""Business-rule errors of the identity domain (subclasses of the kernel's DomainError).

    DomainError (shared.errors)
    ├── Conflict
    │   ├── AccountAlreadyOpened       the customer number is taken (409)
    │   ├── StaffUserExists            the user name is taken (409)
    │   ├── StaffUserInactive          the staff user was deactivated (409)
    │   ├── PasswordChangedMeanwhile   the password changed while a change was being made (409)
    │   └── ReferenceEmailChangedMeanwhile  If-Match named a reference address changed since (409)
    ├── NotFound
    │   ├── UnknownAccount             no such customer account (404)
    │   └── UnknownStaffUser           no such staff user (404)
    ├── Forbidden
    │   ├── RecentLoginRequired        the login is older than the sensitive action allows (403)
    │   ├── NotOnOneself               an admin may not lock themselves out (403)
    │   └── WrongCurrentPassword       a password change named the wrong current password (403)
    └── InvalidRequest
        ├── WeakPassword               the new password breaks the password rules (422)
        └── InvalidOneTimePassword     wrong, expired, used up, or no code at all (422)

Login failures and throttling are not errors of this tree: they are outcomes of the login
handler, answered 401 / 429 by the routes, identically for every cause.
"""

from __future__ import annotations

from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound


class AccountAlreadyOpened(Conflict):
    title = "Account already exists"


class StaffUserExists(Conflict):
    title = "Staff user already exists"


class UnknownAccount(NotFound):
    title = "Unknown account"


class UnknownStaffUser(NotFound):
    title = "Unknown staff user"


class StaffUserInactive(Conflict):
    title = "Staff user deactivated"


class NotOnOneself(Forbidden):
    title = "Not on oneself"


class RecentLoginRequired(Forbidden):
    title = "Recent login required"


class WrongCurrentPassword(Forbidden):
    title = "Current password wrong"

    def __init__(self) -> None:
        super().__init__("The current password is wrong.")


class ReferenceEmailChangedMeanwhile(Conflict):
    title = "Reference e-mail changed meanwhile"


class PasswordChangedMeanwhile(Conflict):
    title = "Password changed meanwhile"

    def __init__(self) -> None:
        super().__init__("The password was changed meanwhile. Log in again with the new one.")


class WeakPassword(InvalidRequest):
    title = "Password not accepted"


class InvalidOneTimePassword(InvalidRequest):
    title = "One-time password not accepted"

    def __init__(self) -> None:
        # One message for every cause, so the answer tells an attacker nothing about the code.
        super().__init__("The one-time password is wrong, expired or used up. Request a new one.")
