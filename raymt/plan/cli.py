"""``raymt plan``: the memory and storage plan of a search space, before any Ray work."""

from __future__ import annotations


def _cmd_plan(args) -> int:
    from raymt.api import plan
    from raymt.plan.build import format_plan

    result = plan(args.space, gpu_memory=args.gpu_memory, gpus_per_node=args.gpus_per_node)
    print(format_plan(result))
    if any(b.fits is False for b in result.branches):
        return 1  # printed, not raised: the plan is what the user asked for; exit 1 lets scripts gate on it
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("plan", help="memory per worker, checkpoint size and storage of a search, before launch")
    p.add_argument("space", nargs="?", default=None, help="a search_spaces/*.yaml file or a trial config (default: the offline default)")
    p.add_argument("--gpu-memory", default=None, metavar="SIZE", help="memory of one GPU, e.g. 80GB (GB = GiB); checks the fit")
    p.add_argument("--gpus-per-node", type=int, default=None, metavar="N", help="GPUs per node: how many trials a node holds")
    p.set_defaults(func=_cmd_plan)
