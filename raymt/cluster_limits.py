"""What an autoscaling Ray cluster can grow to, read from the autoscaler's own cluster config.

Why this exists: a driver sees only the nodes the cluster has *now* (``ray.nodes()``). Ray
2.60's v1 autoscaler reads its node types from the cluster config file on the head and publishes
none of them to the GCS, so without that file raymt cannot tell a trial that will fit once nodes
are added from one that no node type can ever hold (which would wait forever), nor how many
trials the cluster can run at once when it is fully grown.

Where the config comes from, first match wins:

1. ``RAYMT_AUTOSCALER_CONFIG=PATH``: the file given to ``ray start --head --autoscaling-config``
   (or ``ray up``'s config). Explicit, so a missing or malformed file is an error.
2. ``~/ray_bootstrap_config.yaml`` when raymt attaches to a cluster (``RAY_ADDRESS`` set):
   ``ray up`` writes it on the head node, where ``ray job submit`` runs the driver. On a laptop
   raymt starts its own Ray, so a stray file there is ignored.

No file: :func:`find_cluster_limits` returns None and ``RAYMT_AUTOSCALING=1`` keeps meaning
"autoscaling, limits unknown". The path is an environment setting, not a search-space field: the
same search YAML runs on a laptop, a fixed cluster and an autoscaling one.

No Ray import here: the limits are plain arithmetic on a YAML file, tested without a cluster.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from raymt.errors import ConfigError

ENV_CONFIG = "RAYMT_AUTOSCALER_CONFIG"
BOOTSTRAP_CONFIG = "~/ray_bootstrap_config.yaml"
_EPS = 1e-9


@dataclass(frozen=True)
class NodeType:
    name: str
    cpu: float
    gpu: float
    max_workers: int  # how many worker nodes of this type the autoscaler may start

    def describe(self) -> str:
        gpu = f", {self.gpu:g} GPU" if self.gpu else ""
        return f"{self.name} ({self.cpu:g} CPU{gpu})"

    def slots(self, cpu: float, gpu: float) -> int:
        """How many workers asking for (cpu, gpu) fit on one node of this type at once."""
        n = math.inf
        if cpu > 0:
            n = min(n, math.floor(self.cpu / cpu + _EPS))
        if gpu > 0:
            n = min(n, math.floor(self.gpu / gpu + _EPS))
        return 0 if n == math.inf else int(n)


@dataclass(frozen=True)
class LargestCluster:
    """The cluster at its biggest for one worker shape: which nodes, and what they hold."""

    nodes: tuple[tuple[NodeType, int], ...]  # (type, count); the head first
    worker_slots: int  # workers of that shape that fit at once, node by node
    cpu: float
    gpu: float

    def describe(self) -> str:
        return " + ".join(f"{n} x {t.describe()}" for t, n in self.nodes if n)


@dataclass(frozen=True)
class ClusterLimits:
    source: str
    head: NodeType
    node_types: tuple[NodeType, ...]  # every type, the head's included
    max_workers: int  # global cap on worker nodes (the head not counted)

    def can_ever_run(self, node_type: NodeType) -> bool:
        """Ray's own rule (ResourceDemandScheduler.is_feasible): the head, or a type it may start."""
        return node_type is self.head or node_type.max_workers > 0

    def describe(self) -> str:
        workers = ", ".join(f"up to {t.max_workers} x {t.describe()}" for t in self.node_types if t.max_workers > 0)
        return (
            f"head {self.head.describe()}"
            + (f" + {workers}" if workers else "")
            + f", at most {self.max_workers} worker nodes in all ({self.source})"
        )

    def largest_cluster(self, cpu: float, gpu: float) -> LargestCluster:
        """The head plus the worker nodes that hold the most workers of this shape.

        Node types are taken greedily, most workers per node first (then most CPUs), each up to
        its own max_workers, until the global max_workers is reached. Every node's count of
        workers is independent of the others, so greedy is the maximum under one global cap."""
        ranked = sorted((t for t in self.node_types if t.max_workers > 0), key=lambda t: (t.slots(cpu, gpu), t.cpu, t.gpu), reverse=True)
        nodes, left = [(self.head, 1)], self.max_workers
        for t in ranked:
            n = min(t.max_workers, left)
            if n > 0:
                nodes.append((t, n))
                left -= n
        return LargestCluster(
            nodes=tuple(nodes),
            worker_slots=sum(t.slots(cpu, gpu) * n for t, n in nodes),
            cpu=sum(t.cpu * n for t, n in nodes),
            gpu=sum(t.gpu * n for t, n in nodes),
        )


