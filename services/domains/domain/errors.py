"""Errors of the domains service's rules (mapped to HTTP once, by `shared.http.problems`).

DomainError (shared.errors)
├── NotFound
│   └── UnknownDomain            no such domain for this customer (also: another customer's)
├── Conflict
│   ├── DomainUnavailable        registered already (by this customer or someone else)
│   ├── ContractEnded            the domain's contract ended (cancellation took effect)
│   ├── AlreadyExists            a vhost, mailbox or cancellation that exists already
│   └── ChangedMeanwhile         If-Match named a redirect that is no longer as it was read
├── Forbidden
│   └── RequestRefused           support may not do this at this requester's request
└── InvalidRequest
    └── InvalidName              a domain, host, local part or URL that fails validation
"""

from __future__ import annotations

from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound


class UnknownDomain(NotFound):
    title = "Unknown domain"


class DomainUnavailable(Conflict):
    title = "Domain not available"


class ContractEnded(Conflict):
    title = "Contract ended"


class AlreadyExists(Conflict):
    title = "Already exists"


class ChangedMeanwhile(Conflict):
    title = "Changed meanwhile"


class RequestRefused(Forbidden):
    title = "Request refused"


class InvalidName(InvalidRequest):
    title = "Invalid name"
