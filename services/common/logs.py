"""Structured, rate-limited logs for every service process.

The code logs with the stdlib `logging` module; `configure_logging` (called once by the
runner) puts one handler on the root logger that writes

- JSON lines by default: one object per line with `time` (ISO-8601, UTC), `level`,
  `service`, `logger`, `message`, the fields of the enclosing `log_context`, any
  `extra=` fields, `exception` (the traceback) and `repeated` (see below);
- readable text when stderr is a terminal. `COMPLAINTS_LOG_FORMAT=text|json` forces one.

Context: `with log_context(complaint_id=..., form_number=..., correlation_id=...,
event_type=...):` adds its fields to every line logged inside it, in this task or thread
and in work it hands on (`asyncio.to_thread`, new tasks copy the context). Contexts nest;
a field given as None is left out.

Repeats: warnings and errors with the same logger, level and message template are let
through at most once per interval (`COMPLAINTS_LOG_REPEAT_SECONDS`, default 10 s); the
first one after the interval carries `repeated`: how many were suppressed. Info and debug
pass untouched. Noisy libraries (aiokafka) log warnings and above only, limited the same way.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from enum import Enum
from types import MappingProxyType
from typing import IO, Any
from uuid import UUID

FORMAT_ENV = "COMPLAINTS_LOG_FORMAT"
REPEAT_ENV = "COMPLAINTS_LOG_REPEAT_SECONDS"
DEFAULT_REPEAT_SECONDS = 10.0
FORMATS = ("json", "text")

#: Environment variables read here (not per service), for `--help`: (name, default, description).
LOG_ENVIRONMENT: tuple[tuple[str, str, str], ...] = (
    (FORMAT_ENV, "json, or text when stderr is a terminal", "log line format: json or text"),
    (REPEAT_ENV, str(DEFAULT_REPEAT_SECONDS),
     "a repeated warning or error (same logger, level and message template) is logged at most "
     "once per this many seconds; the next line carries `repeated`: how many were suppressed"),
)

#: Third-party loggers that log too much at INFO: warnings and above only.
NOISY_LOGGERS = ("aiokafka", "kafka")
#: Libraries that install handlers of their own: their records go through ours instead.
OWN_HANDLER_LOGGERS = ("faststream", "uvicorn", "uvicorn.error", "uvicorn.access")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: ContextVar[Mapping[str, Any]] = ContextVar("complaints_log_context", default=_EMPTY)


@contextmanager
def log_context(**fields: Any) -> Iterator[Mapping[str, Any]]:
    """Add fields (e.g. complaint_id, form_number, correlation_id, event_type) to every line
    logged inside; nestable, inner values win; None values are left out."""
    added = {name: value for name, value in fields.items() if value is not None}
    merged = MappingProxyType({**_context.get(), **added})
    token = _context.set(merged)
    try:
        yield merged
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_context.get())


# --- filters ---------------------------------------------------------------------------

class ContextFilter(logging.Filter):
    """Stamps each record with the log context of the code that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "log_context"):
            record.log_context = _context.get()
        return True


def repeat_seconds_from(env: Mapping[str, str]) -> float:
    raw = env.get(REPEAT_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_REPEAT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{REPEAT_ENV} must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"{REPEAT_ENV} must not be negative, not {raw!r}")
    return value


class RepeatFilter(logging.Filter):
    """At most one warning-or-worse record per (logger, level, message template) per interval;
    the first one let through after suppressions carries `repeated` = how many were dropped."""

    def __init__(self, interval: float | None = None, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 1000):
        super().__init__()
        self.interval = repeat_seconds_from(os.environ) if interval is None else float(interval)
        self.clock = clock
        self.max_keys = max_keys
        self._seen: dict[tuple[str, int, str], list[float]] = {}  # key -> [window start, suppressed]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or self.interval <= 0:
            return True
        template = record.msg if isinstance(record.msg, str) else type(record.msg).__qualname__
        key = (record.name, record.levelno, template)
        now = self.clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.interval:
                seen[1] += 1
                return False
            if seen is not None:
                del self._seen[key]  # re-inserted last: the dict stays ordered by window start
                if seen[1]:
                    record.repeated = int(seen[1])
            self._seen[key] = [now, 0]
            if len(self._seen) > self.max_keys:
                self._prune(now)
        return True

    def _prune(self, now: float) -> None:
        expired = [k for k, (start, suppressed) in self._seen.items()
                   if now - start >= self.interval and not suppressed]
        for k in expired:
            del self._seen[k]
        while len(self._seen) > self.max_keys:
            del self._seen[next(iter(self._seen))]


# --- formatters ------------------------------------------------------------------------

_RECORD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "taskName", "log_context", "repeated",
    "color_message",  # uvicorn's message again, with terminal colours
}
_RESERVED = {"time", "level", "service", "logger", "message", "repeated", "exception", "stack"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (UUID, datetime)):
        return str(value) if isinstance(value, UUID) else value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return str(value)


def _utc(record: logging.LogRecord) -> str:
    when = datetime.fromtimestamp(record.created, tz=timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """Context fields, then `extra=` fields, renamed where they would shadow a line's own keys."""
    fields: dict[str, Any] = {}
    context = getattr(record, "log_context", None)
    if context is None:
        context = _context.get()
    extras = {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS and not k.startswith("_")}
    for name, value in {**context, **extras}.items():
        fields[f"field_{name}" if name in _RESERVED else name] = value
    return fields


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_fields(record))
        repeated = getattr(record, "repeated", None)
        if repeated:
            line["repeated"] = repeated
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=_jsonable, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        text = f"{_utc(record)} {self.service:<8} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields = _fields(record)
        repeated = getattr(record, "repeated", None)
        if repeated:
            fields["repeated"] = repeated
        if fields:
            text += "  " + " ".join(f"{k}={_jsonable(v) if not isinstance(v, (int, float)) else v}"
                                    for k, v in fields.items())
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


# --- setup -----------------------------------------------------------------------------

def choose_format(env: Mapping[str, str], stream: IO[str]) -> str:
    """`COMPLAINTS_LOG_FORMAT` if set; else text on a terminal, JSON otherwise."""
    forced = env.get(FORMAT_ENV, "").strip().lower()
    if forced:
        if forced not in FORMATS:
            raise ValueError(f"{FORMAT_ENV} must be one of {', '.join(FORMATS)}, not {forced!r}")
        return forced
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure_logging(service: str, level: str | int = "INFO", *, fmt: str | None = None,
                      stream: IO[str] | None = None, repeat_seconds: float | None = None,
                      clock: Callable[[], float] = time.monotonic) -> logging.Handler:
    """Route every stdlib record through one structured, rate-limited handler on the root
    logger (replacing one installed by an earlier call). Returns the handler."""
    stream = stream if stream is not None else sys.stderr
    fmt = fmt or choose_format(os.environ, stream)
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(stream)
    handler.set_name("complaints")
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter(service))
    handler.addFilter(ContextFilter())
    handler.addFilter(RepeatFilter(repeat_seconds, clock=clock))

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "complaints"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in OWN_HANDLER_LOGGERS:
        logger = logging.getLogger(name)
        for own in logger.handlers[:]:
            logger.removeHandler(own)
        logger.propagate = True
    return handler
