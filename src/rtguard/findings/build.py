"""Build a GuardDuty-shaped finding document (wire names, camelCase) from a ``Detection``.

The aggregation key is documented (GuardDuty's is not): detector, finding type, resource
(the ECS task ARN, else the container id, else the instance id or host name) and the key
artefact the rule names (an executable hash or path, a domain, a remote IP, a file path).
The same key always gives the same 32-hex finding id, so a repeat increments ``count``.
Pure: no I/O, no clock (the caller passes times); strings from the workload are copied as
data, never interpreted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from rtguard.model.codec import JsonDict, JsonValue
from rtguard.model.events import (
    Container,
    DnsPayload,
    Event,
    EventKind,
    LineageEntry,
    NetPayload,
    Process,
    TargetPayload,
)
from rtguard.model.findings import FINDING_TYPES_BY_NAME, RUNTIME_CONTEXT_KEYS, Detection, ThreatIntelDetail

SCHEMA_VERSION: Final = "2.0"
PARTITION: Final = "aws"


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingContext:
    """Where findings are created: account, region and detector."""

    account_id: str
    region: str
    detector_id: str
    agent_version: str = ""


def iso_time(ns: int) -> str:
    """Return GuardDuty's timestamp text (``2023-03-22T19:37:20.168Z``) for epoch nanoseconds."""
    dt = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _epoch_seconds(ns: int) -> float:
    return round(ns / 1e9, 3)


def resource_key(event: Event) -> str:
    """The resource part of the aggregation key."""
    container = event.container
    if container is not None and container.ecs is not None:
        return f"ecs-task:{container.ecs.task_arn}"
    if container is not None:
        return f"container:{container.id}"
    return f"instance:{event.host.instance_id or event.host.hostname}"


def aggregation_key(detector_id: str, detection: Detection) -> str:
    """The documented aggregation key: detector, type, resource, key artefact."""
    return "|".join((detector_id, detection.finding_type, resource_key(detection.event), detection.artifact))


