"""Finding types and detections: the catalogue of GuardDuty runtime finding types and the
``Detection`` a rule or detector returns.

A ``Detection`` says "this event matches finding type T with this context"; turning it into a
GuardDuty-shaped finding document, aggregating and storing it is ``rtguard.findings``' job.
Pure data, stdlib only; must not do I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from rtguard.model.events import Event

HIGH: Final = 8.0
MEDIUM: Final = 5.0
LOW: Final = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingType:
    """One GuardDuty runtime finding type with its default severity and MITRE mapping."""

    name: str
    severity: float
    tactic: str
    technique: str
    title: str
    scope: str = "both"


def _t(name: str, sev: float, tactic: str, technique: str, title: str, scope: str = "both") -> FindingType:
    return FindingType(name=name, severity=sev, tactic=tactic, technique=technique, title=title, scope=scope)


# Titles follow GuardDuty's style: "<What happened> in <resource>." The resource phrase is added
# by the finding builder ("... in ECS cluster c/task t" or "... in EC2 instance i-...").
FINDING_TYPES: Final[tuple[FindingType, ...]] = (
    _t(
        "CryptoCurrency:Runtime/BitcoinTool.B",
        HIGH,
        "Impact",
        "T1496",
        "A process is connecting to a crypto-currency related IP address",
    ),
    _t(
        "Backdoor:Runtime/C&CActivity.B",
        HIGH,
        "CommandAndControl",
        "T1071",
        "A process is connecting to a command and control server IP address",
    ),
    _t(
        "UnauthorizedAccess:Runtime/TorRelay",
        HIGH,
        "CommandAndControl",
        "T1090.003",
        "A process is acting as a Tor relay",
    ),
    _t(
        "UnauthorizedAccess:Runtime/TorClient",
        HIGH,
        "CommandAndControl",
        "T1090.003",
        "A process is connecting to a Tor Guard or Authority node",
    ),
    _t(
        "Trojan:Runtime/BlackholeTraffic",
        MEDIUM,
        "CommandAndControl",
        "T1071",
        "A process is connecting to a black hole IP address",
    ),
    _t(
        "Trojan:Runtime/DropPoint",
        MEDIUM,
        "Exfiltration",
        "T1041",
        "A process is connecting to a drop point IP address",
    ),
    _t(
        "CryptoCurrency:Runtime/BitcoinTool.B!DNS",
        HIGH,
        "Impact",
        "T1496",
        "A process is querying a domain name associated with crypto-currency activity",
    ),
    _t(
        "Backdoor:Runtime/C&CActivity.B!DNS",
        HIGH,
        "CommandAndControl",
        "T1071.004",
        "A process is querying a domain name associated with a command and control server",
    ),
    _t(
        "Trojan:Runtime/BlackholeTraffic!DNS",
        MEDIUM,
        "CommandAndControl",
        "T1071.004",
        "A process is querying a domain name that is redirected to a black hole IP address",
    ),
    _t(
        "Trojan:Runtime/DropPoint!DNS",
        MEDIUM,
        "Exfiltration",
        "T1041",
        "A process is querying a domain name associated with a drop point",
    ),
    _t(
        "Trojan:Runtime/DGADomainRequest.C!DNS",
        HIGH,
        "CommandAndControl",
        "T1568.002",
        "A process is querying algorithmically generated domains",
    ),
    _t(
        "Trojan:Runtime/DriveBySourceTraffic!DNS",
        HIGH,
        "InitialAccess",
        "T1189",
        "A process is querying a domain name of a drive-by download source",
    ),
    _t(
        "Trojan:Runtime/PhishingDomainRequest!DNS",
        HIGH,
        "InitialAccess",
        "T1566",
        "A process is querying a domain name involved in phishing attacks",
    ),
    _t(
        "Impact:Runtime/AbusedDomainRequest.Reputation",
        MEDIUM,
        "Impact",
        "T1071.004",
        "A process is querying a low reputation domain name associated with abused domains",
    ),
    _t(
        "Impact:Runtime/BitcoinDomainRequest.Reputation",
        HIGH,
        "Impact",
        "T1496",
        "A process is querying a low reputation domain name associated with crypto-currency activity",
    ),
    _t(
        "Impact:Runtime/MaliciousDomainRequest.Reputation",
        HIGH,
        "Impact",
        "T1071.004",
        "A process is querying a low reputation domain name associated with known malicious domains",
    ),
    _t(
        "Impact:Runtime/SuspiciousDomainRequest.Reputation",
        LOW,
        "Impact",
        "T1071.004",
        "A process is querying a low reputation domain name that is suspicious",
    ),
    _t(
        "UnauthorizedAccess:Runtime/MetadataDNSRebind",
        HIGH,
        "CredentialAccess",
        "T1552.005",
        "A process is querying a domain that resolves to the instance metadata service",
    ),
    _t(
        "Execution:Runtime/NewBinaryExecuted",
        MEDIUM,
        "Execution",
        "T1204.003",
        "A newly created or recently modified binary file was executed",
        "container",
    ),
    _t(
        "Execution:Runtime/NewLibraryLoaded",
        MEDIUM,
        "DefenseEvasion",
        "T1574.006",
        "A newly created or recently modified library was loaded",
        "container",
    ),
    _t(
        "PrivilegeEscalation:Runtime/DockerSocketAccessed",
        MEDIUM,
        "PrivilegeEscalation",
        "T1611",
        "A process is communicating with the Docker daemon through its socket",
        "container",
    ),
    _t(
        "PrivilegeEscalation:Runtime/RuncContainerEscape",
        HIGH,
        "PrivilegeEscalation",
        "T1611",
        "A possible runc container escape was detected",
        "container",
    ),
    _t(
        "PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified",
        HIGH,
        "PrivilegeEscalation",
        "T1611",
        "Container escape via cgroups was detected",
        "container",
    ),
    _t(
        "DefenseEvasion:Runtime/ProcessInjection.Proc",
        HIGH,
        "DefenseEvasion",
        "T1055.009",
        "A process injection through the proc filesystem was detected",
    ),
    _t(
        "DefenseEvasion:Runtime/ProcessInjection.Ptrace",
        MEDIUM,
        "DefenseEvasion",
        "T1055.008",
        "A process injection through the ptrace system call was detected",
    ),
    _t(
        "DefenseEvasion:Runtime/ProcessInjection.VirtualMemoryWrite",
        HIGH,
        "DefenseEvasion",
        "T1055",
        "A process injection through a direct write to virtual memory was detected",
    ),
    _t(
        "Execution:Runtime/ReverseShell",
        HIGH,
        "Execution",
        "T1059.004",
        "A process is acting as a reverse shell",
    ),
    _t(
        "DefenseEvasion:Runtime/FilelessExecution",
        MEDIUM,
        "DefenseEvasion",
        "T1620",
        "A process is executing code from memory",
    ),
    _t(
        "Impact:Runtime/CryptoMinerExecuted",
        HIGH,
        "Impact",
        "T1496",
        "A process is running a crypto-currency mining binary",
    ),
    _t(
        "PrivilegeEscalation:Runtime/ContainerMountsHostDirectory",
        MEDIUM,
        "PrivilegeEscalation",
        "T1611",
        "A container mounted a host directory",
        "container",
    ),
    _t(
        "PrivilegeEscalation:Runtime/UserfaultfdUsage",
        MEDIUM,
        "PrivilegeEscalation",
        "T1068",
        "A process used the userfaultfd system call",
    ),
    _t("Execution:Runtime/SuspiciousTool", HIGH, "Execution", "T1059", "A suspicious tool was executed"),
    _t(
        "Execution:Runtime/SuspiciousCommand",
        MEDIUM,
        "Execution",
        "T1059",
        "A suspicious command was executed",
    ),
    _t(
        "DefenseEvasion:Runtime/SuspiciousCommand",
        MEDIUM,
        "DefenseEvasion",
        "T1562",
        "A suspicious command that impairs defenses was executed",
    ),
    _t(
        "DefenseEvasion:Runtime/PtraceAntiDebugging",
        LOW,
        "DefenseEvasion",
        "T1622",
        "A process used an anti-debugging technique",
    ),
    _t(
        "Execution:Runtime/MaliciousFileExecuted",
        HIGH,
        "Execution",
        "T1204",
        "A known malicious executable file was executed",
    ),
    _t(
        "Execution:Runtime/SuspiciousShellCreated",
        LOW,
        "Execution",
        "T1059",
        "A network service started an interactive shell",
    ),
    _t(
        "PrivilegeEscalation:Runtime/ElevationToRoot",
        MEDIUM,
        "PrivilegeEscalation",
        "T1548.001",
        "A process elevated its privileges to root",
    ),
    _t(
        "Discovery:Runtime/SuspiciousCommand",
        LOW,
        "Discovery",
        "T1082",
        "A suspicious discovery command was executed",
    ),
    _t(
        "Persistence:Runtime/SuspiciousCommand",
        MEDIUM,
        "Persistence",
        "T1053.003",
        "A suspicious persistence command was executed",
    ),
    _t(
        "PrivilegeEscalation:Runtime/SuspiciousCommand",
        MEDIUM,
        "PrivilegeEscalation",
        "T1548",
        "A suspicious privilege escalation command was executed",
    ),
    _t(
        "DefenseEvasion:Runtime/KernelModuleLoaded",
        HIGH,
        "DefenseEvasion",
        "T1547.006",
        "A kernel module was loaded",
        "instance",
    ),
    _t(
        "Persistence:Runtime/SensitiveFileModified",
        MEDIUM,
        "Persistence",
        "T1098",
        "A security-sensitive file was modified",
    ),
    _t(
        "PrivilegeEscalation:Runtime/SensitiveFileModified",
        MEDIUM,
        "PrivilegeEscalation",
        "T1548",
        "A security-sensitive file was modified",
    ),
    _t(
        "DefenseEvasion:Runtime/SensitiveFileModified",
        MEDIUM,
        "DefenseEvasion",
        "T1070",
        "A security-sensitive file was modified",
    ),
)

FINDING_TYPES_BY_NAME: Final[dict[str, FindingType]] = {t.name: t for t in FINDING_TYPES}

# Only these ``service.runtimeDetails.context`` keys exist in GuardDuty's RuntimeContext shape.
RUNTIME_CONTEXT_KEYS: Final = frozenset(
    {
        "modifyingProcess", "modifiedAt", "scriptPath", "libraryPath", "ldPreloadValue",
        "socketPath", "runcBinaryPath", "releaseAgentPath", "mountSource", "mountTarget",
        "fileSystemType", "flags", "moduleName", "moduleFilePath", "moduleSha256",
        "shellHistoryFilePath", "targetProcess", "addressFamily", "ianaProtocolNumber",
        "memoryRegions", "toolName", "toolCategory", "serviceName", "commandLineExample",
        "threatFilePath", "fileOperation", "filePath", "relatedFilePaths",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ThreatIntelDetail:
    """One ``service.evidence.threatIntelligenceDetails`` entry: the list and the threat names."""

    threat_list_name: str
    threat_names: tuple[str, ...] = ()
    threat_file_sha256: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Detection:
    """What a rule or detector returns for an event that matches a finding type.

    ``context`` holds only ``RuntimeContext`` keys that belong to the type (string values, or
    lists of strings). ``artifact`` is the key artefact of the aggregation key (an executable
    hash or path, a domain, a remote IP, a file path). ``severity`` overrides the type's
    default when not ``None``. ``rule_id`` names the rule or detector that fired. ``evidence``
    names the threat lists that matched (threat-intel detections only).
    """

    finding_type: str
    event: Event
    rule_id: str
    artifact: str
    severity: float | None = None
    context: dict[str, str | list[str]] = field(default_factory=dict)
    description: str = ""
    evidence: tuple[ThreatIntelDetail, ...] = ()
