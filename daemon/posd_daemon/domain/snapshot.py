"""A sale as plain JSON-able data and back: how a parked sale travels to another
register of the store (every field of the aggregate, its lines and payments)."""

from __future__ import annotations

import dataclasses
import enum
import typing
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from posd_daemon.domain.customer import CustomerSnapshot
from posd_daemon.domain.payments import Payment
from posd_daemon.domain.sale import Sale, SaleLine

#: derived or master-data fields that are not part of a snapshot
_SKIP = {
    "frozen",
    "basis",
    "doc_discount",
    "invoice_limit",
    "cash_step",
    "local_cash_step",
    "memo",
    "persisted",
}


def _encode(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, CustomerSnapshot):
        return value.to_dict()
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    return value


def to_dict(obj: Any) -> dict[str, Any]:
    return {
        f.name: _encode(getattr(obj, f.name))
        for f in dataclasses.fields(obj)
        if f.name not in _SKIP
    }


def _decode(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _decode(args[0], value)
    if origin is list:
        (inner,) = typing.get_args(tp)
        return [_decode(inner, v) for v in value]
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return tp(value)
        if tp is Decimal:
            return Decimal(value)
        if tp is datetime:
            return datetime.fromisoformat(value)
        if tp is date:
            return date.fromisoformat(value)
        if tp is CustomerSnapshot:
            return CustomerSnapshot.from_dict(value)
        if tp in (SaleLine, Payment):
            return _from(tp, value)
    return value


def _from(cls: Any, data: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {
        f.name: _decode(hints[f.name], data[f.name])
        for f in dataclasses.fields(cls)
        if f.name in data and f.name not in _SKIP
    }
    return cls(**kwargs)


def sale_from_dict(data: dict[str, Any]) -> Sale:
    sale: Sale = _from(Sale, data)
    sale.refresh()
    return sale
