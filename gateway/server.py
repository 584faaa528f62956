"""The gateway process: wires registry, router, proxy, assets, jobs and productions together.

Run it with ``python -m gateway --config gateway.yaml`` (see `gateway.config` for the keys).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from common import logs
from common.metrics import serve_metrics
from common.registry import connect as connect_registry
from gateway.assets import AssetServicer, AssetStore
from gateway.auth import ApiKeys
from gateway.catalog import GatewayServicer
from gateway.config import GatewayConfig
from gateway.interceptor import GatewayInterceptor
from gateway.jobs import JobRunner, JobServicer, JobStore
from gateway.metrics import REGISTERED_INSTANCES
from gateway.production import CaseStore, Producer, ProductionServicer, load_recipes
from gateway.proxy import Proxy
from gateway.registry_store import RegistryServicer, RegistryStore
from gateway.routing import Router
from vipro.v1 import (
    assets_pb2,
    assets_pb2_grpc,
    gateway_pb2,
    gateway_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    production_pb2,
    production_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
)

log = logging.getLogger(__name__)

_OWN_SERVICES = [
    gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"].full_name,
    assets_pb2.DESCRIPTOR.services_by_name["AssetService"].full_name,
    jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    production_pb2.DESCRIPTOR.services_by_name["ProductionService"].full_name,
    registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name,
]


_OWN_METHODS = frozenset(
    f"/{service.full_name}/{md.name}"
    for module in (gateway_pb2, assets_pb2, jobs_pb2, production_pb2, registry_pb2, health_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
    for md in service.methods
) | {f"/{reflection.SERVICE_NAME}/ServerReflectionInfo"}


def _internal_token(config: GatewayConfig) -> str:
    if config.internal_token:
        return config.internal_token
    path = config.state_dir / "internal_token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(24))
        path.chmod(0o600)
    return path.read_text().strip()


class Gateway:
    """One gateway process (asyncio). `await start()`, then `await stop()`."""

    def __init__(self, config: GatewayConfig):
        self.config = config
        self.internal_token = _internal_token(config)
        state = config.state_dir
        if config.registry == "embedded":
            self.registry = RegistryStore(state / "registry.sqlite", config.registry_ttl_seconds)
        else:
            self.registry = connect_registry(config.registry)
            self.registry.start_watch()
        self.router = Router(
            self.registry.instances,
            self.registry.version,
            config.ejection,
            config.capability_defaults,
            config.balancer,
        )
        self.proxy = Proxy(
            self.router,
            config.default_deadline_seconds,
            config.retry_attempts,
            self.internal_token,
        )
        self.assets = AssetStore(state / "assets", config.assets)
        self.jobs = JobRunner(JobStore(state / "jobs.sqlite"), self.proxy, config.jobs)
        self.producer = Producer(
            load_recipes(config.recipes_dir),
            self.proxy,
            CaseStore(state / "cases.sqlite"),
            self.assets,
            config.default_deadline_seconds,
        )
        self.health = health.aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port = 0
        self.metrics_port = 0
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> int:
        """Serve; returns the gRPC port."""
        config = self.config
        server = grpc.aio.server(
            interceptors=[
                GatewayInterceptor(
                    ApiKeys(config.api_keys_file), self.internal_token, self._is_known
                )
            ],
            options=(
                ("grpc.max_receive_message_length", config.max_message_bytes),
                ("grpc.max_send_message_length", config.max_message_bytes),
            ),
            maximum_concurrent_rpcs=config.max_concurrent_rpcs,
        )
        gateway_pb2_grpc.add_GatewayServiceServicer_to_server(
            GatewayServicer(self.registry.instances, self.router), server
        )
        assets_pb2_grpc.add_AssetServiceServicer_to_server(AssetServicer(self.assets), server)
        jobs_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(self.jobs), server)
        production_pb2_grpc.add_ProductionServiceServicer_to_server(
            ProductionServicer(self.producer), server
        )
        if isinstance(self.registry, RegistryStore):
            registry_pb2_grpc.add_RegistryServiceServicer_to_server(
                RegistryServicer(self.registry), server
            )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            [*_OWN_SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        server.add_generic_rpc_handlers((self.proxy,))
        self.port = server.add_insecure_port(f"{config.host}:{config.port}")
        await server.start()
        self.server = server
        for name in ["", *_OWN_SERVICES]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        if config.metrics_port is not None and config.metrics_port >= 0:
            self.metrics_port = serve_metrics(config.metrics_port, config.host)
        await self.jobs.start()
        self._tasks.append(asyncio.create_task(self._housekeeping()))
        log.info(
            "gateway serving",
            extra={
                "port": self.port,
                "metrics_port": self.metrics_port,
                "registry": config.registry,
            },
        )
        return self.port

    def _is_known(self, method: str) -> bool:
        return method in _OWN_METHODS or self.proxy.shape(method) is not None

    async def _housekeeping(self) -> None:
        while True:
            instances = self.registry.instances()
            healthy = sum(1 for i in instances if i.healthy)
            REGISTERED_INSTANCES.labels("true").set(healthy)
            REGISTERED_INSTANCES.labels("false").set(len(instances) - healthy)
            if isinstance(self.registry, RegistryStore):
                await asyncio.to_thread(self.registry.purge, older_than_seconds=3600.0)
            await self.proxy.prune()
            await asyncio.sleep(5.0)

    async def stop(self, grace: float | None = None) -> None:
        """Drain: report NOT_SERVING, refuse new calls, let in-flight ones finish, stop jobs."""
        grace = self.config.drain_seconds if grace is None else grace
        await self.health.enter_graceful_shutdown()
        for task in self._tasks:
            task.cancel()
        if self.server is not None:
            await self.server.stop(grace)
        await self.jobs.stop()
        await self.proxy.close()
        self.registry.close()
        for store in (self.assets, self.jobs.store, self.producer.cases):
            store.close()
        log.info("gateway stopped")


async def serve(config: GatewayConfig) -> None:
    """Run a gateway until SIGTERM/SIGINT, then drain."""
    gateway = Gateway(config)
    await gateway.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("draining")
    await gateway.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gateway", description="ViPro gateway")
    parser.add_argument("--config", type=Path, help="YAML configuration file")
    parser.add_argument("--port", type=int, help="override the gRPC port")
    parser.add_argument("--metrics-port", type=int, help="override the metrics port")
    parser.add_argument("--log-level", default=os.environ.get("VIPRO_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logs.configure("gateway", args.log_level)
    config = GatewayConfig.load(args.config)
    if args.port is not None:
        config.port = args.port
    if args.metrics_port is not None:
        config.metrics_port = args.metrics_port
    asyncio.run(serve(config))
