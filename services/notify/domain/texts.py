"""The notices' texts: Jinja2 templates per template name and language, as data.

`services/notify/templates/notices.<language>.yaml` holds, per template name of the notice rules,
a `subject` and a `body` over the complaint's facts (see the file's header). `Texts.render` is
pure; `load_texts` reads the files once and checks that every language has every template and
that each one compiles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from jinja2 import Environment, Template, TemplateError

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
ZONE = ZoneInfo("Asia/Shanghai")
SUBJECT_MAX = 200


class TextsError(ValueError):
    """A texts file is wrong: says which file, template and part."""


def _local(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(ZONE).strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)


def _label(table: Mapping[str, str], value: Any) -> str:
    raw = str(value.value if isinstance(value, Enum) else value)
    return table.get(raw) or raw.replace("_", " ")


@dataclass(frozen=True)
class Texts:
    version: str
    templates: Mapping[tuple[str, str], tuple[Template, Template]]
    labels: Mapping[str, Mapping[str, str]]

    def names(self) -> set[str]:
        return {name for name, _ in self.templates}

    def label(self, language: str, value: Any) -> str:
        return _label(self.labels.get(language, {}), value)

    def render(self, template: str, language: str, context: Mapping[str, Any]) -> tuple[str, str]:
        """(subject, body) of a notice; the default language when `language` has no such text."""
        language = language if (template, language) in self.templates else DEFAULT_LANGUAGE
        subject_t, body_t = self.templates[(template, language)]
        values = {**context, "label": lambda v: self.label(language, v)}
        subject = " ".join(subject_t.render(values).split())[:SUBJECT_MAX]
        lines = [line.rstrip() for line in body_t.render(values).splitlines()]
        body = "\n".join(line for line in lines if line.strip())
        return subject, body


def parse_texts(files: Mapping[str, Any], required: Iterable[str] = ()) -> Texts:
    templates: dict[tuple[str, str], tuple[Template, Template]] = {}
    labels: dict[str, dict[str, str]] = {}
    versions = []
    for language, data in files.items():
        where = f"notices.{language}.yaml"
        if not isinstance(data, dict) or not data.get("version") or not isinstance(data.get("texts"), dict):
            raise TextsError(f"{where}: needs `version` and a mapping `texts`")
        versions.append(f"{language}:{data['version']}")
        labels[language] = {str(k): str(v) for k, v in (data.get("labels") or {}).items()}
        env = Environment(autoescape=False, trim_blocks=True, lstrip_blocks=True)
        env.filters["local"] = _local
        env.filters["label"] = lambda v, table=labels[language]: _label(table, v)
        for name, entry in data["texts"].items():
            if not isinstance(entry, dict) or set(entry) != {"subject", "body"}:
                raise TextsError(f"{where}: texts.{name}: expected `subject` and `body`")
            try:
                templates[(str(name), language)] = (env.from_string(str(entry["subject"])),
                                                    env.from_string(str(entry["body"])))
            except TemplateError as exc:
                raise TextsError(f"{where}: texts.{name}: {exc}") from None
    for name in required:
        for language in files:
            if (name, language) not in templates:
                raise TextsError(f"notices.{language}.yaml: texts.{name}: missing (the notice rules use it)")
    return Texts(" ".join(versions), templates, labels)


def load_texts(required: Iterable[str] = (), directory: Path = TEMPLATES) -> Texts:
    files = {language: yaml.safe_load((directory / f"notices.{language}.yaml").read_text(encoding="utf-8"))
             for language in LANGUAGES}
    return parse_texts(files, required)

