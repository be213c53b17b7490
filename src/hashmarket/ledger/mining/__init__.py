"""Cloud hashrate, hosting and machine leases on the ledger: each contract's movements, from
its own payoff on the published fixings, written once (ids derived from the contract and the
event), all or nothing. See :mod:`.common` for what they share, and the modules for each."""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.ledger.mining.cloud import (
        CloudAccounts,
        CloudDay,
        CloudPayout,
        pay_cloud,
        purchase_cloud,
        recorded_cloud_shutoff,
    )
    from hashmarket.ledger.mining.common import ID_DOMAIN, event_id, published_path
    from hashmarket.ledger.mining.hosting import HostingAccounts, HostingRun, settle_hosting
    from hashmarket.ledger.mining.leasing import LeaseAccounts, LeaseBooking, book_lease

__all__ = [
    "ID_DOMAIN",
    "CloudAccounts",
    "CloudDay",
    "CloudPayout",
    "HostingAccounts",
    "HostingRun",
    "LeaseAccounts",
    "LeaseBooking",
    "book_lease",
    "event_id",
    "pay_cloud",
    "published_path",
    "purchase_cloud",
    "recorded_cloud_shutoff",
    "settle_hosting",
]

__getattr__, __dir__ = lazy_exports(globals())
