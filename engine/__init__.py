"""assess: a configuration-driven assessment rules engine.

The flow, one module a stage: load -> validate -> compile -> execute -> score ->
recommend -> render. Each stage takes dataclasses from the one before and returns new ones.
"""
from pathlib import Path

__version__ = "0.1.0"


def resource(name: str) -> Path:
    """Path of a bundled folder (``schemas`` or ``templates``).

    A wheel carries them inside the package; a source checkout keeps them at the top."""
    here = Path(__file__).resolve().parent
    inside = here / name
    return inside if inside.is_dir() else here.parent / name
