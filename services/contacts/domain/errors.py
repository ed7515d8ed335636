"""Business-rule errors of the contacts domain (subclasses of the kernel's DomainError).

DomainError (shared.errors)
├── NotFound
│   ├── UnknownContact
│   └── UnknownGrant
├── Forbidden
│   └── NotPermitted          the acting contact lacks a scope the action needs
├── Conflict
│   ├── DuplicateContact
│   ├── ContactAlreadyRemoved
│   ├── ContactChangedMeanwhile   If-Match named details that are no longer the contact's
│   ├── GrantAlreadyRevoked
│   └── InstructionStateConflict
└── InvalidRequest
    ├── InvalidContactDetails
    ├── InvalidValidity
    └── InvalidAddress
"""

from __future__ import annotations

from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound


class UnknownContact(NotFound):
    title = "No such contact"


class UnknownGrant(NotFound):
    title = "No such authorization"


class NotPermitted(Forbidden):
    title = "Not permitted"


class DuplicateContact(Conflict):
    title = "Contact already exists"


class ContactAlreadyRemoved(Conflict):
    title = "Contact removed"


class ContactChangedMeanwhile(Conflict):
    title = "Contact changed meanwhile"


class GrantAlreadyGiven(Conflict):
    title = "Authorization already granted"


class GrantAlreadyRevoked(Conflict):
    title = "Authorization already revoked"


class InstructionStateConflict(Conflict):
    title = "Official instruction state"


class InvalidContactDetails(InvalidRequest):
    title = "Invalid contact details"


class InvalidValidity(InvalidRequest):
    title = "Invalid validity"


class InvalidAddress(InvalidRequest):
    title = "Invalid address"
