"""Customer use cases: create (with the duplicate e-mail check), update, get, search."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace

from posd_daemon.domain.customer import Customer, normalize_email
from posd_daemon.domain.errors import DomainError, ErrorKind, invalid, not_found
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.text import check_code, check_text
from posd_daemon.services import paging
from posd_daemon.services.clock import Clock
from posd_daemon.services.executor import Tx
from posd_daemon.store import customers as store
from posd_daemon.store import sales as sale_store

NUMBER_COUNTER = "customer_number"

#: At most this many customers sharing an e-mail address are returned or named: a back
#: office may import thousands with one placeholder address, and all of them in a
#: response would be a megabyte-sized answer, and in an error's message and metadata
#: a list cut off somewhere in the middle, without saying how many there are.
MAX_DUPLICATES = 20


@dataclass(frozen=True, slots=True)
class CustomerCreated:
    customer: Customer | None
    created: bool
    duplicates: tuple[Customer, ...] = ()


def _require_terms_permission(op: Operator) -> None:
    """A customer's discount comes off every line of every sale of that customer, by
    whichever cashier: it is master data like the catalog's prices (ImportCustomers needs
    CATALOG_EDIT), not something an operator who may only sell sets from the till --
    a cashier giving the walk-in customer 50 % would make every later sale half price.
    Name, address and the like stay editable with SALE."""
    op.require(Permission.CATALOG_EDIT)


class CustomerCommands:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def _next_number(self, tx: Tx) -> str:
        while True:
            number = f"C{sale_store.next_counter(tx.conn, NUMBER_COUNTER):06d}"
            if store.get(tx.conn, number) is None:
                return number

    def create(
        self, tx: Tx, op: Operator, customer: Customer, *, allow_duplicate_email: bool
    ) -> CustomerCreated:
        """Creates a customer; with an e-mail address already known, returns the known
        customer(s) and creates nothing unless ``allow_duplicate_email``."""
        op.require(Permission.SALE)
        if customer.number:
            check_code(customer.number, "customer.customer_number")
            if store.get(tx.conn, customer.number) is not None:
                raise DomainError(
                    ErrorKind.ALREADY_EXISTS,
                    "CUSTOMER_NUMBER_TAKEN",
                    f"customer number {customer.number!r} is taken",
                    metadata={"customer_number": customer.number},
                )
        if customer.anonymous:
            raise invalid("customer.anonymous", "only the shop's walk-in customer is anonymous")
        if customer.discount_percent:
            _require_terms_permission(op)
        # validate before the duplicate check so a bad row never reports duplicates
        replace(customer, number=customer.number or "C0").validated()
        duplicates = (
            store.by_email(tx.conn, customer.email, limit=MAX_DUPLICATES) if customer.email else []
        )
        if duplicates and not allow_duplicate_email:
            return CustomerCreated(None, False, tuple(duplicates))
        if not customer.number:
            customer = replace(customer, number=self._next_number(tx))
        customer.validated()
        return CustomerCreated(self._store(tx, customer), True)

    def _store(self, tx: Tx, customer: Customer) -> Customer:
        """Writes the customer and answers it as stored (with its new revision)."""
        store.upsert(tx.conn, customer, self._clock())
        stored = store.get(tx.conn, customer.number)
        assert stored is not None
        return stored

    def update(self, tx: Tx, op: Operator, customer: Customer, *, etag: str = "") -> Customer:
        """Replaces the customer; with ``etag`` (as a read answered it) only if nothing
        changed the customer since that read (Google AIP-154: two registers editing one
        customer at once silently lost the first edit). Without one, the last write wins,
        as it did for clients built before etags."""
        op.require(Permission.SALE)
        check_code(customer.number, "customer.customer_number")
        existing = store.get(tx.conn, customer.number)
        if existing is None:
            raise not_found(
                "CUSTOMER_NOT_FOUND",
                f"no customer {customer.number!r}",
                customer_number=customer.number,
            )
        if etag and etag != existing.etag:
            raise DomainError(
                ErrorKind.ABORTED,
                "CUSTOMER_CHANGED",
                f"customer {customer.number!r} was changed since it was read (by another"
                " register, the back office or an import): read it again and apply the edit"
                " to what is stored now",
                metadata={"customer_number": customer.number, "etag": existing.etag},
            )
        customer = replace(customer, anonymous=existing.anonymous).validated()
        if customer.discount_percent != existing.discount_percent:
            _require_terms_permission(op)
        self._check_email_free(tx, customer, existing)
        return self._store(tx, customer)

    def _check_email_free(self, tx: Tx, customer: Customer, existing: Customer) -> None:
        """Refuses an update giving ``customer`` an address another customer has (compared
        as creation compares it: trimmed, without regard to case). An update has no
        ``allow_duplicate_email`` confirmation, so a new duplicate is refused; an address
        the customer already has stays allowed, even one shared by a confirmed duplicate."""
        new = normalize_email(customer.email)
        if not new or new == normalize_email(existing.email):
            return
        others = [
            c.number
            for c in store.by_email(
                tx.conn, new, limit=MAX_DUPLICATES, except_number=customer.number
            )
        ]
        if others:
            total = len(others)
            if total == MAX_DUPLICATES:
                total = store.count_by_email(tx.conn, new, except_number=customer.number)
            listed = ", ".join(others)
            if total > len(others):
                listed += f" and {total - len(others)} more ({total} customers)"
            raise DomainError(
                ErrorKind.ALREADY_EXISTS,
                "CUSTOMER_EMAIL_TAKEN",
                f"e-mail address {customer.email.strip()!r} belongs to customer {listed}",
                metadata={
                    "email": new,
                    "customer_numbers": ",".join(others),
                    "customer_count": str(total),
                },
            )

    def put(self, tx: Tx, customer: Customer) -> bool:
        """Import: create or replace by number (no e-mail check: ERP data decides).

        Which customer is the anonymous walk-in one is the register's, not the ERP's: an
        export of all customers names it without the flag (CSV has no such column), and
        losing it would print "Laufkunde" as the customer, let it satisfy a document's
        named-customer requirement and export it as a customer (DSFinV-K). So a record
        keeps its flag, and a row may not make another customer anonymous, as
        :meth:`create` refuses."""
        customer.validated()
        existing = store.get(tx.conn, customer.number)
        anonymous = existing is not None and existing.anonymous
        if customer.anonymous and not anonymous:
            raise invalid("customer.anonymous", "only the shop's walk-in customer is anonymous")
        return store.upsert(tx.conn, replace(customer, anonymous=anonymous), self._clock())

    def get(self, conn: sqlite3.Connection, number: str) -> Customer:
        check_code(number, "customer_number")
        c = store.get(conn, number)
        if c is None:
            raise not_found("CUSTOMER_NOT_FOUND", f"no customer {number!r}", customer_number=number)
        return c

    def search(
        self, conn: sqlite3.Connection, query: str, size: int, token: str
    ) -> tuple[list[Customer], str]:
        check_text(query, "query", max_len=200, required=False)
        n = paging.page_size(size, default=50)
        after = paging.decode(token, "c", (query,)) if token else ""
        rows = store.search(conn, query, after=after, limit=n + 1)
        more = len(rows) > n
        rows = rows[:n]
        return rows, (paging.encode("c", rows[-1].number, (query,)) if more and rows else "")
