"""Registers of one store talk to each other: a parked sale moves to the register that
scans its slip (RegisterLinkService), both as the server (handing over) and as the
client (taking over, used by SaleService.ResumeSale).

Authentication: the store's shared secret (config ``store.secret``) as metadata
``x-posd-store-secret``, compared in constant time; without a secret linking is off.
On TCP also mutual TLS: the asking register verifies the other against ``store.tls_ca``
and presents its own certificate; a register hands a sale over to a TCP caller only
when gRPC verified that caller's certificate (``api.tls_client_ca``), so a leaked
secret alone moves no sale. Unix sockets are local: file permissions guard them.

On TCP a certificate also says WHICH register it is, so that one register of the store
cannot pose as another (:func:`certificate_register_names`): a register's certificate
names its register id as a DNS subjectAltName (ASCII letters compared case-insensitively,
RFC 4343; no wildcards), or, only when it has no DNS subjectAltName at all, as its
subject CN. That is the rule of gRPC's own server-name check (its TLS layer, as of
grpcio 1.85), so it holds in both directions:

- serving: the register id a caller claims (``to_register_id``) must be one its verified
  client certificate names, else PERMISSION_DENIED ``STORE_PEER_NOT_THAT_REGISTER``
  before anything is read or changed;
- asking: the channel to ``store.peers.<id>`` checks the server certificate against
  ``<id>`` (``grpc.ssl_target_name_override``) instead of the peer's address, so the
  certificate of another register of the store fails the handshake: no secret and no
  request is sent, and the asking register reports ``STORE_PEER_CERTIFICATE_MISMATCH``.

A register certificate thus carries its id (e.g. DNS:K1) next to any host name or
address its POS clients connect to; register ids of TCP-linked registers are DNS labels
(config ``store.peers``).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import sqlite3
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from posd.v1 import register_link_pb2, register_link_pb2_grpc

from posd_daemon.api.runtime import Context, Runtime
from posd_daemon.domain import snapshot
from posd_daemon.domain.errors import (
    DomainError,
    ErrorKind,
    invalid,
    not_found,
    precondition,
)
from posd_daemon.domain.money import format_minor
from posd_daemon.domain.parking import canonical_parking_code, parse_parking_code
from posd_daemon.domain.sale import LineKind, Sale, SaleState
from posd_daemon.ops import logging as plog
from posd_daemon.services.fiscal import FiscalGateway
from posd_daemon.services.orders import OrderGuard
from posd_daemon.services.sales import SaleCommands
from posd_daemon.store import orders as order_store
from posd_daemon.store import sales as sale_store
from posd_daemon.store import shops as shop_store

SECRET_KEY = "x-posd-store-secret"  # noqa: S105 - a metadata key, not a secret
#: Metadata of TransferParkedSale: the order numbers the asking register has LOADED into
#: sales of its own (a JSON list). A parked sale of one of those orders is not handed
#: over to it: the order would be in two sales there. Metadata, so that the message stays
#: as it is and a register that does not send it (an older one) is answered as before.
ORDERS_IN_USE_KEY = "x-posd-orders-in-use"
#: At most this many are sent (gRPC's default limit for all metadata is 8 KiB); a
#: register has a few open and parked sales, each with at most one order.
MAX_ORDERS_IN_USE = 64
TIMEOUT_S = 5.0
#: Registers asked for one slip at most: the one that printed it, then each one it says
#: it handed the sale over to (a sale re-parked at a third register, and so on).
MAX_HOPS = 8
_STATUS_DETAILS_KEY = "grpc-status-details-bin"

log = plog.get("posd.register_link")


def _metadata_of(context: Context, wanted: str) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == wanted and isinstance(value, str):
            return value
    return ""


def _secret_of(context: Context) -> str:
    return _metadata_of(context, SECRET_KEY)


def certificate_register_names(pem: bytes) -> list[str]:
    """The names a register's certificate (PEM) goes by: its DNS subjectAltNames, or its
    subject CN when it has none (see the module docstring; the same rule as gRPC's
    server-name check). None of an unreadable certificate."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        dns: list[str] = []
    except ValueError:  # a malformed extension names no register
        return []
    else:
        dns = san.get_values_for_type(x509.DNSName)
    if dns:
        return dns
    return [
        attr.value
        for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if isinstance(attr.value, str)
    ]


