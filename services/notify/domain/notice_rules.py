"""Who must be told what (issue 9): the notice rules table and the directory, as checked data.

`services/notify/notice_rules.yaml` says, per triggering event, who is told (by role, directory
title, a person named in the event, or the customer), with which template, over which channels,
and whether the notice is mandatory or urgent. `services/notify/directory.yaml` says who the
people are and where they work. `recipients(event)` resolves one contracts event to the people
(and the customer) to tell; it is pure: the only I/O is `load_notice_rules`, which reads the two
files (and the organisation's regions) once.

The person complained about in a staff case never receives a notice that names the complainant
(§5.3.2⑴): rows have `names_complainant` (default true), and such rows skip the registration's
`complained_about` user and a staff investigation's `staff_member`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from functools import cache
from types import UnionType
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from contracts.envelope import PHONE_PATTERN, Envelope, Role, branch_of
from contracts.registry import EVENT_TYPES

HERE = Path(__file__).resolve().parent.parent
DEFAULT_RULES = HERE / "notice_rules.yaml"
DEFAULT_DIRECTORY = HERE / "directory.yaml"
DEFAULT_ORGANISATION = HERE.parent / "common" / "organisation.yaml"

#: Directory titles that are not roles of the contracts.
TITLES = frozenset({"branch_head", "department_head"})
LANGUAGES = frozenset({"zh", "en"})
#: Event fields naming the person a complaint is about: never told who complained.
COMPLAINED_ABOUT_FIELDS = ("complained_about", "staff_member")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(PHONE_PATTERN)
_SECRET_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,99}$")
_URL = re.compile(r"^https?://[^\s]+$")


class NoticeRulesError(ValueError):
    """The rules or the directory file is wrong: says which row and which field."""


class NoticeChannel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    INBOX = "inbox"
    PHONE_TASK = "phone_task"


# --- the directory ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Webhook:
    url: str
    events: frozenset[str]
    secret: str  # the name of the setting holding the HMAC key, never the key


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    roles: frozenset[Role]
    titles: frozenset[str] = frozenset()
    branch: str | None = None
    region: str | None = None
    department: str | None = None
    email: str | None = None
    phone: str | None = None
    language: str = "zh"
    webhooks: tuple[Webhook, ...] = ()

    def works_for(self, branch: str, region: str | None) -> bool:
        """Bound to a branch or a region: only its complaints; headquarters: every complaint."""
        if self.branch is not None:
            return self.branch == branch
        if self.region is not None:
            return self.region == region
        return True


@dataclass(frozen=True)
class Directory:
    version: str
    people: tuple[Person, ...]
    regions: dict[str, str]  # branch -> region
    default_language: str = "zh"

    def person(self, user_id: str) -> Person | None:
        return next((p for p in self.people if p.user_id == user_id), None)


# --- the rules ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Selector:
    """One entry of a row's `to`."""

    role: Role | None = None
    title: str | None = None
    customer: bool = False
    person_field: str | None = None
    role_field: str | None = None
    department_field: str | None = None


@dataclass(frozen=True)
class NoticeRule:
    name: str
    source: str
    event: str
    when: tuple[tuple[str, tuple[Any, ...]], ...]
    to: tuple[Selector, ...]
    template: str
    channels: tuple[NoticeChannel, ...]
    mandatory: bool
    urgent: bool = False
    names_complainant: bool = True

    def matches(self, event: Envelope) -> bool:
        if event.event_type != self.event:
            return False
        for name, allowed in self.when:
            value = getattr(event, name, None)
            if getattr(value, "value", value) not in allowed:
                return False
        return True


@dataclass(frozen=True)
class Recipient:
    """One addressee of one notice: a person of the directory, or the customer."""

    rule: str
    template: str
    channels: tuple[NoticeChannel, ...]
    mandatory: bool
    urgent: bool
    role: Role | None
    user_id: str | None = None  # None: the customer
    name: str | None = None
    title: str | None = None
    email: str | None = None
    phone: str | None = None
    language: str = "zh"
    webhooks: tuple[Webhook, ...] = ()
    #: The customer: the branch clerks who pass the notice on by phone.
    via: tuple[str, ...] = field(default=())

    @property
    def is_customer(self) -> bool:
        return self.role is Role.CUSTOMER


