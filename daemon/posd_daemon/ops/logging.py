"""structlog setup: JSON lines on stdout, a console renderer on a tty."""

from __future__ import annotations

import logging
import sys

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


def get(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