def load_cluster_limits(path: str | Path, *, where: str | None = None) -> ClusterLimits:
    """Parse an autoscaler cluster config (YAML or the JSON that ``ray up`` writes).

    Per-type ``max_workers`` default as in Ray's ``prepare_config`` (which ``ray up`` applies):
    the global ``max_workers`` for worker types, 0 for the head type. A node type without
    ``resources`` is an error: AWS configs may leave them to ``ray up`` to detect, and without
    them no limit can be computed."""
    path = Path(path).expanduser()
    where = where or str(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"the autoscaler config {path} does not exist",
            where=where,
            fix=f"point {ENV_CONFIG} at the file given to `ray start --autoscaling-config` (or `ray up`), or unset it",
        ) from None
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read the autoscaler config {path}: {err}", where=where, fix="give a Ray cluster config (YAML)") from None
    types = raw.get("available_node_types") if isinstance(raw, dict) else None
    if not isinstance(types, dict) or not types:
        raise ConfigError(
            f"{path} has no available_node_types: not a Ray autoscaler cluster config",
            where=where,
            fix="give the cluster config of an autoscaling cluster (it lists available_node_types)",
        )
    head_name = raw.get("head_node_type")
    if head_name not in types:
        raise ConfigError(
            f"{path}: head_node_type {head_name!r} is not one of available_node_types {sorted(types)}",
            where=where,
            fix="name the head's node type in head_node_type",
        )
    type_maxes = [int(t.get("max_workers", 0)) for n, t in types.items() if isinstance(t, dict) and n != head_name]
    global_max = int(raw.get("max_workers", sum(type_maxes)))
    parsed = []
    for name, spec in types.items():
        resources = spec.get("resources") if isinstance(spec, dict) else None
        if not isinstance(resources, dict):
            raise ConfigError(
                f"{path}: node type {name!r} lists no resources, so what it holds is unknown",
                where=where,
                fix=f"add available_node_types.{name}.resources (e.g. {{CPU: 8, GPU: 1}}) to {path}, "
                f"or unset {ENV_CONFIG} and set RAYMT_AUTOSCALING=1 (autoscaling, limits unknown)",
            )
        default_max = 0 if name == head_name else global_max
        parsed.append(
            NodeType(
                name=name,
                cpu=float(resources.get("CPU", 0)),
                gpu=float(resources.get("GPU", 0)),
                max_workers=int(spec.get("max_workers", default_max)),
            )
        )
    head = next(t for t in parsed if t.name == head_name)
    return ClusterLimits(source=str(path), head=head, node_types=tuple(parsed), max_workers=global_max)


def find_cluster_limits(environ=None, *, log=None) -> ClusterLimits | None:
    """The limits of the cluster raymt is about to use, or None where no autoscaler config is known.

    An explicit ``RAYMT_AUTOSCALER_CONFIG`` that cannot be used raises (the user named it); a
    ``ray up`` bootstrap config that cannot be used is only logged and ignored, leaving raymt as
    it was without one."""
    environ = os.environ if environ is None else environ
    log = log or (lambda message: None)
    explicit = environ.get(ENV_CONFIG)
    if explicit:
        limits = load_cluster_limits(explicit, where=ENV_CONFIG)
    else:
        bootstrap = Path(BOOTSTRAP_CONFIG).expanduser()
        if not (environ.get("RAY_ADDRESS") and bootstrap.is_file()):
            return None
        try:
            limits = load_cluster_limits(bootstrap)
        except ConfigError as err:
            log(f"ignoring the cluster config {bootstrap}: {err}")
            return None
    log(f"autoscaler limits: {limits.describe()}")
    return limits
