"""Where things are: the repository root."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
