"""The domain aggregate: given these events, when this command, then these events (or this error)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.domains.domain import domains as rules
from services.domains.domain.errors import (
    AlreadyExists,
    ChangedMeanwhile,
    ContractEnded,
    DomainUnavailable,
    InvalidName,
    UnknownDomain,
)
from services.domains.domain.events import (
    DomainCancellationRequested,
    DomainCancellationWithdrawn,
    DomainRegistered,
    FtpCredentialsReissued,
    MailboxCreated,
    MailboxDeleted,
    MailboxPasswordLinkSent,
    MailboxPasswordSet,
    RedirectRemoved,
    RedirectSet,
    VhostCreated,
    VhostDeleted,
)
from services.domains.domain.names import parse_domain, parse_host
from services.domains.domain.urls import parse_target_url
from shared.envelope import DomainEvent
from shared.errors import InvalidRequest, NotFound

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
A, B = "100001", "100002"
NAME = parse_domain("example.de")
MAILBOX = uuid.UUID(int=7)


def registered(*more: DomainEvent) -> rules.Domain | None:
    return rules.fold([DomainRegistered("example.de", "example.de", A, "example.de"), *more])


def test_a_free_name_is_registered_with_its_ftp_login() -> None:
    assert rules.decide_register(None, NAME, A, NOW) == [DomainRegistered("example.de", "example.de", A, "example.de")]


def test_a_registered_name_is_unavailable_to_everyone() -> None:
    state = registered()
    with pytest.raises(DomainUnavailable, match="for you already"):
        rules.decide_register(state, NAME, A, NOW)
    with pytest.raises(DomainUnavailable, match="not available"):
        rules.decide_register(state, NAME, B, NOW)


def test_after_the_cancellation_took_effect_the_name_is_free_and_starts_from_nothing() -> None:
    state = registered(
        VhostCreated("example.de", "example.de"), DomainCancellationRequested("example.de", A, NOW.date())
    )
    assert state is not None
    assert not state.ended(NOW)
    later = NOW + timedelta(days=1)
    with pytest.raises(ContractEnded):
        rules.decide_create_vhost(state, A, parse_host("www.example.de"), later)
    events = rules.decide_register(state, NAME, B, later)
    again = rules.fold([DomainRegistered("example.de", "example.de", A, "example.de"), *events])
    assert again is not None
    assert again.customer_number == B
    assert again.vhosts == frozenset()


def test_another_customers_domain_is_unknown() -> None:
    with pytest.raises(UnknownDomain):
        rules.decide_create_vhost(registered(), B, parse_host("example.de"), NOW)
    with pytest.raises(UnknownDomain):
        rules.decide_cancel(None, A, None, NOW)


def test_cancellation_defaults_to_the_end_of_the_month_and_happens_once() -> None:
    [event] = rules.decide_cancel(registered(), A, None, NOW)
    assert event == DomainCancellationRequested("example.de", A, date(2026, 11, 30))
    with pytest.raises(AlreadyExists):
        rules.decide_cancel(registered(event), A, None, NOW)


def test_a_pending_cancellation_can_be_withdrawn_until_its_last_day_is_over() -> None:
    cancelled = DomainCancellationRequested("example.de", A, date(2026, 11, 30))
    [withdrawn] = rules.decide_withdraw_cancellation(registered(cancelled), A, NOW)
    assert withdrawn == DomainCancellationWithdrawn("example.de", A, date(2026, 11, 30))
    state = registered(cancelled, withdrawn)
    assert state is not None
    assert state.cancellation_effective_on is None
    assert not state.ended(NOW + timedelta(days=30))  # runs on
    assert rules.decide_withdraw_cancellation(state, A, NOW) == []  # none pending: nothing to do
    assert rules.decide_cancel(state, A, None, NOW) == [cancelled]  # and it can be cancelled again
    last_minute = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    assert rules.decide_withdraw_cancellation(registered(cancelled), A, last_minute) == [withdrawn]
    with pytest.raises(ContractEnded):
        rules.decide_withdraw_cancellation(registered(cancelled), A, datetime(2026, 12, 1, tzinfo=UTC))
    with pytest.raises(UnknownDomain):
        rules.decide_withdraw_cancellation(registered(cancelled), B, NOW)


@pytest.mark.parametrize(
    ("day", "last"), [(date(2026, 2, 3), 28), (date(2028, 2, 29), 29), (date(2026, 12, 31), 31), (date(2026, 4, 1), 30)]
)
def test_last_day_of_month(day: date, last: int) -> None:
    assert rules.last_day_of_month(day) == day.replace(day=last)


def test_a_chosen_effective_date_is_today_or_later_within_two_years() -> None:
    assert rules.decide_cancel(registered(), A, NOW.date(), NOW)[0] == DomainCancellationRequested(
        "example.de", A, NOW.date()
    )
    for bad in (NOW.date() - timedelta(days=1), NOW.date() + timedelta(days=731)):
        with pytest.raises(InvalidRequest):
            rules.decide_cancel(registered(), A, bad, NOW)


def test_the_domain_works_until_the_end_of_its_last_day() -> None:
    state = registered(DomainCancellationRequested("example.de", A, NOW.date()))
    assert state is not None
    assert not state.ended(NOW.replace(hour=23, minute=59))
    assert state.ended(NOW + timedelta(days=1))


def test_vhosts_are_the_domain_or_its_subdomains_once_each() -> None:
    assert rules.decide_create_vhost(registered(), A, parse_host("mail.example.de"), NOW) == [
        VhostCreated("example.de", "mail.example.de")
    ]
    with pytest.raises(InvalidName):
        rules.decide_create_vhost(registered(), A, parse_host("example.com"), NOW)
    with pytest.raises(AlreadyExists):
        rules.decide_create_vhost(
            registered(VhostCreated("example.de", "example.de")), A, parse_host("example.de"), NOW
        )


def test_deleting_a_vhost_deletes_its_mailboxes_first() -> None:
    other = uuid.UUID(int=8)
    state = registered(
        VhostCreated("example.de", "example.de"),
        VhostCreated("example.de", "shop.example.de"),
        MailboxCreated("example.de", "example.de", MAILBOX, "info@example.de", "o@x.de"),
        MailboxCreated("example.de", "shop.example.de", other, "info@shop.example.de", "o@x.de"),
    )
    assert rules.decide_delete_vhost(state, A, parse_host("example.de"), NOW) == [
        MailboxDeleted("example.de", "example.de", MAILBOX, "info@example.de"),
        VhostDeleted("example.de", "example.de"),
    ]
    with pytest.raises(NotFound):
        rules.decide_delete_vhost(state, A, parse_host("www.example.de"), NOW)


def test_mailboxes_live_in_an_existing_vhost_once() -> None:
    with_vhost = registered(VhostCreated("example.de", "example.de"))
    vhost = parse_host("example.de")
    assert rules.decide_create_mailbox(with_vhost, A, vhost, "info", MAILBOX, "o@x.de", NOW) == [
        MailboxCreated("example.de", "example.de", MAILBOX, "info@example.de", "o@x.de")
    ]
    with pytest.raises(NotFound):
        rules.decide_create_mailbox(registered(), A, vhost, "info", MAILBOX, "o@x.de", NOW)
    state = registered(VhostCreated("example.de", "example.de"), *rules.decide_create_mailbox(
        with_vhost, A, vhost, "info", MAILBOX, "o@x.de", NOW
    ))  # fmt: skip
    with pytest.raises(AlreadyExists):
        rules.decide_create_mailbox(state, A, vhost, "info", uuid.UUID(int=9), "o@x.de", NOW)
    assert rules.decide_delete_mailbox(state, A, vhost, "info", NOW) == [
        MailboxDeleted("example.de", "example.de", MAILBOX, "info@example.de")
    ]


def test_a_password_link_is_good_only_for_its_own_mailbox() -> None:
    state = registered(
        VhostCreated("example.de", "example.de"),
        MailboxCreated("example.de", "example.de", MAILBOX, "info@example.de", "o@x.de"),
    )
    assert rules.decide_set_mailbox_password(state, MAILBOX, "info@example.de", NOW) == [
        MailboxPasswordSet("example.de", MAILBOX, "info@example.de")
    ]
    recreated = registered(
        VhostCreated("example.de", "example.de"),
        MailboxCreated("example.de", "example.de", MAILBOX, "info@example.de", "o@x.de"),
        MailboxDeleted("example.de", "example.de", MAILBOX, "info@example.de"),
        MailboxCreated("example.de", "example.de", uuid.UUID(int=9), "info@example.de", "o@x.de"),
    )
    with pytest.raises(NotFound):  # the old link must not set the new mailbox's password
        rules.decide_set_mailbox_password(recreated, MAILBOX, "info@example.de", NOW)


def test_redirects_from_the_domains_hosts_to_elsewhere_idempotently() -> None:
    target = parse_target_url("https://yx.de/")
    events = rules.decide_set_redirect(registered(), A, parse_host("example.de"), target, True, NOW)
    assert events == [RedirectSet("example.de", "example.de", "https://yx.de/", True)]
    assert rules.decide_set_redirect(registered(*events), A, parse_host("example.de"), target, True, NOW) == []
    assert rules.decide_set_redirect(registered(*events), A, parse_host("example.de"), target, False, NOW) == [
        RedirectSet("example.de", "example.de", "https://yx.de/", False)
    ]
    with pytest.raises(InvalidName, match=r"not example\.de"):
        rules.decide_set_redirect(registered(), A, parse_host("yx.de"), target, True, NOW)
    with pytest.raises(InvalidName, match="loop"):
        rules.decide_set_redirect(
            registered(), A, parse_host("www.example.de"), parse_target_url("https://www.example.de/x"), True, NOW
        )
    assert rules.decide_remove_redirect(registered(*events), A, parse_host("example.de"), NOW) == [
        RedirectRemoved("example.de", "example.de")
    ]
    with pytest.raises(NotFound):
        rules.decide_remove_redirect(registered(), A, parse_host("example.de"), NOW)


def test_a_redirect_changed_after_it_was_read_is_not_overwritten() -> None:
    target, other = parse_target_url("https://yx.de/"), parse_target_url("https://zz.de/")
    source = parse_host("www.example.de")
    first = rules.decide_set_redirect(registered(), A, source, target, True, NOW)
    state = registered(*first)
    assert state is not None
    read = state.redirects["www.example.de"].tag()
    changed = rules.decide_set_redirect(registered(*first), A, source, target, False, NOW, read)
    assert changed == [RedirectSet("example.de", "www.example.de", "https://yx.de/", False)]
    with pytest.raises(ChangedMeanwhile):  # someone made it temporary since: the tag read is stale
        rules.decide_set_redirect(registered(*first, *changed), A, source, other, False, NOW, read)
    with pytest.raises(ChangedMeanwhile):  # removed since
        rules.decide_set_redirect(registered(), A, source, other, True, NOW, read)
    assert rules.decide_set_redirect(registered(*first, *changed), A, source, other, False, NOW) == [
        RedirectSet("example.de", "www.example.de", "https://zz.de/", False)  # without If-Match: as before
    ]


def test_ftp_credentials_are_reissued_for_the_domains_login() -> None:
    contact = uuid.UUID(int=3)
    assert rules.decide_reissue_ftp(registered(), A, "requesting_contact", contact, True, NOW) == [
        FtpCredentialsReissued("example.de", "example.de", "requesting_contact", contact, True)
    ]
    with pytest.raises(UnknownDomain):
        rules.decide_reissue_ftp(registered(), B, "account_owner", None, False, NOW)


def test_a_new_password_link_goes_where_the_last_went_unless_told_otherwise() -> None:
    created = MailboxCreated("example.de", "example.de", MAILBOX, "jo@example.de", "jo@acme.example")
    state = registered(VhostCreated("example.de", "example.de"), created)
    host = parse_host("example.de")
    [first] = rules.decide_send_mailbox_password_link(state, A, host, "jo", None, NOW)
    assert first == MailboxPasswordLinkSent("example.de", "example.de", MAILBOX, "jo@example.de", "jo@acme.example")
    [moved] = rules.decide_send_mailbox_password_link(state, A, host, "jo", "jo@new.example", NOW)
    later = rules.fold(
        [
            DomainRegistered("example.de", "example.de", A, "example.de"),
            VhostCreated("example.de", "example.de"),
            created,
            moved,
        ]
    )
    [again] = rules.decide_send_mailbox_password_link(later, A, host, "jo", None, NOW)
    assert isinstance(again, MailboxPasswordLinkSent)
    assert again.sent_to == "jo@new.example"
    with pytest.raises(NotFound):
        rules.decide_send_mailbox_password_link(state, A, host, "nobody", None, NOW)
    with pytest.raises(UnknownDomain):
        rules.decide_send_mailbox_password_link(state, B, host, "jo", None, NOW)
