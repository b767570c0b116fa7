"""Scheduler plugins added once per scheduler: the first one stays, with its state; later runs reuse it.

The rate gate and the dashboard board keep state on the scheduler (a gate's window, the runs' progress) that a
second run must not reset, and a run cannot know whether an earlier one (or a ``--preload``) added them. Both
declare distributed's own ``idempotent`` flag (``OncePerScheduler``), so the scheduler skips a plugin whose name
it already has, from a client (``register_once``) and from a preload's ``dask_setup`` (``add_once``) alike.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin


class OncePerScheduler(SchedulerPlugin):
    """A scheduler plugin of which one per scheduler is kept: the first added, with its state."""

    name: str
    idempotent = True  # distributed's flag: an existing plugin of this name stays, the new one is dropped


def register_once(client: Any, plugin: OncePerScheduler) -> None:
    """From a client: add ``plugin`` to the client's scheduler, unless one of its name is there already."""
    _check(plugin)
    client.register_plugin(plugin, name=plugin.name)  # register_plugin reads ``plugin.idempotent``


def add_once(scheduler: Any, plugin: OncePerScheduler) -> None:
    """On the scheduler (a preload's ``dask_setup``): the same, before the scheduler starts it."""
    _check(plugin)
    scheduler.add_plugin(plugin, name=plugin.name, idempotent=True)


def _check(plugin: OncePerScheduler) -> None:
    # a plugin without the flag would replace the running one, and its state with it
    if not getattr(plugin, "idempotent", False) or not getattr(plugin, "name", ""):
        raise TypeError(f"{type(plugin).__name__} is not a OncePerScheduler plugin (a name, idempotent = True)")


__all__ = ["OncePerScheduler", "register_once", "add_once"]