def names_register(names: list[str], register_id: str) -> bool:
    """Whether one of a certificate's names is ``register_id``: DNS names compare ASCII
    letters case-insensitively (RFC 4343 section 3); a wildcard name ("*.x") stands for
    no register (register ids have no "*")."""
    wanted = register_id.lower()
    return bool(register_id) and any(n.isascii() and n.lower() == wanted for n in names)


def _check_peer_certificate(context: Context, claimed: str) -> None:
    """A caller on TCP (TLS) must have presented a client certificate that gRPC verified:
    the server asks for one, and requires it, only with ``api.tls_client_ca``
    (bootstrap), so ``x509_pem_cert`` in the auth context is a verified certificate. It
    must name the register the caller ``claimed`` to be (:func:`names_register`): any
    register of the store CA could otherwise take sales over as another. A caller on
    the unix socket is local (the socket's mode guards it)."""
    if context.peer().startswith("unix:"):
        return
    pem = next(iter(context.auth_context().get("x509_pem_cert") or ()), b"")
    if not pem:
        raise DomainError(
            ErrorKind.UNAUTHENTICATED,
            "STORE_PEER_CERTIFICATE_REQUIRED",
            "register linking over TCP needs a client certificate of the store's CA"
            " (mutual TLS): set api.tls_client_ca on this register",
        )
    names = certificate_register_names(pem)
    if not names_register(names, claimed):
        shown = ", ".join(names) or "none"
        raise DomainError(
            ErrorKind.PERMISSION_DENIED,
            "STORE_PEER_NOT_THAT_REGISTER",
            f"the caller asks as register {claimed!r}, but its client certificate names"
            f" {shown}: a register's certificate must name its register id (DNS"
            " subjectAltName, or subject CN without one)",
            metadata={"register_id": claimed, "certificate_names": shown},
        )


def _orders_in_use_of(context: Context) -> frozenset[str]:
    """The asking register's loaded orders (see ORDERS_IN_USE_KEY); none when it sent
    none, or something that is not a list of order numbers (then only the order check
    is skipped, as for an older register)."""
    text = _metadata_of(context, ORDERS_IN_USE_KEY)
    if not text:
        return frozenset()
    try:
        numbers = json.loads(text)
    except ValueError:
        return frozenset()
    if not isinstance(numbers, list):
        return frozenset()
    return frozenset(n for n in numbers if isinstance(n, str) and n)


