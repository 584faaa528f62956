"""Client of the embedded registry hosted by the gateway (vipro.v1.RegistryService)."""

from __future__ import annotations

import grpc

from common.errors import NotFound
from common.internal import INTERNAL_TOKEN_HEADER
from vipro.v1 import registry_pb2, registry_pb2_grpc


class EmbeddedRegistryClient:
    """`Registry` over gRPC to the gateway's RegistryService."""

    def __init__(self, address: str, internal_token: str = "", timeout: float = 5.0):
        self._channel = grpc.insecure_channel(address)
        self._stub = registry_pb2_grpc.RegistryServiceStub(self._channel)
        self._metadata = ((INTERNAL_TOKEN_HEADER, internal_token),) if internal_token else ()
        self._timeout = timeout

    def register(self, instance: registry_pb2.Instance, ttl_seconds: int = 10) -> int:
        reply = self._stub.Register(
            registry_pb2.RegisterRequest(instance=instance, ttl_seconds=ttl_seconds),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return reply.ttl_seconds

    def heartbeat(self, instance_id: str) -> None:
        try:
            self._stub.Heartbeat(
                registry_pb2.HeartbeatRequest(instance_id=instance_id),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound("instance", instance_id) from None
            raise

    def deregister(self, instance_id: str) -> bool:
        reply = self._stub.Deregister(
            registry_pb2.DeregisterRequest(instance_id=instance_id),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return reply.removed

    def instances(self, service: str = "") -> list[registry_pb2.Instance]:
        reply = self._stub.ListInstances(
            registry_pb2.ListInstancesRequest(service=service),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return list(reply.instances)

    def close(self) -> None:
        self._channel.close()