@dataclass(frozen=True)
class Receipts:
    """When a mandatory notice must be acknowledged, and who is told when it is not."""

    within_working_hours: int = 8
    urgent_within_hours: int = 2
    escalate_to: dict[str, Role] = field(default_factory=dict)  # role value or "default" -> Role

    def next_authority(self, role: Role | None) -> Role | None:
        if role is Role.GENERAL_MANAGER:
            return None
        return self.escalate_to.get(role.value if role is not None else "default", self.escalate_to.get("default"))


@dataclass(frozen=True)
class NoticeRules:
    version: str
    rules: tuple[NoticeRule, ...]
    directory: Directory
    receipts: Receipts = Receipts()

    def events(self) -> set[str]:
        return {rule.event for rule in self.rules}

    def recipients(self, event: Envelope, complained_about: str | None = None) -> list[Recipient]:
        """Everyone to tell of `event`, row by row. `complained_about`: the user id the complaint's
        registration names (the caller knows it from the registration), never told who complained."""
        branch = branch_of(event.form_number)
        region = self.directory.regions.get(branch)
        shielded = {v for v in (complained_about, *(getattr(event, f, None) for f in COMPLAINED_ABOUT_FIELDS)) if v}
        found: list[Recipient] = []
        for rule in self.rules:
            if not rule.matches(event):
                continue
            seen: set[str | None] = set()
            for selector in rule.to:
                for recipient in self._resolve(rule, selector, event, branch, region):
                    if recipient.user_id in seen:
                        continue
                    if rule.names_complainant and recipient.user_id in shielded:
                        continue
                    seen.add(recipient.user_id)
                    found.append(recipient)
        return found

    # -- resolution --

    def _resolve(self, rule: NoticeRule, selector: Selector, event: Envelope, branch: str,
                 region: str | None) -> list[Recipient]:
        if selector.customer:
            return [self._customer(rule, event, branch, region)]
        if selector.person_field is not None:
            user_id = _value(event, selector.person_field)
            person = self.directory.person(user_id) if user_id else None
            if person is not None:
                return [self._person(rule, event, person, _role_of(person, selector, event))]
            if user_id and _USER_ID.fullmatch(str(user_id)):
                # a person the directory does not know (yet): told in the inbox under that user id
                # (a field holding a department's name, not a user id, falls back to the role)
                return [self._unknown(rule, user_id, selector.role)]
            if selector.role is None and selector.role_field is None:
                return []
        roles: list[Role | None] = [selector.role]
        if selector.role_field is not None:
            roles = _roles(_value(event, selector.role_field))
            if not roles:
                return []
        departments: set[str] | None = None
        if selector.department_field is not None:
            listed = _value(event, selector.department_field) or []
            departments = {str(d).strip().lower() for d in listed} or None
        people = []
        for person in self.directory.people:
            role = next((r for r in roles if r is None or r in person.roles), _NO_ROLE)
            if role is _NO_ROLE:
                continue
            if selector.title is not None and selector.title not in person.titles:
                continue
            if departments is not None and (person.department or "").strip().lower() not in departments:
                continue
            if person.works_for(branch, region):
                people.append(self._person(rule, event, person, role))  # type: ignore[arg-type]
        return people

    def _person(self, rule: NoticeRule, event: Envelope, person: Person, role: Role | None) -> Recipient:
        hooks = tuple(h for h in person.webhooks if event.event_type in h.events)
        channels = tuple(c for c in rule.channels
                         if not (c is NoticeChannel.EMAIL and not person.email)
                         and not (c is NoticeChannel.WEBHOOK and not hooks)
                         and c is not NoticeChannel.PHONE_TASK)
        title = next((t for t in sorted(person.titles)), None)
        return Recipient(rule=rule.name, template=rule.template, channels=channels, mandatory=rule.mandatory,
                         urgent=rule.urgent, role=role, user_id=person.user_id, name=person.name, title=title,
                         email=person.email, phone=person.phone, language=person.language, webhooks=hooks)

    def _unknown(self, rule: NoticeRule, user_id: str, role: Role | None = None) -> Recipient:
        """A user the event names that the directory does not know: the in-app inbox only."""
        channels = tuple(c for c in rule.channels if c is NoticeChannel.INBOX)
        return Recipient(rule=rule.name, template=rule.template, channels=channels, mandatory=rule.mandatory,
                         urgent=rule.urgent, role=role, user_id=user_id, language=self.directory.default_language)

    def _customer(self, rule: NoticeRule, event: Envelope, branch: str, region: str | None) -> Recipient:
        customer = getattr(event, "customer", None)
        email = getattr(customer, "email", None)  # the Decider puts the registered customer's in
        clerks = tuple(p.user_id for p in self.directory.people
                       if Role.BRANCH_CLERK in p.roles and p.branch == branch)
        channels = tuple(c for c in rule.channels
                         if c in (NoticeChannel.PHONE_TASK, NoticeChannel.EMAIL)
                         and not (c is NoticeChannel.EMAIL and not email))
        return Recipient(rule=rule.name, template=rule.template, channels=channels, mandatory=rule.mandatory,
                         urgent=rule.urgent, role=Role.CUSTOMER, user_id=None,
                         name=getattr(customer, "name", None), email=email,
                         phone=getattr(customer, "phone", None), language=self.directory.default_language,
                         via=clerks)


