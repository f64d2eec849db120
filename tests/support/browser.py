"""The system chromium that the browser tests drive (playwright's own download is never used)."""
import os
import shutil


def chromium_path():
    given = os.environ.get("CHROMIUM_PATH")
    if given:
        return given
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
