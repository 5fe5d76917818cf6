"""`python -m services.<name>`: run one service as its own process.

`--help` lists the environment variables the service reads, generated from its settings
class at run time: each name, its default and its description. Secrets' values are never
printed. Logs go out structured (`services.common.logs`).
"""

from __future__ import annotations

import argparse
import logging
import time
import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, get_args

import uvicorn
from fastapi import FastAPI
from pydantic import AliasChoices, AliasPath, SecretBytes, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from services.common.logs import LOG_ENVIRONMENT, configure_logging
from services.common.settings import ServiceSettings
from services.common.store import DatabaseUnavailable

SECRET_NAME = re.compile(r"secret|password|passwd|token|private|api_key|signing_key|credential", re.IGNORECASE)
URL_PASSWORD = re.compile(r"(://[^/:@\s]+:)[^@/\s]+@")
HIDDEN = "(secret: not shown)"


def serve(create_app: Callable[[ServiceSettings], FastAPI],
          settings: ServiceSettings | type[ServiceSettings],
          argv: Sequence[str] | None = None) -> None:
    """Parse the command line (only `--help`), read the settings, configure logs, run the app.
    Pass the settings class rather than an instance, so `--help` works even when the
    environment holds a value that does not validate."""
    cls = settings if isinstance(settings, type) else type(settings)
    prog = f"python -m services.{cls.SERVICE.value}"
    parser = argparse.ArgumentParser(prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description=_about(cls), epilog=settings_table(cls))
    parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if isinstance(settings, type):
        settings = settings()
    configure_logging(settings.service.value, settings.log_level,
                      fmt=getattr(settings, "log_format", None),
                      repeat_seconds=getattr(settings, "log_repeat_seconds", None))
    uvicorn.run(build_with_retry(create_app, settings), host=settings.http_host, port=settings.http_port,
                log_level=settings.log_level.lower(), log_config=None, access_log=False,
                timeout_graceful_shutdown=10)


def build_with_retry(create_app: Callable[[ServiceSettings], FastAPI], settings: ServiceSettings,
                     pause: float = 3.0, attempts: int | None = None) -> FastAPI:
    """Build the app; while its database cannot be reached, say which and how, and try again
    (the broker is waited for in the background, so only the store can hold the start up)."""
    log = logging.getLogger(f"services.{settings.service.value}")
    tried = 0
    while True:
        try:
            return create_app(settings)
        except DatabaseUnavailable as e:
            tried += 1
            if attempts is not None and tried >= attempts:
                raise
            log.error("%s; retrying in %.0fs", e, pause)
            time.sleep(pause)


def _about(cls: type[ServiceSettings]) -> str:
    parts = getattr(cls, "ABOUT", "its HTTP API, its outbox relays and its consumers")
    return textwrap.fill(f"Run the {cls.SERVICE.value} service: {parts}, until SIGTERM or Ctrl-C. It reads its "
                         f"settings from the environment only.", width=96)


def settings_help(cls: type[ServiceSettings], prog: str | None = None) -> str:
    """The full `--help` text for a service's settings class."""
    prog = prog or f"python -m services.{cls.SERVICE.value}"
    parser = argparse.ArgumentParser(prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description=_about(cls), epilog=settings_table(cls))
    return parser.format_help()


def env_names(cls: type[ServiceSettings], name: str) -> list[str]:
    """The environment variable(s) a field is read from: its alias(es), else prefix + NAME."""
    field = cls.model_fields[name]
    alias = field.validation_alias or field.alias
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)] or [
            str(choice.path[0]) for choice in alias.choices if isinstance(choice, AliasPath)]
    if isinstance(alias, AliasPath):
        return [str(alias.path[0])]
    prefix = cls.model_config.get("env_prefix", "")
    return [f"{prefix}{name}".upper()]


def settings_table(cls: type[ServiceSettings]) -> str:
    """Each setting: its environment variable(s), its default and its description."""
    defaults = cls.model_construct()  # defaults (and model_post_init), without reading the environment
    lines = ["settings (environment variables):"]
    listed: set[str] = set()
    for name, field in cls.model_fields.items():
        names = env_names(cls, name)
        listed.update(names)
        lines.append("  " + " or ".join(names))
        lines.append(f"      default: {_default(name, field, defaults)}")
        description = _description(cls, name, field)
        if description:
            lines += textwrap.wrap(description, width=96, initial_indent="      ", subsequent_indent="      ")
    logging_lines: list[str] = []
    for env, default, description in LOG_ENVIRONMENT:
        if env in listed:  # read through the settings class already
            continue
        logging_lines += [f"  {env}", f"      default: {default}"]
        logging_lines += textwrap.wrap(description, width=96, initial_indent="      ", subsequent_indent="      ")
    if logging_lines:
        lines += ["", "logging (every service):", *logging_lines]
    return "\n".join(lines)


def _is_secret(name: str, field: FieldInfo) -> bool:
    if SECRET_NAME.search(name):
        return True
    pending = [field.annotation]
    while pending:
        annotation = pending.pop()
        if annotation in (SecretStr, SecretBytes):
            return True
        pending.extend(get_args(annotation))
    return False


def _default(name: str, field: FieldInfo, defaults: Any) -> str:
    if field.is_required():
        return "(required)"
    value = getattr(defaults, name, field.default)
    if value is PydanticUndefined:
        return "(computed)"
    if value is None or value == "":
        return "unset"
    if _is_secret(name, field):
        return HIDDEN
    shown = to_jsonable_python(value)
    text = shown if isinstance(shown, str) else str(shown).replace("'", '"')
    return URL_PASSWORD.sub(r"\1***@", text)


def _description(cls: type[ServiceSettings], name: str, field: FieldInfo) -> str:
    if field.description:
        return field.description
    comment = _comment_above(cls, name)
    if comment:
        # `#: INTAKE_X: what it is` names the variable again; keep only the description.
        return re.sub(r"^[A-Z][A-Z0-9_]*:\s*", "", comment)
    return field.title or ""


def _comment_above(cls: type, name: str) -> str:
    """A `#:` comment right above `name: ...` in the class that declares the field."""
    for klass in cls.__mro__:
        if name not in getattr(klass, "__annotations__", {}):
            continue
        try:
            source, _ = inspect.getsourcelines(klass)
        except (OSError, TypeError):
            continue  # a class made at run time (e.g. `for_service`) has no source
        for index, line in enumerate(source):
            if re.match(rf"\s+{re.escape(name)}\s*:", line):
                comments = []
                for above in reversed(source[:index]):
                    stripped = above.strip()
                    if not stripped.startswith("#:"):
                        break
                    comments.insert(0, stripped[2:].strip())
                return " ".join(comments)
    return ""
