"""Operators, roles and named permissions.

Permissions are enforced in the daemon (services), never only in the UI.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from posd_daemon.domain.errors import DomainError, ErrorKind


class Permission(enum.Enum):
    SALE = "SALE"
    CATALOG_EDIT = "CATALOG_EDIT"
    PRICE_OVERRIDE = "PRICE_OVERRIDE"
    DISCOUNT = "DISCOUNT"
    STORNO = "STORNO"
    DRAWER_OPEN_NO_SALE = "DRAWER_OPEN_NO_SALE"
    CLOSING = "CLOSING"
    EXPORT = "EXPORT"
    DEVICE_TEST = "DEVICE_TEST"
    OPERATOR_MANAGE = "OPERATOR_MANAGE"
    #: sell goods of a lot past its expiry date (services.sales, _check_lot_expiry)
    SELL_EXPIRED_LOT = "SELL_EXPIRED_LOT"


@dataclass(frozen=True, slots=True)
class Operator:
    operator_id: str
    name: str
    role: str
    permissions: frozenset[Permission]

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise DomainError(
                ErrorKind.PERMISSION_DENIED,
                "PERMISSION_DENIED",
                f"operator {self.operator_id} lacks permission {permission.value}",
                metadata={"permission": permission.value, "operator_id": self.operator_id},
            )
