"""Where the real configs and voice packs live for reference (`../shared`), and a marker for tests that need them.

They come from the public model repositories and are not part of this project: tests that read them
skip when the folder is absent.
"""
import pytest

from tests.support.paths import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared"

_skip_without_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"reference data folder {SHARED} is absent")


def requires_shared(test):
    """Marks ``test`` real_weights, and skips it where the reference folder is absent."""
    return pytest.mark.real_weights(_skip_without_shared(test))
