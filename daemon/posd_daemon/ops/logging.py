"""structlog setup: JSON lines on stdout, a console renderer on a tty."""

from __future__ import annotations

import logging
import sys
import threading
from types import TracebackType

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure(level: str = "info", fmt: str = "auto") -> None:
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
