"""The main guard: a script that starts worker processes as it loads would have each of them run its job again.

Dask starts the worker processes of a LocalCluster with multiprocessing's "spawn": every new process loads the
main script again (as ``__mp_main__``) before it becomes a worker. A script calling ``parse_images`` at module
level, without ``if __name__ == "__main__":``, so ran the whole job once more in each worker process, each of
them failing to start processes of its own (multiprocessing's tracebacks) and falling back to running in itself:
three runs, three Gemini bills (issue 15).

``check(starts_processes)`` stops that before anything runs, with one line showing the guard to add:

- in the script's process, before daskparse starts worker processes: the main script is still loading (its
  top-level code is on the stack) and the statement under way is not under the guard (read from its source);
- in a process being started, while it loads the script again (a backstop for what the source did not tell):
  any run at all.
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import sys
import tokenize
from types import FrameType, ModuleType

from daskparse.errors import MainGuardError

GUARD = 'if __name__ == "__main__":'
EXAMPLE = f"{GUARD} result = daskparse.parse_images(...)"


def check(starts_processes: bool) -> None:
    """Raise MainGuardError if this run would make a script run again in worker processes; see the module."""
    if loading_in_new_process():
        raise MainGuardError(f"daskparse: error: a worker process loading the main script again reached daskparse: "
                             f"the script has no main guard, so its work is not run here again. "
                             f"Put it under the guard: {EXAMPLE}")
    site = unguarded_call_site(sys._getframe(1)) if starts_processes else None
    if site is not None:
        path, line = site
        raise MainGuardError(f"daskparse: error: {path} starts daskparse's worker processes at line {line} while it "
                             f"is still loading, and each of them would load the script and run it again. "
                             f"Put the script's work under the main guard: {EXAMPLE}")


def loading_in_new_process() -> bool:
    """In a process that multiprocessing is starting, while it loads the parent's main module: the test
    multiprocessing itself makes before it refuses to start processes there (``spawn._check_not_importing_main``)."""
    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def unguarded_call_site(frame: FrameType | None) -> tuple[str, int] | None:
    """(path, line) of the main script's top-level statement under way at ``frame`` (or a caller of it), if that
    statement is one that processes started now would run again; None when they would not, or it cannot be told."""
    main = sys.modules.get("__main__")
    path = reloaded_path(main)
    if path is None:
        return None
    while frame is not None and not (frame.f_code.co_name == "<module>" and frame.f_globals is vars(main)):
        frame = frame.f_back
    if frame is None:  # the script has loaded (a function it called later, a thread): nothing runs twice
        return None
    try:
        with tokenize.open(path) as file:  # the script's own encoding
            tree = ast.parse(file.read(), path)
    except (OSError, SyntaxError, ValueError):  # no source to read: let it be rather than refuse a good script
        return None
    return None if guarded(tree, frame.f_lineno) else (path, frame.f_lineno)


def reloaded_path(main: ModuleType | None) -> str | None:
    """The file a spawned process loads again as its main module, as ``multiprocessing.spawn`` decides; None for
    none (an interactive session, ``python -c``, a notebook, ``python -m package``)."""
    if main is None:
        return None
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name is not None and (name == "__main__" or name.endswith(".__main__")):
        return None  # a package's __main__ is not run again (spawn._fixup_main_from_name)
    path = getattr(main, "__file__", None)
    if not path or os.path.splitext(os.path.basename(path))[0] == "ipython":
        return None
    return path


def guarded(tree: ast.Module, line: int) -> bool:
    """Whether ``line`` of the module ``tree`` lies in the body of an ``if __name__ == "__main__":``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_main_test(node.test):
            if node.body[0].lineno <= line <= (node.body[-1].end_lineno or node.body[-1].lineno):
                return True
    return False


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = {side.id for side in sides if isinstance(side, ast.Name)}
    texts = {side.value for side in sides if isinstance(side, ast.Constant)}
    return names == {"__name__"} and texts == {"__main__"}