def finding_id(detector_id: str, detection: Detection) -> str:
    """A stable 32-hex finding id derived from the aggregation key."""
    digest = hashlib.sha256(aggregation_key(detector_id, detection).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def _lineage_object(entry: LineageEntry) -> JsonDict:
    return {
        "startTime": _epoch_seconds(entry.start_time),
        "namespacePid": entry.ns_pid,
        "userId": entry.uid,
        "name": entry.name,
        "pid": entry.pid,
        "uuid": entry.exec_id,
        "executablePath": entry.exe_path,
        "euid": entry.euid,
        "parentUuid": entry.parent_exec_id,
    }


def process_details(process: Process, lineage: tuple[LineageEntry, ...]) -> JsonDict:
    """GuardDuty ``ProcessDetails`` for a process and its lineage (nearest parent first)."""
    doc: JsonDict = {
        "name": process.name,
        "executablePath": process.exe_path,
        "namespacePid": process.ns_pid,
        "pwd": process.cwd,
        "pid": process.pid,
        "startTime": _epoch_seconds(process.start_time),
        "uuid": process.exec_id,
        "parentUuid": process.parent_exec_id,
        "user": process.user_name,
        "userId": process.uid,
        "euid": process.euid,
        "lineage": [_lineage_object(e) for e in lineage],
    }
    if process.exe_sha256:
        doc["executableSha256"] = process.exe_sha256
    return doc


def _image_prefix(image: str) -> str:
    first = image.split("/", 1)[0]
    return first if "/" in image and ("." in first or ":" in first) else ""


def _container_doc(container: Container) -> JsonDict:
    return {
        "containerRuntime": container.runtime or "runc",
        "id": container.id,
        "name": container.name,
        "image": container.image,
        "imagePrefix": _image_prefix(container.image),
    }


def _cluster_name(cluster_arn: str) -> str:
    return cluster_arn.rsplit("/", 1)[-1] if "/" in cluster_arn else cluster_arn


def resource_doc(event: Event, account_id: str, region: str) -> tuple[JsonDict, str]:
    """The ``resource`` part of a finding and the phrase naming it in titles."""
    container = event.container
    if container is not None and container.ecs is not None:
        ecs = container.ecs
        cluster = _cluster_name(ecs.cluster_arn)
        task_id = ecs.task_arn.rsplit("/", 1)[-1]
        definition = (
            f"arn:aws:ecs:{region}:{account_id}:task-definition/{ecs.family}:{ecs.revision}"
            if ecs.family
            else ""
        )
        task: JsonDict = {
            "arn": ecs.task_arn,
            "definitionArn": definition,
            "version": ecs.revision,
            "containers": [_container_doc(container)],
        }
        if ecs.launch_type:
            task["launchType"] = ecs.launch_type
        if ecs.started_by:
            task["startedBy"] = ecs.started_by
        if ecs.group:
            task["group"] = ecs.group
        doc: JsonDict = {
            "resourceType": "ECSCluster",
            "ecsClusterDetails": {"name": cluster, "arn": ecs.cluster_arn, "taskDetails": task},
        }
        return doc, f"ECS cluster {cluster} (task {task_id})"
    if container is not None:
        return {
            "resourceType": "Container",
            "containerDetails": _container_doc(container),
            "instanceDetails": {"instanceId": event.host.instance_id or event.host.hostname},
        }, f"container {container.id[:12]}"
    instance = event.host.instance_id or event.host.hostname
    return {
        "resourceType": "Instance",
        "instanceDetails": {"instanceId": instance},
    }, f"EC2 instance {instance}"


# RuntimeContext keys whose API shape is a list of strings, or a ProcessDetails structure.
_LIST_CONTEXT_KEYS: Final = frozenset({"flags", "memoryRegions", "relatedFilePaths"})
_PROCESS_CONTEXT_KEYS: Final = frozenset({"targetProcess", "modifyingProcess"})


def _context(detection: Detection) -> JsonDict:
    out: JsonDict = {}
    payload = detection.event.payload
    for key, value in detection.context.items():
        if key not in RUNTIME_CONTEXT_KEYS:
            continue
        if key in _PROCESS_CONTEXT_KEYS:
            # the full target when the event carries it, else what the detection named
            if key == "targetProcess" and isinstance(payload, TargetPayload) and payload.target is not None:
                out[key] = process_details(payload.target, ())
            else:
                path = value if isinstance(value, str) else " ".join(value)
                out[key] = {"executablePath": path, "name": path.rsplit("/", 1)[-1]}
        elif key in _LIST_CONTEXT_KEYS:
            out[key] = list(value) if isinstance(value, list) else [value]
        else:
            out[key] = list(value) if isinstance(value, list) else value
    return out


# The threat-intel and network types (reference §1a) carry ``service.action``; any detection
# with threat-list evidence does too.
_ACTION_TYPES: Final = frozenset(
    {
        "CryptoCurrency:Runtime/BitcoinTool.B", "Backdoor:Runtime/C&CActivity.B",
        "UnauthorizedAccess:Runtime/TorRelay", "UnauthorizedAccess:Runtime/TorClient",
        "Trojan:Runtime/BlackholeTraffic", "Trojan:Runtime/DropPoint",
        "CryptoCurrency:Runtime/BitcoinTool.B!DNS", "Backdoor:Runtime/C&CActivity.B!DNS",
        "Trojan:Runtime/BlackholeTraffic!DNS", "Trojan:Runtime/DropPoint!DNS",
        "Trojan:Runtime/DGADomainRequest.C!DNS", "Trojan:Runtime/DriveBySourceTraffic!DNS",
        "Trojan:Runtime/PhishingDomainRequest!DNS", "Impact:Runtime/AbusedDomainRequest.Reputation",
        "Impact:Runtime/BitcoinDomainRequest.Reputation", "Impact:Runtime/MaliciousDomainRequest.Reputation",
        "Impact:Runtime/SuspiciousDomainRequest.Reputation", "UnauthorizedAccess:Runtime/MetadataDNSRebind",
    }
)  # fmt: skip
_PROTOCOLS: Final = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6", 132: "SCTP"}
_DIRECTIONS: Final = {"outbound": "OUTBOUND", "inbound": "INBOUND", "out": "OUTBOUND", "in": "INBOUND"}


def _ip_details(ip: str) -> JsonDict:
    return {"ipAddressV6": ip} if ":" in ip else {"ipAddressV4": ip}


def service_action(detection: Detection) -> JsonDict | None:
    """GuardDuty ``service.action`` from the event payload: ``DNS_REQUEST`` for a DNS query,
    ``NETWORK_CONNECTION`` for a connect or accept; None for other kinds or types.

    ``domainWithSuffix`` is the last two labels (no public-suffix list: ``a.b.co.uk`` gives
    ``co.uk``); geolocation and organisation of ``remoteIpDetails`` are not known offline."""
    if detection.finding_type not in _ACTION_TYPES and not detection.evidence:
        return None
    event = detection.event
    payload = event.payload
    if event.kind is EventKind.DNS_QUERY and isinstance(payload, DnsPayload):
        domain = payload.name.strip().rstrip(".")
        labels = domain.lower().split(".")
        return {
            "actionType": "DNS_REQUEST",
            "dnsRequestAction": {
                "domain": domain,
                "protocol": payload.protocol or "UDP",
                "blocked": False,
                "domainWithSuffix": ".".join(labels[-2:]),
            },
        }
    if event.kind in (EventKind.NET_CONNECT, EventKind.NET_ACCEPT) and isinstance(payload, NetPayload):
        default = "INBOUND" if event.kind is EventKind.NET_ACCEPT else "OUTBOUND"
        return {
            "actionType": "NETWORK_CONNECTION",
            "networkConnectionAction": {
                "connectionDirection": _DIRECTIONS.get(payload.direction.lower(), default),
                "protocol": _PROTOCOLS.get(payload.protocol, "Unknown"),
                "blocked": False,
                "localIpDetails": _ip_details(payload.local_ip),
                "localPortDetails": {"port": payload.local_port, "portName": "Unknown"},
                "remoteIpDetails": _ip_details(payload.remote_ip),
                "remotePortDetails": {"port": payload.remote_port, "portName": "Unknown"},
            },
        }
    return None


def _threat_detail(detail: ThreatIntelDetail) -> JsonValue:
    doc: JsonDict = {"threatListName": detail.threat_list_name, "threatNames": list(detail.threat_names)}
    if detail.threat_file_sha256:
        doc["threatFileSha256"] = detail.threat_file_sha256
    return doc


def build_finding(ctx: FindingContext, detection: Detection, *, now_ns: int) -> JsonDict:
    """Return the full GuardDuty finding document for a first occurrence of ``detection``."""
    ftype = FINDING_TYPES_BY_NAME.get(detection.finding_type)
    severity = detection.severity if detection.severity is not None else (ftype.severity if ftype else 5.0)
    title_base = ftype.title if ftype else detection.finding_type
    event = detection.event
    resource, phrase = resource_doc(event, ctx.account_id, ctx.region)
    fid = finding_id(ctx.detector_id, detection)
    seen = iso_time(event.time)
    additional: dict[str, JsonValue] = {
        "agentDetails": {"agentVersion": ctx.agent_version, "agentId": event.agent_id},
        "ruleId": detection.rule_id,
        "aggregationKey": aggregation_key(ctx.detector_id, detection),
    }
    if ftype is not None:
        additional["mitre"] = {"tactic": ftype.tactic, "technique": ftype.technique}
    description = detection.description or (
        f"{title_base} ({event.process.exe_path or event.process.name}) in {phrase}."
    )
    service: JsonDict = {
        "serviceName": "guardduty",
        "detectorId": ctx.detector_id,
        "featureName": "RuntimeMonitoring",
        "archived": False,
        "count": 1,
        "eventFirstSeen": seen,
        "eventLastSeen": seen,
        "additionalInfo": {"type": "default", "value": json.dumps(additional, sort_keys=True)},
        "runtimeDetails": {
            "process": process_details(event.process, event.lineage),
            "context": _context(detection),
        },
    }
    action = service_action(detection)
    if action is not None:
        service["action"] = action
    if detection.evidence:
        service["evidence"] = {"threatIntelligenceDetails": [_threat_detail(d) for d in detection.evidence]}
    created = iso_time(now_ns)
    return {
        "accountId": ctx.account_id,
        "arn": f"arn:aws:guardduty:{ctx.region}:{ctx.account_id}:detector/{ctx.detector_id}/finding/{fid}",
        "id": fid,
        "type": detection.finding_type,
        "title": f"{title_base} in {phrase}.",
        "description": description,
        "severity": float(severity),
        "confidence": 0.0,
        "createdAt": created,
        "updatedAt": created,
        "region": ctx.region,
        "partition": PARTITION,
        "schemaVersion": SCHEMA_VERSION,
        "resource": resource,
        "service": service,
    }
