"""`make faults`: the five services as processes on PostgreSQL, 200 complaints in flight, and
something breaks: each service SIGKILLed in turn; the broker restarted empty while one
consumer lags; a service's database connections cut mid-batch (through a TCP proxy).

The load acts as the people would: the HQ clerk dispatches the regional manager on site for each
complaint routing routed to them, and the regional manager records the determination of each
investigation quality opens. After each fault: every complaint completes (its four notifications
recorded and delivered), no store holds a duplicate business event, no notification is delivered
twice, and the time to recover is printed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import NAMESPACE_URL, uuid5

import httpx
import pytest

from contracts.envelope import STAGE_SERVICES, ServiceName
from services.common.cluster import SERVICES, LocalCluster
from services.common.provision import provision_local
from services.common.republish import service_application
from services.common.settings import ServiceSettings
from services.demo import samples
from services.demo.journey import dispatch_on_site, upload_photo
from tests.support import postgres
from tests.support.kafka import start_kafka
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.faults
INTAKE, ROUTING, QUALITY, BILLING, NOTIFY = STAGE_SERVICES
N = 200

#: The notices of one complaint: the customer told of the on-site visit (the dispatch), then the
#: customer, the general manager and the management representative told of the decision.
NOTICES = 5
DELIVERIES = 7

#: What each service's store holds per complaint when the journey is complete: these events
#: exactly this often, and any other event (notify's waiting for a contact) at most once.
EXPECTED = {
    # Routed to the HQ clerk, then (the dispatch: one command taken) to quality; who must act: at
    # opening, after the dispatch; the customer told of the visit.
    ROUTING: Counter({"Opened": 1, "Routed": 2, "Detailed": 1, "ComplaintClassified": 1, "ActionsAwaited": 2,
                      "CommandTaken": 1, "QualityCaseTriaged": 1, "ProgressMilestoneReached": 1}),
    QUALITY: Counter({"Opened": 1, "DeterminationRecorded": 1}),
    # The ledger notes each fact (the two routings, the determination), prices the case once (the
    # legacy allocation beside the ledger's entries) and states what the customer owes.
    BILLING: Counter({"Opened": 1, "FactNoted": 3, "Allocated": 1, "EntriesBooked": 1, "Priced": 1,
                      "ChargesStated": 1}),
    # The notices, and each target delivered once: the customer's three phone tasks to the clerk, the
    # general manager's and the management representative's e-mail and inbox.
    NOTIFY: Counter({"Opened": 1, "RegistrationNoted": 1, "Recorded": NOTICES, "Delivered": DELIVERIES}),
}
#: Events that may legitimately repeat: a send retried after its process died (its lease ran out),
#: facts that came before the registration.
REPEATABLE = {"AttemptStarted", "FactAwaitingRegistration"}


class Faults:
    """The cluster under test, its broker, and a proxy between billing and its database."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.databases = {s: postgres.create_database(f"faults_{s.value}") for s in SERVICES}
        self.proxy = TcpProxy("127.0.0.1", 5432).start()
        urls = {s: postgres.url_for(db) for s, db in self.databases.items()}
        base, _, name = urls[BILLING].rpartition("/")
        urls[BILLING] = f"{base.rsplit('@', 1)[0]}@127.0.0.1:{self.proxy.port}/{name}"
        self.urls = urls
        self.broker = start_kafka(workdir / "kafka")
        self.cluster = LocalCluster(workdir, urls, kafka=self.broker, log_level="WARNING")
        self.cluster.start()
        self.clerk = self.cluster.auth(**samples.CLERK)
        self.manager = self.cluster.auth(**samples.MANAGER)
        self.hq_clerk = self.cluster.auth(**samples.HQ_CLERK)
        self.operator = self.cluster.auth(**samples.OPERATOR)
        self.submitted: list[str] = []
        with httpx.Client(timeout=10) as client:  # the photo every determination names as evidence
            self.photo = upload_photo(client, self.cluster.url(QUALITY), self.manager)

    def stop(self) -> None:
        self.cluster.stop()
        self.broker.stop()
        self.proxy.stop()
        for db in self.databases.values():
            postgres.drop_database(db)

    # --- load ----------------------------------------------------------------------------------

    def post(self, url: str, body: dict, headers: dict, attempts: int = 60) -> httpx.Response:
        """POST an idempotent command (it carries its command_id), retried while a service is down."""
        for _ in range(attempts):
            try:
                response = httpx.post(url, json=body, headers=headers, timeout=10)
                if response.status_code < 500:
                    return response
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"{url} did not answer")

    def submit(self, n: int = N) -> None:
        def one(_: int) -> str:
            r = self.post(f"{self.cluster.url(INTAKE)}/complaints", samples.quality_complaint(), self.clerk)
            assert r.status_code in (200, 201), r.text
            return r.json()["complaint_id"]
        with ThreadPoolExecutor(max_workers=8) as pool:
            self.submitted += list(pool.map(one, range(n)))

    def act_in_background(self) -> threading.Event:
        """Act as the HQ clerk and the regional managers: dispatch on site every complaint routing
        routed and not yet triaged, record the on-site determination of every investigation quality
        opens (the same command id per complaint and step, so a repeat is the same command)."""
        stop = threading.Event()

        def dispatch(complaint_id: str) -> str | None:
            try:
                with httpx.Client(timeout=10, headers=self.operator) as client:
                    dispatch_on_site(client, self.cluster.url(ROUTING), complaint_id, self.hq_clerk, timeout=5,
                                     command_id=str(uuid5(NAMESPACE_URL, f"dispatch:{complaint_id}")))
                return complaint_id
            except Exception:  # noqa: BLE001 - routing is down or its store is cut: next round
                return None

        def determine(complaint_id: str) -> str | None:
            body = samples.obvious_defect_determination([self.photo]) | {
                "command_id": str(uuid5(NAMESPACE_URL, f"determination:{complaint_id}"))}
            try:
                r = self.post(f"{self.cluster.url(QUALITY)}/complaints/{complaint_id}/on-site-determination",
                              body, self.manager, attempts=4)
            except AssertionError:
                return None
            return complaint_id if r.status_code in (200, 201) else None

        def loop() -> None:
            dispatched: set[str] = set()
            determined: set[str] = set()
            with ThreadPoolExecutor(max_workers=8) as pool:
                while not stop.is_set():
                    routing = self.stored_events(ROUTING)
                    to_dispatch = {c for (c, name) in routing if name == "Routed"} - dispatched - \
                        {c for (c, name) in routing if name == "QualityCaseTriaged"}
                    dispatched |= {c for c in pool.map(dispatch, sorted(to_dispatch)) if c}
                    to_determine = self.stored(QUALITY, "Opened") - determined
                    determined |= {c for c in pool.map(determine, sorted(to_determine)) if c}
                    stop.wait(0.3)
        threading.Thread(target=loop, daemon=True, name="hq-clerk-and-managers").start()
        return stop

    # --- stores --------------------------------------------------------------------------------

    #: Opening a store runs eventsourcing's CREATE OR REPLACE FUNCTION; two readers in this process
    #: doing it at once on one database fail with "tuple concurrently updated" (the background
    #: actor and the final count did, once): the test's readers take turns.
    _readers = threading.Lock()

    def events(self, service: ServiceName) -> Counter:
        """(complaint id, event name) -> how many, read from the service's own store."""
        settings = ServiceSettings.for_service(service)(database_url=postgres.url_for(self.databases[service]))
        with self._readers:
            app = service_application(settings)
            try:
                if service is NOTIFY:  # notifications have ids of their own: count them by their complaint
                    return Counter((str(app.mapper.to_domain_event(n).meta.complaint_id), n.topic.rsplit(".", 1)[-1])
                                   for n in app.recorder.select_notifications(1, 10_000_000))
                return Counter((str(n.originator_id), n.topic.rsplit(".", 1)[-1])
                               for n in app.recorder.select_notifications(1, 10_000_000))
            finally:
                app.close()

    def stored_events(self, service: ServiceName) -> Counter:
        try:
            return self.events(service)
        except Exception:  # noqa: BLE001 - the store is being cut: try again next round
            return Counter()

    def stored(self, service: ServiceName, event: str) -> set[str]:
        return {c for (c, name) in self.stored_events(service) if name == event}

    def complete(self) -> set[str]:
        recorded = Counter(c for (c, name), n in self.events(NOTIFY).items() if name == "Recorded" for _ in range(n))
        return {c for c in self.submitted if recorded[c] >= NOTICES}

    def wait_complete(self, timeout: float = 180.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if len(self.complete()) == len(self.submitted) and self.delivered_all() and self.all_recorded():
                    return time.monotonic() - started
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0.5)
        missing = len(self.submitted) - len(self.complete())
        raise AssertionError(f"{missing} of {len(self.submitted)} complaints did not complete in {timeout}s")

    def deliveries(self) -> Counter:
        """(notice, target) -> how often notify recorded it delivered, from notify's store."""
        settings = ServiceSettings.for_service(NOTIFY)(database_url=postgres.url_for(self.databases[NOTIFY]))
        with self._readers:
            app = service_application(settings)
            try:
                return Counter((str(e.originator_id), e.key) for e in (
                    app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 10_000_000)
                    if n.topic.endswith(".Delivered")))
            finally:
                app.close()

    def delivered_all(self) -> bool:
        return sum(self.deliveries().values()) >= DELIVERIES * len(self.submitted)

    def per_complaint(self, service: ServiceName) -> dict[str, Counter]:
        """complaint -> its events' names counted, in the service's store."""
        found: dict[str, Counter] = {}
        for (complaint, name), count in self.events(service).items():
            found.setdefault(complaint, Counter())[name] = count
        return found

    def all_recorded(self) -> bool:
        """Every service holds at least the events it should for every complaint: the notices can be
        complete before billing has noted the routings a restarted broker got back from routing."""
        for service, expected in EXPECTED.items():
            got = self.per_complaint(service)
            if any(got.get(c, Counter())[name] < n for c in self.submitted for name, n in expected.items()):
                return False
        return True

    def assert_exactly_once(self) -> None:
        for service, expected in EXPECTED.items():
            per_complaint = self.per_complaint(service)
            for complaint in self.submitted:
                got = per_complaint.get(complaint, Counter())
                assert all(got[name] == n for name, n in expected.items()), (service, complaint, got)
                assert all(n == 1 for name, n in got.items() if name not in expected and name not in REPEATABLE), \
                    (service, complaint, got)
        duplicates = {notice: n for notice, n in self.deliveries().items() if n > 1}
        assert not duplicates, f"delivered more than once: {duplicates}"
        assert sum(self.deliveries().values()) == DELIVERIES * len(self.submitted)


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    setup = Faults(tmp_path_factory.mktemp("faults"))
    try:
        yield setup
    finally:
        setup.stop()