class RegisterLinkServicer(register_link_pb2_grpc.RegisterLinkServiceServicer):
    def __init__(
        self, rt: Runtime, sales: SaleCommands, fiscal: FiscalGateway, secret: str
    ) -> None:
        self.rt = rt
        self.sales = sales
        self.fiscal = fiscal
        self.secret = secret
        #: hand-overs under way: sale id -> (the register it goes to, the task)
        self._handing_over: dict[str, tuple[str, asyncio.Task[dict[str, Any]]]] = {}

    async def TransferParkedSale(
        self, request: register_link_pb2.TransferParkedSaleRequest, context: Context
    ) -> register_link_pb2.TransferParkedSaleResponse:
        async def run() -> register_link_pb2.TransferParkedSaleResponse:
            _check_peer_certificate(context, request.to_register_id)
            given = _secret_of(context)
            if not self.secret or not hmac.compare_digest(given.encode(), self.secret.encode()):
                raise DomainError(
                    ErrorKind.UNAUTHENTICATED,
                    "STORE_SECRET_INVALID",
                    "register linking needs the store's shared secret (store.secret)",
                )
            # the stored form, as ResumeSale sends it (also for an older caller)
            code, to = canonical_parking_code(request.code), request.to_register_id
            if to == self.sales.register_id:
                # a peer configured with this register's id: handed over "to itself" the
                # sale would be TRANSFERRED here, held by no one that can resume it
                raise invalid(
                    "to_register_id",
                    f"{to} is this register: a sale is handed over to another register",
                )
            sale = self.rt.db.read_now(lambda c: self._parked_for_transfer(c, code, to))
            if sale.state is SaleState.PARKED:
                in_use = _orders_in_use_of(context)
                _check_transferable(sale, code, self.sales.register_id, to, in_use)
                data = await self._hand_over(sale, code, to, in_use)
            else:
                data = await self.rt.db.write(
                    lambda tx: self.sales.transfer_out(tx, code, to, None)
                )
            return register_link_pb2.TransferParkedSaleResponse(
                sale_json=json.dumps(data, sort_keys=True),
                from_register_id=self.sales.register_id,
            )

        return await self.rt.call(context, "TransferParkedSale", request, run)

    def _parked_for_transfer(self, conn: sqlite3.Connection, code: str, to: str) -> Sale:
        """:meth:`SaleCommands.parked_for_transfer`; a code whose sale this register is
        taking over itself (asked for, handed over to it, not yet imported: the import
        is under way, or failed and completes at the next start or scan here) is refused
        as held here. It is not "no parked sale with code …": the register the slip
        names sends a register scanning it meanwhile on to this one, whose cashier
        would take the slip for void while the sale is continued here."""
        try:
            return self.sales.parked_for_transfer(conn, code, to)
        except DomainError as exc:
            here = self.sales.register_id
            if exc.reason != "PARKED_SALE_NOT_FOUND" or not any(
                row.code == code for row in sale_store.pending_imports(conn)
            ):
                raise
            raise precondition(
                "SALE_HELD",
                f"the sale of parking code {code} is being taken over by register {here}"
                " (its slip was scanned there); it is continued there",
                held_by=here,
            ) from None

    async def _hand_over(
        self, sale: Sale, code: str, to: str, in_use: frozenset[str]
    ) -> dict[str, Any]:
        """Ends the parked sale's TSE transaction as AVTransfer and saves the hand-over.

        That runs to its end in a task of its own, shielded from the caller: once the
        TSE is asked, the asking register giving up (its deadline passes, gRPC cancels
        this handler) must not leave the sale parked and unlocked here while the TSE
        ended its transaction as a hand-over (this register could then resume and post
        it). The caller is told to try again; asked again meanwhile by the same
        register, the call waits for the hand-over under way instead of being refused."""
        running = self._handing_over.get(sale.sale_id)
        if running is not None and running[0] == to:
            return await asyncio.shield(running[1])
        self.sales.check_may_finish(sale.sale_id, "transfer")
        self.sales.start_finish(sale.sale_id, "transfer", to)
        task = asyncio.create_task(self._finish_and_save(sale, code, to, in_use))
        self._handing_over[sale.sale_id] = (to, task)
        task.add_done_callback(functools.partial(self._handed_over, sale.sale_id))
        return await asyncio.shield(task)

    async def _finish_and_save(
        self, sale: Sale, code: str, to: str, in_use: frozenset[str]
    ) -> dict[str, Any]:
        try:
            # Read again on the database thread, after every write queued before: the
            # sale was read PARKED from committed data, but a local ResumeSale may have
            # passed its checks (before :attr:`posting` named the sale) and be about to
            # commit. Asked now, the TSE would end the transaction of a sale open here
            # as AVTransfer and the hand-over could not be saved: the sale stayed locked
            # (SALE_SIGNED_NOT_POSTED) until a restart. Read here, that resume has
            # committed (the hand-over is refused: the sale is held here) or will find
            # the sale in :attr:`posting` and be refused itself.
            sale = await self.rt.db.write(
                lambda tx: self.sales.parked_for_transfer(tx.conn, code, to)
            )
            if sale.state is not SaleState.PARKED:  # handed to ``to`` meanwhile
                return await self.rt.db.write(
                    lambda tx: self.sales.transfer_out(tx, code, to, None)
                )
            # resumed, changed and parked again since the first read: checked again
            _check_transferable(sale, code, self.sales.register_id, to, in_use)
            with self.sales.failures_after_signing(sale.sale_id):
                row = await self.fiscal.finish_transfer(sale)
                self.sales.lock_finished(sale.sale_id, row)
                return await self.rt.db.write(lambda tx: self.sales.transfer_out(tx, code, to, row))
        finally:
            self.sales.end_finish(sale.sale_id)

    def _handed_over(self, sale_id: str, task: asyncio.Task[dict[str, Any]]) -> None:
        self._handing_over.pop(sale_id, None)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # the callers got it (or gave up); the sale is locked if the TSE finished it
            log.warning("hand_over_failed", sale_id=sale_id, error=str(exc))


