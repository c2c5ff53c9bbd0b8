"""Typed application keys: every piece of state the REST front's app holds, one constant each."""

from __future__ import annotations

from aiohttp import web

from queue_runtime.broker import Broker
from queue_runtime.broker.waiting import BrokerWaiter

from ..endpoints import Endpoints
from ..entities import EntityDeclarations
from ..faults import FaultInjector
from ..settings import EmulatorSettings
from ..stats import Stats

__all__ = ["BROKER", "ENDPOINTS", "ENTITIES", "FAULTS", "OPENAPI", "SETTINGS", "STATS", "WAITER"]

SETTINGS = web.AppKey("settings", EmulatorSettings)
BROKER = web.AppKey("broker", Broker)
WAITER = web.AppKey("waiter", BrokerWaiter)
FAULTS = web.AppKey("faults", FaultInjector)
STATS = web.AppKey("stats", Stats)
ENTITIES = web.AppKey("entities", EntityDeclarations)
OPENAPI = web.AppKey("openapi", bytes)
ENDPOINTS = web.AppKey("endpoints", Endpoints)  # where the other fronts listen