def test_each_service_killed_in_turn(faults: Faults) -> None:
    stop = faults.act_in_background()
    try:
        submitter = threading.Thread(target=faults.submit)
        submitter.start()
        for service in ServiceName:
            time.sleep(1.0)
            assert faults.cluster.stop_service(service, kill=True) == -9
            time.sleep(0.5)
            faults.cluster.start_service(service)
        submitter.join()
        recovered = faults.wait_complete()
    finally:
        stop.set()
    print(f"\nSIGKILL of each service in turn: {len(faults.submitted)} complaints complete "
          f"{recovered:.1f}s after the last restart")
    faults.assert_exactly_once()


def test_broker_restarted_empty_while_billing_lags(faults: Faults) -> None:
    before = len(faults.submitted)
    faults.cluster.stop_service(BILLING)
    stop = faults.act_in_background()
    try:
        faults.submit()
        new = set(faults.submitted[before:])
        deadline = time.monotonic() + 120
        while not new <= faults.stored(QUALITY, "DeterminationRecorded") and time.monotonic() < deadline:
            time.sleep(0.5)
        for node in faults.broker.nodes:
            node.wipe()
        faults.broker.start()  # the same port, nothing in it
        provision_local(faults.broker.bus)
        back = time.monotonic()
        faults.cluster.start_service(BILLING)
        faults.wait_complete()
        recovered = time.monotonic() - back
    finally:
        stop.set()
    print(f"\nbroker restarted empty with billing lagging: {N} complaints complete "
          f"{recovered:.1f}s after the broker was back")
    faults.assert_exactly_once()


def test_database_connections_cut_mid_batch(faults: Faults) -> None:
    stop = faults.act_in_background()
    try:
        submitter = threading.Thread(target=faults.submit)
        submitter.start()
        cut = 0
        for _ in range(6):
            time.sleep(1.5)
            cut += faults.proxy.cut()
        submitter.join()
        started = time.monotonic()
        faults.wait_complete()
        recovered = time.monotonic() - started
    finally:
        stop.set()
    assert cut > 0, "billing's database connections were cut"
    print(f"\nbilling's database connections cut 6 times ({cut} connections): all complete "
          f"{recovered:.1f}s after the load ended")
    faults.assert_exactly_once()

