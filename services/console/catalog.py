"""The console's data files, read in one place: the step catalogue (`steps.yaml`), the labels of
domain terms (`labels.yaml`) and the interface's own words (`messages.yaml`), in Chinese and
English."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
LANGUAGES = ("zh", "en")
OPEN = "open"


@dataclass(frozen=True)
class FormSpec:
    """One step the console offers as a form (`<service>/<segment>`)."""

    key: str
    actions: tuple[str, ...]
    path: str
    prefill: Mapping[str, str] = field(default_factory=dict)
    fill: Mapping[str, str] = field(default_factory=dict)
    body: bool = True

    @property
    def service(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def segment(self) -> str:
        return self.key.split("/", 1)[1]

    def url_path(self, complaint_id: str, target: str | None) -> str:
        return self.path.format(complaint_id=complaint_id, target=target or "")

    @property
    def needs_target(self) -> bool:
        return "{target}" in self.path


@dataclass(frozen=True)
class Optional_:
    form: str
    states: tuple[str, ...]
    #: What the complaint's context must hold for the step to be taken (`ledger`), if anything.
    needs: str | None = None


@dataclass(frozen=True)
class Pending:
    """A step about each item of a list the complaint holds (`items`, a dotted path) until the
    item's `until` field is given."""

    form: str
    items: str
    id: str
    until: str
    detail: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalogue:
    forms: Mapping[str, FormSpec]
    awaited: Mapping[str, tuple[str, ...]]
    optional: tuple[Optional_, ...]
    pending: tuple[Pending, ...] = ()

    def forms_for(self, step: str, source: str, subject: str | None = None) -> list[FormSpec]:
        """The forms that take an awaited `step` from `source` (routing, quality, capa:<id>, notify:<id>).

        `awaited` is consulted for the subject's entry, then the step's, when its forms are the
        source's own (or the source is routing, which awaits other services' steps too): a corrective
        action's `approval` is not routing's approval of a reply. Otherwise the form of the same
        segment at the source's service."""
        service = source.split(":", 1)[0]
        for entry in (f"{step}@{subject}", step):
            keys = self.awaited.get(entry)
            if keys and (service == "routing" or any(k.startswith(f"{service}/") for k in keys)):
                return [self.forms[k] for k in keys if k in self.forms]
        key = f"{service}/{step}"
        return [self.forms[key]] if key in self.forms else []


def load_catalogue(path: Path = HERE / "steps.yaml") -> Catalogue:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if data.get("version") != 1:
        raise ValueError(f"{path.name}: version 1 expected")
    forms = {}
    for key, spec in data["forms"].items():
        if not re.fullmatch(r"[a-z]+/[a-z-]+", key):
            raise ValueError(f"{path.name}: forms.{key}: expected <service>/<segment>")
        segment = key.split("/", 1)[1]
        forms[key] = FormSpec(key, tuple(spec["actions"]), spec.get("path", f"/complaints/{{complaint_id}}/{segment}"),
                              dict(spec.get("prefill") or {}), dict(spec.get("fill") or {}), spec.get("body", True))
    awaited = {step: tuple(keys) for step, keys in data["awaited"].items()}
    for step, keys in awaited.items():
        missing = [k for k in keys if k not in forms]
        if missing:
            raise ValueError(f"{path.name}: awaited.{step} names unknown forms {missing}")
    optional = tuple(Optional_(o["form"], tuple(o["states"]), o.get("needs")) for o in data.get("optional", ()))
    for o in optional:
        if o.form not in forms:
            raise ValueError(f"{path.name}: optional form {o.form} unknown")
    pending = tuple(Pending(p["form"], p["items"], p["id"], p["until"], tuple(p.get("detail") or ()))
                    for p in data.get("pending", ()))
    for p in pending:
        if p.form not in forms or not forms[p.form].needs_target:
            raise ValueError(f"{path.name}: pending form {p.form} unknown, or its path names no target")
    return Catalogue(forms, awaited, optional, pending)


def resolve(source: str, context: Mapping[str, Any]) -> Any:
    """A prefill source's value: `new`, `role`, `revision`, or a dotted path into `context`
    (`investigation.form.defect_form_id`, `history.DisputeRaised.dispute_id`)."""
    if source == "new":
        return str(uuid.uuid4())
    if source in ("role", "revision"):
        return context.get(source)
    value: Any = context
    for part in source.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


class Translator:
    """Words in one language, falling back to the other, then to the schema's title, then the key."""

    def __init__(self, messages: Mapping[str, Any], labels: Mapping[str, Any], language: str):
        self.messages = messages
        self.labels = labels
        self.language = language if language in LANGUAGES else LANGUAGES[0]

    def _pick(self, entry: Any) -> str | None:
        if isinstance(entry, Mapping):
            return entry.get(self.language) or next((entry[lang] for lang in LANGUAGES if entry.get(lang)), None)
        return None

    def __call__(self, key: str, **values: Any) -> str:
        text = self._pick(self.messages.get(key)) or key
        return text.format(**values) if values else text

    def label(self, section: str, key: Any, fallback: str | None = None) -> str:
        if key is None:
            return ""
        text = self._pick((self.labels.get(section) or {}).get(str(key)))
        return text or fallback or str(key)

    def field(self, key: str, title: str | None = None) -> str:
        return self.label("fields", key, title)

    def value(self, value: Any) -> str:
        return self.label("values", value)

    def step(self, step: str) -> str:
        return self.label("steps", step)

    def state(self, state: str | None) -> str:
        return self.label("states", state) if state else ""

    def role(self, role: str | None) -> str:
        return self.label("roles", role) if role else ""


@functools.cache
def _yaml(name: str) -> dict[str, Any]:
    path = HERE / name
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}


def translator(language: str) -> Translator:
    return Translator(_yaml("messages.yaml").get("messages", {}), _yaml("labels.yaml"), language)