_NO_ROLE = object()


def _roles(raw: Any) -> list[Role | None]:
    """The role, or list of roles, an event field holds."""
    values = raw if isinstance(raw, list | tuple) else ([raw] if raw else [])
    return [Role(getattr(v, "value", v)) for v in values]


def _role_of(person: Person, selector: Selector, event: Envelope) -> Role | None:
    if selector.role_field is not None:
        for role in _roles(_value(event, selector.role_field)):
            if role in person.roles:
                return role
    if selector.role is not None:
        return selector.role
    return next(iter(sorted(person.roles)), None)


def _value(event: Any, path: str) -> Any:
    for part in path.split("."):
        event = getattr(event, part, None)
        if event is None:
            return None
    return event


# --- parsing ------------------------------------------------------------------------------------

def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (`Deadline`, `Deadline | None`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, UnionType):
        for arg in get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _enum_of(annotation: Any) -> type[Enum] | None:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return annotation
    for arg in get_args(annotation):
        found = _enum_of(arg)
        if found is not None:
            return found
    return None


def _field_annotation(cls: type[BaseModel], path: str) -> Any:
    """The annotation of a (dotted) field of an event class; KeyError when there is none."""
    model: type[BaseModel] | None = cls
    annotation: Any = None
    for part in path.split("."):
        if model is None or part not in model.model_fields:
            raise KeyError(path)
        annotation = model.model_fields[part].annotation
        model = _model_of(annotation)
    return annotation


def _selector(data: Any, where: str, cls: type[BaseModel]) -> Selector:
    allowed = {"role", "title", "customer", "person_field", "role_field", "department_field"}
    if not isinstance(data, dict) or not data or set(data) - allowed:
        raise NoticeRulesError(f"{where}: expected one of {{role: R}}, {{title: T}}, {{customer: true}}, "
                               f"{{person_field: F}}, {{role_field: F}}; got {data!r}")
    if data.get("customer") is not None and (data.get("customer") is not True or len(data) != 1):
        raise NoticeRulesError(f"{where}.customer: `customer: true` stands alone")
    role = None
    if "role" in data:
        try:
            role = Role(data["role"])
        except ValueError:
            raise NoticeRulesError(f"{where}.role: {data['role']!r} is not a contracts Role") from None
        if role in (Role.CUSTOMER, Role.SYSTEM):
            raise NoticeRulesError(f"{where}.role: use {{customer: true}}; {role.value} is not a directory role")
    title = data.get("title")
    if title is not None and title not in TITLES:
        raise NoticeRulesError(f"{where}.title: {title!r} is not one of {', '.join(sorted(TITLES))}")
    for name in ("person_field", "role_field", "department_field"):
        path = data.get(name)
        if path is None:
            continue
        try:
            annotation = _field_annotation(cls, str(path))
        except KeyError:
            raise NoticeRulesError(f"{where}.{name}: {cls.__name__} has no field {path}") from None
        if name == "role_field" and _enum_of(annotation) is not Role:
            raise NoticeRulesError(f"{where}.role_field: {cls.__name__}.{path} does not hold a Role or a list of them")
    if data.get("department_field") is not None and title != "department_head":
        raise NoticeRulesError(f"{where}.department_field: only with title department_head")
    if "role" in data and "role_field" in data:
        raise NoticeRulesError(f"{where}: role or role_field, not both")
    if data.get("customer") is None and role is None and title is None and not data.get("person_field") \
            and not data.get("role_field"):
        raise NoticeRulesError(f"{where}: names nobody")
    return Selector(role=role, title=title, customer=bool(data.get("customer")),
                    person_field=data.get("person_field"), role_field=data.get("role_field"),
                    department_field=data.get("department_field"))


