"""Kafka ACLs per service principal, generated from the topic catalog.

Each service runs under its own Kafka principal (``User:claimflow-<service>``) and gets
exactly what its code needs, derived from the ``writers``/``readers`` of every topic in
``claimflow/topics.py`` and the tables of ``ALL_TABLES``:

- topics it reads: READ (which implies DESCRIBE); topics it writes: WRITE;
- its own Faust internals (table changelogs, the ``<app id>-__assignor-__leader`` topic):
  READ, WRITE and CREATE, since Faust declares them at start-up;
- its consumer group (the Faust app id ``<prefix>-<service>``): READ;
- transactional ids: none (the services run at-least-once with an idempotent producer,
  which since Kafka 3.0 needs only WRITE on a topic, not IDEMPOTENT_WRITE on the cluster).

No principal gets ALL, a wildcard or a prefixed pattern. ``operator`` is the principal of
the command-line tools people run (publish, claims show/correct, dlq). Anything else
(topic creation, ACL changes) needs a super user of the cluster.

``plan()`` is pure (no Kafka import); ``apply()`` and ``applied()`` talk to a real cluster
with kafka-python's admin client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from claimflow.topics import ALL_TABLES, ALL_TOPICS, CLI, TopicSpec

FAUST_SERVICES = ("coder", "scrubber", "adjudicator", "payer-sim", "payer-gateway", "workbench")  # workbench: its projector (the web app shares the principal)
PRODUCER_SERVICES = ("fhir-gateway",)  # a plain Kafka producer, no consumer group
OPERATOR = "operator"  # the principal of the catalog's ``cli`` client (the command line people run)
CATALOG_CLIENT = {OPERATOR: CLI}
PRINCIPALS = (*FAUST_SERVICES, *PRODUCER_SERVICES, OPERATOR)


def principal_name(service: str) -> str:
    """The Kafka user name (SCRAM user, or certificate CN) of a service."""
    return f"claimflow-{service}"


@dataclass(frozen=True)
class ServiceAccess:
    """What one principal may do: topic names it reads/writes/creates, group ids."""

    service: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    creates: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    transactional_ids: tuple[str, ...] = ()

    @property
    def principal(self) -> str:
        return f"User:{principal_name(self.service)}"


@dataclass(frozen=True, order=True)
class AclRule:
    """One ALLOW rule on a LITERAL resource (kafka-acls vocabulary)."""

    principal: str
    resource_type: str  # TOPIC | GROUP | TRANSACTIONAL_ID
    resource_name: str
    operation: str      # READ | WRITE | CREATE

    def __str__(self) -> str:
        return f"{self.principal:32s} {self.operation:6s} {self.resource_type:16s} {self.resource_name}"


def faust_internal_topics(service: str, app_id_prefix: str) -> tuple[str, ...]:
    """Topics a Faust service declares itself: its table changelogs and leader topic."""
    changelogs = tuple(t.changelog(app_id_prefix) for t in ALL_TABLES if t.service == service)
    return (*changelogs, f"{app_id_prefix}-{service}-__assignor-__leader")


def service_access(app_id_prefix: str = "claimflow", catalog: Iterable[TopicSpec] = ALL_TOPICS) -> dict[str, ServiceAccess]:
    """Per principal: the topics it reads and writes, its groups and transactional ids."""
    catalog = tuple(catalog)
    out: dict[str, ServiceAccess] = {}
    for service in PRINCIPALS:
        client = CATALOG_CLIENT.get(service, service)
        reads = [t.name for t in catalog if client in t.readers]
        writes = [t.name for t in catalog if client in t.writers]
        creates: tuple[str, ...] = ()
        groups: tuple[str, ...] = ()
        if service in FAUST_SERVICES:
            internal = faust_internal_topics(service, app_id_prefix)
            reads += internal
            writes += internal
            creates = internal
            groups = (f"{app_id_prefix}-{service}",)
        out[service] = ServiceAccess(service, tuple(reads), tuple(writes), creates, groups)
    return out


def rules_for(access: ServiceAccess) -> list[AclRule]:
    p = access.principal
    rules = [AclRule(p, "TOPIC", t, "READ") for t in access.reads]
    rules += [AclRule(p, "TOPIC", t, "WRITE") for t in access.writes]
    rules += [AclRule(p, "TOPIC", t, "CREATE") for t in access.creates]
    rules += [AclRule(p, "GROUP", g, "READ") for g in access.groups]
    rules += [AclRule(p, "TRANSACTIONAL_ID", x, "WRITE") for x in access.transactional_ids]
    return sorted(set(rules))


def plan(app_id_prefix: str = "claimflow") -> list[AclRule]:
    """Every ALLOW rule of every claimflow principal, sorted."""
    return sorted(r for a in service_access(app_id_prefix).values() for r in rules_for(a))


@dataclass
class ApplyReport:
    created: list[AclRule] = field(default_factory=list)
    deleted: list[AclRule] = field(default_factory=list)
    kept: list[AclRule] = field(default_factory=list)


# --- shell: a real cluster -------------------------------------------------------------


def _to_kafka(rule: AclRule):
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType

    return ACL(principal=rule.principal, host="*", operation=ACLOperation[rule.operation],
               permission_type=ACLPermissionType.ALLOW,
               resource_pattern=ResourcePattern(ResourceType[rule.resource_type], rule.resource_name,
                                                ACLResourcePatternType.LITERAL))


def _from_kafka(acl) -> AclRule | None:
    from kafka.admin import ACLPermissionType, ACLResourcePatternType

    if acl.permission_type != ACLPermissionType.ALLOW or acl.resource_pattern.pattern_type != ACLResourcePatternType.LITERAL:
        return AclRule(acl.principal, f"{acl.resource_pattern.resource_type.name}({acl.resource_pattern.pattern_type.name})",
                       acl.resource_pattern.resource_name, f"{acl.permission_type.name}:{acl.operation.name}")
    return AclRule(acl.principal, acl.resource_pattern.resource_type.name, acl.resource_pattern.resource_name, acl.operation.name)


def applied(admin, principals: Iterable[str] | None = None) -> list[AclRule]:
    """The ACLs the cluster holds for claimflow's principals (or all of them)."""
    from kafka.admin import ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePatternFilter, ResourceType

    wanted = set(principals) if principals is not None else {f"User:{principal_name(s)}" for s in PRINCIPALS}
    flt = ACLFilter(principal=None, host=None, operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
                    resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
    acls, _ = admin.describe_acls(flt)
    return sorted(r for r in (_from_kafka(a) for a in acls) if r is not None and r.principal in wanted)


def apply(admin, app_id_prefix: str = "claimflow", prune: bool = True, wait_seconds: float = 60.0) -> ApplyReport:
    """Make the cluster's ACLs of claimflow's principals equal the plan: create what is
    missing and (``prune``) delete what the plan does not grant. Returns once the brokers
    report the result (KRaft propagates ACL changes through the metadata log, so a
    describe right after a create can still show the old state)."""
    import time

    from kafka.admin import ACLFilter

    want = set(plan(app_id_prefix))
    have = set(applied(admin))
    report = ApplyReport(created=sorted(want - have), kept=sorted(want & have))
    if report.created:
        result = admin.create_acls([_to_kafka(r) for r in report.created])
        if result["failed"]:
            raise RuntimeError(f"{len(result['failed'])} ACLs not created: {result['failed'][:3]}")
    if prune:
        # only LITERAL ALLOW rules are ours to remove; DENY or prefixed rules someone added
        # on purpose are left alone (and shown by `claimflow kafka acls show`)
        stale = sorted(r for r in have - want if "(" not in r.resource_type)
        if stale:
            filters = []
            for r in stale:
                acl = _to_kafka(r)
                filters.append(ACLFilter(principal=acl.principal, host=acl.host, operation=acl.operation,
                                         permission_type=acl.permission_type, resource_pattern=acl.resource_pattern))
            admin.delete_acls(filters)
            report.deleted = stale
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        now = set(applied(admin))
        if want <= now and not (set(report.deleted) & now):
            return report
        time.sleep(0.5)
    raise RuntimeError(f"the cluster did not show the applied ACLs within {wait_seconds:.0f}s")