def _check_transferable(sale: Sale, code: str, here: str, to: str, in_use: frozenset[str]) -> None:
    """What keeps a parked sale at this register, checked before its TSE transaction
    ends as AVTransfer (nothing changed yet): its order loaded at ``to``, what only
    this register's ledgers know (open items are checked by ``parked_for_transfer``),
    and cash in this register's drawer."""
    _check_order_not_in_use(sale, code, to, in_use)
    _check_own_ledgers(sale, code, here, to)
    _check_no_cash_taken(sale, code, here, to)


def _check_no_cash_taken(sale: Sale, code: str, here: str, to: str) -> None:
    """Not a sale holding cash payments. The cashier took that cash into this register's
    drawer, but drawer entries are written where the sale is posted: posted at ``to``,
    its drawer (or its cashier's insert) expected cash that lies here, a shortage there
    and a surplus here at the counts (the Kassensturz a tax auditor makes compares each
    drawer with its own book). So it is completed here, or the cash is given back (the
    payment removed) before it goes over. Card and other payments are not in a drawer
    and go over with the sale."""
    cash = sale.cash_paid
    if cash:
        amount = f"{format_minor(cash, sale.currency)} {sale.currency}"
        raise precondition(
            "CASH_NOT_TRANSFERABLE",
            f"the sale of parking code {code} holds {amount} in cash, taken into the drawer"
            f" of register {here}: resume and post it at register {here}, or remove its"
            f" cash payment there (give the cash back) and park it again to continue it at"
            f" register {to}",
            cash=amount,
            register_id=here,
        )


def _check_own_ledgers(sale: Sale, code: str, here: str, to: str) -> None:
    """Not a sale that takes back goods of this register's receipts (an exchange) or
    redeems a tracked voucher. Receipts and vouchers are each register's own (nothing
    reports one to another register), like open items: ``to`` does not know them and
    would refuse the post (RETURN_EXCEEDS_SOLD, VOUCHER_ALREADY_REDEEMED) after this
    register's TSE ended the transaction, leaving the sale stuck there; and a voucher
    is held only by this register's OPEN and PARKED sales, so once handed over it could
    be redeemed here again meanwhile. A voucher sold in the sale is booked where the
    sale is posted, as any voucher sold there, and goes over."""
    receipts = sorted({ln.ref_sale_id for ln in sale.lines if ln.ref_sale_id})
    if receipts:
        raise precondition(
            "RETURNS_NOT_TRANSFERABLE",
            f"the sale of parking code {code} takes back goods of receipt"
            f"{'s' if len(receipts) > 1 else ''} of register {here} (sale"
            f" {', '.join(receipts)}): receipts are each register's own, so it is"
            f" completed at register {here}, where it was parked; resume and post it"
            f" there, or remove the return there and park it again to continue it at"
            f" register {to}",
            sale_ids=", ".join(receipts),
            register_id=here,
        )
    vouchers = sorted(
        {
            ln.voucher_code
            for ln in sale.lines
            if ln.voucher_code and ln.kind in (LineKind.VOUCHER_REDEMPTION, LineKind.RETURN)
        }
    )
    if vouchers:
        listed = ", ".join(vouchers)
        raise precondition(
            "VOUCHERS_NOT_TRANSFERABLE",
            f"the sale of parking code {code} redeems voucher"
            f"{'s' if len(vouchers) > 1 else ''} {listed}: vouchers are each register's"
            f" own, so it is paid at register {here}, where it was parked; resume and post"
            f" it there, or remove the voucher there and park it again to continue it at"
            f" register {to}",
            voucher_codes=listed,
            register_id=here,
        )


