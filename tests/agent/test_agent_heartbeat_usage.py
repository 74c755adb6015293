"""The heartbeat fields usage metering reads: the host's vCPU count, and the EKS cluster name
from ``RTGUARD_EKS_CLUSTER_NAME``."""

from __future__ import annotations

import os

import pytest

from rtguard.agent.app import ENV_EKS_CLUSTER, AgentConfig, AgentState, heartbeat_payload, step_host


def test_heartbeat_carries_host_vcpus_and_eks_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    state = AgentState(config=AgentConfig(server="http://127.0.0.1:9", token="t", instance_id="i-0abc"))
    step_host(state)
    monkeypatch.delenv(ENV_EKS_CLUSTER, raising=False)
    beat = heartbeat_payload(state)
    assert beat["host_vcpus"] == os.cpu_count() and isinstance(beat["host_vcpus"], int)
    assert beat["host_vcpus"] >= 1
    assert beat["eks_cluster_name"] == "" and beat["instance_id"] == "i-0abc"
    # no sensor yet: the ring diagnostics are there, at zero
    assert (beat["ring_retried"], beat["ring_wakeups"], beat["coalesced"]) == (0, 0, 0)
    monkeypatch.setenv(ENV_EKS_CLUSTER, "prod-eks")
    assert heartbeat_payload(state)["eks_cluster_name"] == "prod-eks"
