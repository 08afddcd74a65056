"""``policybot index build``: embed what is missing and save the search index, with a progress bar."""

from __future__ import annotations

from adapters.cli import open_from_args


def cmd_index_build(args) -> int:
    from rich.progress import Progress

    pb = open_from_args(args)
    with Progress(transient=True) as progress:
        task = progress.add_task("Embedding clauses", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        stats = pb.index.refresh(progress=tick)
        progress.update(task, description="Exporting the question encoder", total=None)
        onnx = pb.prepare_query_encoder()
    docs = pb.store.documents()
    print(
        f"index ready: {stats['total']} clauses from {len(docs)} documents "
        f"({stats['added']} added, {stats['removed']} removed, {stats['embedded']} embedded)"
        + ("; questions are encoded with ONNX Runtime" if onnx else "")
    )
    return 0


def register(sub) -> None:
    """Add ``index`` to the ``policybot`` parser's sub-commands ``sub``."""
    p = sub.add_parser("index", help="manage the search index")
    isub = p.add_subparsers(dest="index_command", required=True)
    b = isub.add_parser("build", help="build or update the index now (with a progress bar)")
    b.set_defaults(func=cmd_index_build)