def _check_order_not_in_use(sale: Sale, code: str, to: str, in_use: frozenset[str]) -> None:
    """Before a parked sale is handed over (nothing changed yet): not when ``to`` has
    the sale's order loaded into a sale of its own. It takes the order over with the
    sale (README "Back-office orders"), so it would then have the order in two sales,
    both payable. Checked here, where the sale's order is known before the TSE ends its
    transaction: the asking register learns it only with the sale, when refusing would
    lose it. A sale already handed over to ``to`` is handed over again regardless."""
    if sale.order_number and sale.order_number in in_use:
        raise precondition(
            "ORDER_IN_USE",
            f"the sale of parking code {code} is of order {sale.order_number}, which"
            f" register {to} has in a sale of its own: cancel that sale there, then scan"
            " the slip again (an order is paid in one sale)",
            order_number=sale.order_number,
            register_id=to,
        )


class StoreLink:
    """Client side: fetches a parked sale from the register that parked it, or from the
    register that holds it now.

    A slip's code names the register that printed it, and the code stays with the sale
    when another register takes it over and parks it again (the customer keeps the
    paper slip). So the register the code names may answer that it handed the sale over
    (FAILED_PRECONDITION ``SALE_TRANSFERRED``, ErrorInfo ``held_by``): the slip is then
    followed to that register, at most :data:`MAX_HOPS` registers in all, each asked
    once and only among ``store.peers`` with the store secret. Only the asking register
    needs to know this: an older register answers a hand-over it made the same way.

    A fetch runs, with the import of what it fetched, inside :meth:`hand_over` (the
    register's :class:`OrderGuard`, shared with its LoadOrder): the loaded orders it
    sends are then still all there are when the sale is imported."""

    def __init__(
        self,
        rt: Runtime,
        register_id: str,
        peers: dict[str, str],
        secret: str,
        guard: OrderGuard,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.rt = rt
        self.register_id = register_id
        self.peers = peers
        self.secret = secret
        self.guard = guard
        #: mutual TLS to peers on TCP (store.tls_ca, api.tls_cert/tls_key); the config
        #: requires it with TCP peers
        self.credentials = credentials

    def owner_of(self, code: str, prefix: str) -> str | None:
        """The register id whose parking code this is ("" none, None not a code).
        ``prefix``: the shop's EAN-13 slip prefix; without it an ordinary product EAN
        reads as some register's slip."""
        parsed = parse_parking_code(code, prefix)
        if parsed is None:
            return None
        number = parsed[0]
        regs = self.rt.db.read_now(lambda c: shop_store.list_registers(c, after="", limit=1000))
        # register numbers are per shop, and the back office may send a register the
        # registers of every shop of the chain: a slip of this store names a register of
        # this register's shop (another shop's register of that number is not it)
        shop = next((r.shop_id for r in regs if r.register_id == self.register_id), None)
        for reg in regs:
            if reg.register_number == number and (shop is None or reg.shop_id == shop):
                return reg.register_id
        return ""

    def hand_over(self) -> AbstractAsyncContextManager[None]:
        """To be held around :meth:`fetch` and the import of its sale (one commit): no
        order is loaded here meanwhile (OrderGuard). Taken before the slip's pending
        import is recorded, so that a caller giving up while it waits asked nothing."""
        return self.guard.hand_over()

    async def fetch(self, code: str, prefix: str) -> tuple[dict[str, Any], str] | None:
        """(snapshot, from register) of a sale parked at another register; None when the
        code is this register's or not a parking code (``prefix``: see owner_of). Only
        inside :meth:`hand_over`."""
        if not self.guard.handing_over:
            # a programming error: an order loaded here before the import would end in
            # two sales (OrderGuard)
            raise RuntimeError("StoreLink.fetch outside StoreLink.hand_over")
        owner = self.owner_of(code, prefix)
        if owner is None or owner == self.register_id:
            return None
        # read under the guard: no LoadOrder adds to it until the fetched sale is imported
        in_use = self.rt.db.read_now(lambda c: order_store.loaded_numbers(c, MAX_ORDERS_IN_USE))
        asked: list[str] = []
        holder = owner
        while True:
            target = self.peers.get(holder) if holder else None
            if not target:
                where = (
                    f"the sale of parking code {code} was handed over to register {holder}"
                    f" by register {asked[-1]}"
                    if asked
                    else f"parking code {code} belongs to register {holder or '?'}"
                )
                raise not_found(
                    "PARKED_SALE_NOT_FOUND",
                    f"{where}, which this register cannot reach (store.peers)",
                    code=code,
                    register_id=holder,
                )
            asked.append(holder)
            answer = await self._ask(holder, target, code, asked, in_use)
            if isinstance(answer, str):
                holder = answer
                continue
            return _read_answer(holder, code, answer), answer.from_register_id or holder

    async def _ask(
        self, holder: str, target: str, code: str, asked: list[str], in_use: list[str]
    ) -> register_link_pb2.TransferParkedSaleResponse | str:
        """Asks ``holder`` to hand the sale over: its answer, or the register it says it
        handed the sale over to (to be asked next). ``in_use``: this register's loaded
        orders (ORDERS_IN_USE_KEY)."""
        via = f" (the slip's sale went there via {', '.join(asked[:-1])})" if asked[1:] else ""
        # unix sockets of registers on one host; TCP peers only with mutual TLS
        if target.startswith("unix:"):
            channel = grpc.aio.insecure_channel(target)
        elif self.credentials is not None:
            # the certificate must name the register asked for, not the address it is at:
            # any register of the store CA would pass the address check
            channel = grpc.aio.secure_channel(
                target, self.credentials, options=(("grpc.ssl_target_name_override", holder),)
            )
        else:  # load() refuses this; a register built otherwise asks no one unverified
            raise precondition(
                "TRANSFER_REFUSED",
                f"register {holder} is on TCP ({target}): register linking over TCP needs"
                " mutual TLS (store.tls_ca, api.tls_cert, api.tls_key)",
                register_id=holder,
            )
        async with channel:
            stub = register_link_pb2_grpc.RegisterLinkServiceStub(channel)
            try:
                answer: register_link_pb2.TransferParkedSaleResponse = (
                    await stub.TransferParkedSale(
                        register_link_pb2.TransferParkedSaleRequest(
                            code=code, to_register_id=self.register_id
                        ),
                        metadata=(
                            (SECRET_KEY, self.secret),
                            (ORDERS_IN_USE_KEY, json.dumps(in_use)),
                        ),
                        timeout=TIMEOUT_S,
                    )
                )
            except grpc.aio.AioRpcError as exc:
                if _server_name_refused(exc):
                    raise precondition(
                        "STORE_PEER_CERTIFICATE_MISMATCH",
                        f"register {holder} at {target} (store.peers.{holder}) presented a"
                        f" certificate of the store CA that does not name {holder}{via}:"
                        " it was asked nothing; give that register a certificate naming"
                        f" its id (DNS subjectAltName {holder}) or correct store.peers",
                        register_id=holder,
                        target=target,
                    ) from None
                if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    # the other register is down, busy, or could not save the hand-over:
                    # nothing changed here, and asking again may well succeed
                    peer_reason, _ = _error_info(exc)
                    raise DomainError(
                        ErrorKind.UNAVAILABLE,
                        "TRANSFER_UNAVAILABLE",
                        f"register {holder} could not hand the sale over now{via}:"
                        f" {exc.details()}; try again",
                        metadata={
                            "register_id": holder,
                            "peer_status": exc.code().name,
                            "peer_reason": peer_reason,
                        },
                    ) from None
                reason, info = _error_info(exc)
                moved_to = info.get("held_by", "")
                if (
                    exc.code() is grpc.StatusCode.FAILED_PRECONDITION
                    and reason == "SALE_TRANSFERRED"
                    and moved_to
                    and moved_to != self.register_id
                    and moved_to not in asked
                    and len(asked) < MAX_HOPS
                ):
                    return moved_to  # handed over earlier: the slip goes on to that one
                raise precondition(
                    "TRANSFER_REFUSED",
                    f"register {holder} did not hand the sale over{via}: {exc.details()}",
                    register_id=holder,
                    peer_status=exc.code().name,
                    peer_reason=reason,
                ) from None
        return answer


def _read_answer(
    holder: str, code: str, answer: register_link_pb2.TransferParkedSaleResponse
) -> dict[str, Any]:
    """The sale a register handed over, as it sent it: a sale snapshot of the slip that
    was asked for. Anything else (a broken or mismatched peer) is refused clearly here,
    before this register takes anything over (TRANSFER_ANSWER_INVALID)."""
    problem = ""
    try:
        data = json.loads(answer.sale_json)
        if not isinstance(data, dict):
            problem = "no sale"
        elif snapshot.sale_from_dict(data).parking_code != code:
            problem = "a sale of another parking code"
    except Exception as exc:
        problem = f"no readable sale ({type(exc).__name__})"
    if problem:
        raise precondition(
            "TRANSFER_ANSWER_INVALID",
            f"register {holder} answered the hand-over of parking code {code} with"
            f" {problem}; nothing was taken over here (the sale may be handed over there:"
            " check that register)",
            register_id=holder,
            code=code,
        )
    return cast("dict[str, Any]", data)


#: How gRPC reports a server certificate that does not name the expected target name
#: (its hostname verifier; grpcio 1.85): UNAVAILABLE, this text in the details. gRPC
#: gives no code or detail of its own for it, so a gRPC that words it otherwise makes the
#: mismatch a plain TRANSFER_UNAVAILABLE again (still refused, only less clearly).
_SERVER_NAME_REFUSED = "hostname verification check failed"


def _server_name_refused(exc: grpc.aio.AioRpcError) -> bool:
    """Whether the TLS handshake failed because the peer's certificate names another
    register (not because it is of another CA, or the peer is down)."""
    return (
        exc.code() is grpc.StatusCode.UNAVAILABLE
        and _SERVER_NAME_REFUSED in (exc.details() or "").lower()
    )


def _error_info(exc: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    """The peer's ErrorInfo (reason, metadata) from its google.rpc.Status; ("", {})
    when it sent none (or something unreadable: then it is only a refusal)."""
    # grpc-stubs give AioRpcError grpc.Status's metadata type (a tuple of _Metadatum);
    # at run time it is a grpc.aio.Metadata, as its constructor's stub says
    trailing = cast("grpc.aio.Metadata", exc.trailing_metadata())
    for value in trailing.get_all(_STATUS_DETAILS_KEY):
        if not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return info.reason, dict(info.metadata)
        except DecodeError:
            break
    return "", {}