def _when(data: Any, where: str, cls: type[BaseModel]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise NoticeRulesError(f"{where}.when: expected {{field: value or [values]}}, got {data!r}")
    when = []
    for name, value in data.items():
        if name not in cls.model_fields:
            raise NoticeRulesError(f"{where}.when: {cls.__name__} has no field {name}")
        values = tuple(value) if isinstance(value, list) else (value,)
        enum = _enum_of(cls.model_fields[name].annotation)
        if enum is not None:
            known = {m.value for m in enum}
            for v in values:
                if v is not None and v not in known:
                    raise NoticeRulesError(f"{where}.when.{name}: {v!r} is not one of {', '.join(sorted(known))}")
        when.append((str(name), values))
    return tuple(when)


def _bool(row: dict[str, Any], name: str, where: str, default: bool | None = None) -> bool:
    value = row.get(name, default)
    if not isinstance(value, bool):
        raise NoticeRulesError(f"{where}.{name}: must be true or false")
    return value


def parse_rules(data: Any, directory: Directory) -> NoticeRules:
    if not isinstance(data, dict) or not data.get("version") or not isinstance(data.get("rules"), list):
        raise NoticeRulesError("the notice rules file needs `version` and a list `rules`")
    known = {"name", "source", "event", "when", "to", "template", "channels", "mandatory", "urgent",
             "names_complainant"}
    rules: list[NoticeRule] = []
    for index, row in enumerate(data["rules"]):
        where = f"rules[{index}]"
        if not isinstance(row, dict):
            raise NoticeRulesError(f"{where}: expected a mapping")
        name = row.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise NoticeRulesError(f"{where}.name: a lower-case name is required")
        where = f"rules[{index}] ({name})"
        unknown = set(row) - known
        if unknown:
            raise NoticeRulesError(f"{where}: unknown field {', '.join(sorted(unknown))}")
        cls = EVENT_TYPES.get(row.get("event"))  # type: ignore[arg-type]
        if cls is None:
            raise NoticeRulesError(f"{where}.event: {row.get('event')!r} is not an event of the contracts")
        if not isinstance(row.get("to"), list) or not row["to"]:
            raise NoticeRulesError(f"{where}.to: a non-empty list of recipients is required")
        to = tuple(_selector(s, f"{where}.to[{i}]", cls) for i, s in enumerate(row["to"]))
        template = row.get("template")
        if not isinstance(template, str) or not _NAME.fullmatch(template):
            raise NoticeRulesError(f"{where}.template: a lower-case template name is required")
        channels_raw = row.get("channels")
        if not isinstance(channels_raw, list) or not channels_raw:
            raise NoticeRulesError(f"{where}.channels: a non-empty list of {', '.join(c.value for c in NoticeChannel)}")
        try:
            channels = tuple(NoticeChannel(c) for c in channels_raw)
        except ValueError as exc:
            raise NoticeRulesError(f"{where}.channels: {exc}") from None
        if len(set(channels)) != len(channels):
            raise NoticeRulesError(f"{where}.channels: a channel is listed twice")
        if any(s.customer for s in to) and not set(channels) & {NoticeChannel.PHONE_TASK, NoticeChannel.EMAIL}:
            raise NoticeRulesError(f"{where}.channels: the customer is reached by phone_task or email")
        rules.append(NoticeRule(
            name=name, source=str(row.get("source", "")), event=cls.__name__, when=_when(row.get("when"), where, cls),
            to=to, template=template, channels=channels, mandatory=_bool(row, "mandatory", where),
            urgent=_bool(row, "urgent", where, False), names_complainant=_bool(row, "names_complainant", where, True),
        ))
    names = [r.name for r in rules]
    for name in names:
        if names.count(name) > 1:
            raise NoticeRulesError(f"rules ({name}): the name is used by more than one row")
    return NoticeRules(str(data["version"]), tuple(rules), directory, _receipts(data.get("receipts")))


def _receipts(data: Any) -> Receipts:
    if data is None:
        return Receipts(escalate_to={"default": Role.GENERAL_MANAGER})
    if not isinstance(data, dict) or set(data) - {"within_working_hours", "urgent_within_hours", "escalate_to"}:
        raise NoticeRulesError("receipts: expected within_working_hours, urgent_within_hours and escalate_to")
    hours = {}
    for name, default in (("within_working_hours", 8), ("urgent_within_hours", 2)):
        value = data.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 240:
            raise NoticeRulesError(f"receipts.{name}: a whole number of hours from 1 to 240")
        hours[name] = value
    escalate: dict[str, Role] = {}
    for key, value in (data.get("escalate_to") or {}).items():
        if key != "default":
            try:
                Role(key)
            except ValueError:
                raise NoticeRulesError(f"receipts.escalate_to.{key}: not a contracts Role (or `default`)") from None
        try:
            role = Role(value)
        except ValueError:
            raise NoticeRulesError(f"receipts.escalate_to.{key}: {value!r} is not a contracts Role") from None
        if role in (Role.CUSTOMER, Role.SYSTEM):
            raise NoticeRulesError(f"receipts.escalate_to.{key}: {role.value} is not a person to escalate to")
        escalate[str(key)] = role
    if "default" not in escalate:
        raise NoticeRulesError("receipts.escalate_to.default: required (who is told when no row names the role)")
    return Receipts(hours["within_working_hours"], hours["urgent_within_hours"], escalate)


def parse_directory(data: Any, regions: dict[str, str]) -> Directory:
    if not isinstance(data, dict) or not data.get("version") or not isinstance(data.get("users"), list):
        raise NoticeRulesError("the directory file needs `version` and a list `users`")
    default_language = data.get("default_language", "zh")
    if default_language not in LANGUAGES:
        raise NoticeRulesError(f"default_language: one of {', '.join(sorted(LANGUAGES))}")
    known = {"user_id", "name", "roles", "titles", "branch", "region", "department", "email", "phone",
             "language", "webhooks"}
    people: list[Person] = []
    seen: set[str] = set()
    for index, row in enumerate(data["users"]):
        where = f"users[{index}]"
        if not isinstance(row, dict):
            raise NoticeRulesError(f"{where}: expected a mapping")
        user_id = row.get("user_id")
        if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
            raise NoticeRulesError(f"{where}.user_id: required, letters, digits and ._:@-")
        where = f"users[{index}] ({user_id})"
        if user_id in seen:
            raise NoticeRulesError(f"{where}.user_id: listed twice")
        seen.add(user_id)
        unknown = set(row) - known
        if unknown:
            raise NoticeRulesError(f"{where}: unknown field {', '.join(sorted(unknown))}")
        if not isinstance(row.get("name"), str) or not row["name"].strip():
            raise NoticeRulesError(f"{where}.name: required")
        try:
            roles = frozenset(Role(r) for r in row.get("roles") or ())
        except ValueError as exc:
            raise NoticeRulesError(f"{where}.roles: {exc}") from None
        if roles & {Role.CUSTOMER, Role.SYSTEM}:
            raise NoticeRulesError(f"{where}.roles: customer and system are not people of the directory")
        titles = frozenset(row.get("titles") or ())
        if titles - TITLES:
            raise NoticeRulesError(f"{where}.titles: {', '.join(sorted(titles - TITLES))} is not one of "
                                   f"{', '.join(sorted(TITLES))}")
        if not roles and not titles:
            raise NoticeRulesError(f"{where}.roles: a role or a title is required")
        branch, region = row.get("branch"), row.get("region")
        if branch is not None and branch not in regions:
            raise NoticeRulesError(f"{where}.branch: {branch} is not a branch of organisation.yaml")
        if region is not None and region not in set(regions.values()):
            raise NoticeRulesError(f"{where}.region: {region} is not a region of organisation.yaml")
        if branch is not None and region is not None:
            raise NoticeRulesError(f"{where}.region: a branch's person has the branch's region; give one")
        if "branch_head" in titles and branch is None:
            raise NoticeRulesError(f"{where}.branch: a branch head needs the branch")
        department = row.get("department")
        if "department_head" in titles and not department:
            raise NoticeRulesError(f"{where}.department: a department head needs the department")
        email, phone = row.get("email"), row.get("phone")
        if email is not None and (not isinstance(email, str) or not _EMAIL.fullmatch(email)):
            raise NoticeRulesError(f"{where}.email: {email!r} is not an e-mail address")
        if phone is not None and (not isinstance(phone, str) or not _PHONE.fullmatch(phone)):
            raise NoticeRulesError(f"{where}.phone: {phone!r} is not a telephone number")
        language = row.get("language", default_language)
        if language not in LANGUAGES:
            raise NoticeRulesError(f"{where}.language: one of {', '.join(sorted(LANGUAGES))}")
        hooks = []
        for h, hook in enumerate(row.get("webhooks") or ()):
            hw = f"{where}.webhooks[{h}]"
            if not isinstance(hook, dict) or set(hook) != {"url", "events", "secret"}:
                raise NoticeRulesError(f"{hw}: expected url, events and secret")
            if not isinstance(hook["url"], str) or not _URL.fullmatch(hook["url"]):
                raise NoticeRulesError(f"{hw}.url: an http(s) URL")
            events = hook["events"] if isinstance(hook["events"], list) else []
            bad = [e for e in events if e not in EVENT_TYPES]
            if not events or bad:
                raise NoticeRulesError(f"{hw}.events: contracts event types, not {bad or events!r}")
            if not isinstance(hook["secret"], str) or not _SECRET_NAME.fullmatch(hook["secret"]):
                raise NoticeRulesError(f"{hw}.secret: the NAME of the setting holding the key "
                                       "(upper-case letters, digits, _), never the key itself")
            hooks.append(Webhook(hook["url"], frozenset(events), hook["secret"]))
        people.append(Person(user_id=user_id, name=row["name"], roles=roles, titles=titles, branch=branch,
                             region=region, department=department, email=email, phone=phone, language=language,
                             webhooks=tuple(hooks)))
    return Directory(str(data["version"]), tuple(people), regions, default_language)


def parse_organisation(data: Any) -> dict[str, str]:
    """organisation.yaml's regions as branch -> region."""
    return {str(branch): str(region) for region, branches in (data or {}).get("regions", {}).items()
            for branch in branches}


def load_notice_rules(rules_file: Path = DEFAULT_RULES, directory_file: Path = DEFAULT_DIRECTORY,
                      organisation_file: Path = DEFAULT_ORGANISATION) -> NoticeRules:
    """Read the rules table and the directory (once, at start); NoticeRulesError when one is wrong."""
    regions = parse_organisation(yaml.safe_load(organisation_file.read_text(encoding="utf-8")))
    try:
        directory = parse_directory(yaml.safe_load(directory_file.read_text(encoding="utf-8")), regions)
    except NoticeRulesError as exc:
        raise NoticeRulesError(f"{directory_file.name}: {exc}") from None
    try:
        return parse_rules(yaml.safe_load(rules_file.read_text(encoding="utf-8")), directory)
    except NoticeRulesError as exc:
        raise NoticeRulesError(f"{rules_file.name}: {exc}") from None


@cache
def notice_rules() -> NoticeRules:
    """The shipped rules and directory, read once."""
    return load_notice_rules()


def recipients(event: Envelope, complained_about: str | None = None) -> list[Recipient]:
    """Everyone the shipped rules say must be told of `event` (see NoticeRules.recipients)."""
    return notice_rules().recipients(event, complained_about)
