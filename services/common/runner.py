"""`python -m services.<name>`: run one service as its own process."""

from __future__ import annotations

import logging
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from services.common.settings import ServiceSettings


def serve(create_app: Callable[[ServiceSettings], FastAPI], settings: ServiceSettings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s {settings.service.value:<8} %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                log_level=settings.log_level.lower(), access_log=False, timeout_graceful_shutdown=10)
