"""Where intake is put together: `create_app(settings)`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from contracts.envelope import utc_now
from services.common.http import create_http_app
from services.common.runtime import ServiceParts, ServiceRuntime
from services.common.settings import ServiceSettings
from services.common.store import store_env
from services.intake.application import IntakeApplication
from services.intake.entrypoints.commands import CommandConsumer, ResultsPublisher, results_sink
from services.intake.entrypoints.http import router
from services.intake.settings import IntakeSettings


def create_app(settings: ServiceSettings, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    window = settings if isinstance(settings, IntakeSettings) else IntakeSettings()
    app = IntakeApplication(env=store_env(settings), clock=clock,
                            received_at_max_skew=window.received_at_max_skew,
                            received_at_window=window.received_at_window,
                            large_claim_threshold=window.large_claim_cny)
    publisher = ResultsPublisher(settings.bus())
    commands = CommandConsumer(app, settings.bus(), publisher)

    async def consume_commands() -> None:
        await runtime.topics_ready.wait()
        await commands.run()

    runtime = ServiceRuntime(settings, ServiceParts(
        app=app,
        extra_sinks=[("command-results", results_sink(publisher))],
        background=[("commands", consume_commands)],
        reports=[("commands", commands.report)],
        closers=[publisher.close]))
    commands.saved = runtime.saved
    api = create_http_app(runtime, [router])
    commands.verifier = api.state.token_verifier  # a command's token is verified as a request's is
    api.state.clock = clock
    return api
