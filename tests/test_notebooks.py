"""Notebooks run offline from a clean kernel, and are committed without outputs."""

import asyncio
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") and cell.get("execution_count") is None
               for cell in notebook.cells if cell.cell_type == "code")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Every notebook run at once, each in a clean kernel of its own with its own folder and empty cache.

    Run one after another they spent most of their time waiting (kernel and cluster start-up, the loopback
    Gemini server's latency, the rate gate, the notebooks' own sleeps): at once, that waiting overlaps.
    Maps each notebook's path to the notebook as executed, or to the exception its run raised."""

    async def run(path):
        folder = tmp_path_factory.mktemp(path.stem)
        notebook = nbformat.read(path, as_version=4)
        env = {**os.environ, "DASKPARSE_CACHE": str(folder / "cache")}  # as `own_cache` gave each test
        await NotebookClient(notebook, timeout=300, kernel_name="python3",
                             resources={"metadata": {"path": str(folder)}}).async_execute(env=env)
        return notebook

    async def run_all():
        return await asyncio.gather(*map(run, NOTEBOOKS), return_exceptions=True)

    return dict(zip(NOTEBOOKS, asyncio.run(run_all())))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_from_a_clean_kernel(path, executed):
    notebook = executed[path]
    if isinstance(notebook, BaseException):
        raise notebook
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert all(cell.get("execution_count") for cell in notebook.cells if cell.cell_type == "code")  # every cell ran


def test_there_are_notebooks():
    assert NOTEBOOKS
