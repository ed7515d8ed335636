"""The one list of authorization scopes, used by every service.

A scope names what support may do at the request of a contact person of a customer. Contacts
grants them (`ContactAuthorized.scopes` carries the values below); billing and domains enforce
them from their own copies of `contacts.events`. Values are stable wire names: never rename
one, only add new ones (consumers treat unknown values as scopes they cannot match).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from enum import StrEnum


class Scope(StrEnum):
    VIEW_CONTRACTS = "contracts:view"  # view contracts and booked services
    REQUEST_CREDENTIALS = "credentials:request"  # request access credentials (FTP etc.)
    CHANGE_DNS = "dns:change"  # change DNS records and redirects
    MANAGE_MAILBOXES = "mailboxes:manage"  # create and change mailboxes
    MANAGE_BILLING = "billing:manage"  # manage billing data
    PLACE_ORDERS = "orders:place"  # place orders
    CANCEL_SERVICES = "services:cancel"  # cancel services
    MANAGE_CONTACTS = "contacts:manage"  # manage contacts and their authorizations
    ALL = "all"  # a full authorization: every scope, including ones added later


DESCRIPTIONS: dict[Scope, str] = {
    Scope.VIEW_CONTRACTS: "View contracts and booked services",
    Scope.REQUEST_CREDENTIALS: "Request access credentials (FTP etc.)",
    Scope.CHANGE_DNS: "Change DNS and redirects",
    Scope.MANAGE_MAILBOXES: "Create and change mailboxes",
    Scope.MANAGE_BILLING: "Manage billing data",
    Scope.PLACE_ORDERS: "Place orders",
    Scope.CANCEL_SERVICES: "Cancel services",
    Scope.MANAGE_CONTACTS: "Manage contacts and their authorizations",
    Scope.ALL: "Full authorization (every scope)",
}

_ALL = Scope.ALL.value


def covers(held: Collection[str], action: str) -> bool:
    """Whether scopes `held` (wire values) allow `action`: named, or implied by "all"."""
    # Membership in what is held as it is (a grant's few scopes): this runs for every grant
    # looked at by every check, and building a set cost more than the test.
    return action in held or _ALL in held


def covers_all(held: Iterable[str], wanted: Iterable[str]) -> bool:
    """Whether `held` allows every scope in `wanted` (granting "all" needs "all" itself)."""
    held_set = set(held)
    return all(covers(held_set, w) for w in wanted)


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """Known scopes among wire values; raises ValueError for an unknown one."""
    return frozenset(Scope(v) for v in values)
