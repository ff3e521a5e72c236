"""structlog setup: JSON lines on stdout, a console renderer on a tty."""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from types import TracebackType
from typing import Any

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


#: what a secret is replaced by in a log line
REDACTED = "[redacted]"

#: field names whose value is a secret (compared lower-case, "-" as "_"): PINs, session
#: and API tokens, the fiskaly API key and secret, HTTP authorization headers
SECRET_KEYS = frozenset(
    {
        "pin",
        "new_pin",
        "old_pin",
        "current_pin",
        "pin_scrypt",
        "password",
        "secret",
        "api_key",
        "api_secret",
        "fiskaly_api_key",
        "fiskaly_api_secret",
        "token",
        "session_token",
        "access_token",
        "refresh_token",
        "authorization",
        "proxy_authorization",
        "cookie",
        "store_secret",
        "x_posd_store_secret",
    }
)

_KEY_ALTERNATIVES = "|".join(
    sorted((re.escape(k).replace("_", "[_-]") for k in SECRET_KEYS), key=len, reverse=True)
)
#: the same secrets inside text (an exception's message, a library's log line, a repr of
#: a dict of headers): ``key=value``, ``key: value``, ``'key': 'value'``, ``"key": "value"``
_SECRET_IN_TEXT = re.compile(
    rf"""(?ix)
    (?<![A-Za-z0-9_-])(["']?(?:{_KEY_ALTERNATIVES})["']?\s*[:=]\s*["']?)
    (?:(?:bearer|basic)\s+)?
    [^\s"',;}}\])]+
    """
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")

#: values known to be secret (the configured fiskaly key and secret), replaced wherever
#: they appear; registered by configure() and register_secret()
_secret_values: set[str] = set()
#: shorter ones would redact ordinary words and numbers
_MIN_SECRET_LEN = 6


#: fields the pipeline itself adds, never a secret
_NEVER_SECRET = frozenset({"timestamp", "level"})


def register_secret(value: str) -> None:
    """Redacts ``value`` from every later log line (a credential known only at run time)."""
    if len(value) >= _MIN_SECRET_LEN:
        _secret_values.add(value)


def redact_text(text: str) -> str:
    for value in sorted(_secret_values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    # the patterns only where they can match: most values (a method name, a request id)
    # have neither separator nor scheme, and every RPC writes a line
    if "=" in text or ":" in text:
        text = _SECRET_IN_TEXT.sub(lambda m: m.group(1) + REDACTED, text)
    low = text.lower()
    if "bearer" in low or "basic" in low:
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return text


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower().replace("-", "_") in SECRET_KEYS


def _redact_value(value: object) -> object:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret_key(k) else _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    return value


def redact(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The log pipeline's redaction step: after the exception is formatted (its text is
    redacted too), before the renderer. A secret field's value is replaced whole; in any
    other text, known secret values and ``key=value`` pairs of secret keys."""
    for key, value in event_dict.items():
        if key in _NEVER_SECRET:
            continue
        if key == "exc_info" and not isinstance(value, str):
            continue  # the console renderer formats it itself (format_exc_info ran)
        event_dict[key] = REDACTED if _is_secret_key(key) else _redact_value(value)
    return event_dict


def configure(level: str = "info", fmt: str = "auto", secrets: Iterable[str] = ()) -> None:
    """``secrets``: values never to log (the fiskaly API key and secret, ...)."""
    for value in secrets:
        register_secret(value)
    console = fmt == "console" or (fmt == "auto" and sys.stdout.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=True)
        if console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        # the daemon configures once, at start: each logger resolves its configuration
        # on first use instead of on every line (one summary line per RPC)
        cache_logger_on_first_use=True,
    )
    # Libraries that log through the standard module (the fiskaly TSE client, gRPC) go
    # the same way: unconfigured, their warnings reached stderr as bare text (a traceback
    # as many lines) and their info lines were dropped.
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _ToStructlog):
            root.removeHandler(handler)
    root.addHandler(_ToStructlog())
    root.setLevel(_LEVELS[level])
    # What nobody catches goes the same way too. Python's defaults print a traceback (or
    # a warning and its source line) to stderr as bare text, which journald splits into
    # one entry per line: an exception escaping a thread (the metrics exporter's, gRPC's)
    # or the main code, an exception in a __del__ or a finalizer, a Python warning.
    logging.captureWarnings(True)
    sys.excepthook = _uncaught
    threading.excepthook = _uncaught_in_thread
    sys.unraisablehook = _unraisable


class _ToStructlog(logging.Handler):
    """Hands each standard-library record to structlog: one JSON line through the same
    renderer and the same locked stream as the daemon's own lines."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, object] = {"logger": record.name}
            if record.exc_info:
                fields["exc_info"] = record.exc_info
            get(record.name).log(record.levelno, record.getMessage(), **fields)
        except Exception:
            self.handleError(record)


def _uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)  # Ctrl-C on a terminal: Python's own message
        return
    get("posd").critical("uncaught_exception", exc_info=(kind, exc, tb))


def _uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return  # what threading's own hook ignores too
    thread = args.thread.name if args.thread is not None else None
    get("posd").error(
        "uncaught_exception_in_thread",
        thread=thread,
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )


def _unraisable(args: sys.UnraisableHookArgs) -> None:
    fields: dict[str, object] = {}
    try:
        fields["object"] = repr(args.object)
    except Exception:  # a repr failing as the object is torn down
        fields["object"] = type(args.object).__name__
    if args.err_msg:
        fields["detail"] = args.err_msg
    if args.exc_value is not None:
        fields["exc_info"] = (args.exc_type, args.exc_value, args.exc_traceback)
    get("posd").error("unraisable_exception", **fields)


def get(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
