"""requirements.lock: the base install pinned with hashes (scripts/lock.sh), used by scripts/install.sh."""
import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.paths import REPO_ROOT

LOCK = REPO_ROOT / "requirements.lock"
ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", re.M)


def locked() -> dict[str, tuple[str, list[str]]]:
    text = LOCK.read_text()
    return {canonicalize_name(m[1]): (m[2], re.findall(r"sha256:([0-9a-f]{64})", m[3])) for m in ENTRY.finditer(text)}


def test_every_line_is_pinned_with_hashes():
    text = LOCK.read_text()
    requirement_lines = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    entries = locked()
    assert len(entries) == len(requirement_lines) > 50
    assert all(hashes for _, hashes in entries.values())


def test_torch_is_not_locked_but_the_spacy_model_re_upload_is():
    entries = locked()
    assert "torch" not in entries and not any(name.startswith(("nvidia-", "triton")) for name in entries)
    stand_in = tomllib.loads((REPO_ROOT / "packaging/en_core_web_sm/pyproject.toml").read_text())
    (upload,) = map(Requirement, stand_in["project"]["dependencies"])
    version, hashes = entries[canonicalize_name(upload.name)]
    assert upload.specifier.contains(version) and hashes


def test_lock_satisfies_pyproject():
    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    entries = locked()
    for dep in map(Requirement, deps):
        name = canonicalize_name(dep.name)
        if name in {"torch", "en-core-web-sm"}:   # installed first / the local stand-in
            continue
        assert name in entries, f"{dep} is not in requirements.lock: rerun scripts/lock.sh"
        assert dep.specifier.contains(entries[name][0], prereleases=True), (str(dep), entries[name][0])


@pytest.fixture(scope="module")
def install_sh():
    return (REPO_ROOT / "scripts/install.sh").read_text()


def test_install_script_uses_the_lock_with_hashes(install_sh):
    assert re.search(r'pip install --require-hashes --no-deps -r "\$LOCK"', install_sh)
    assert "LOCK=requirements.lock" in install_sh


def test_install_script_shows_progress_and_step_times(install_sh):
    assert not re.search(r"pip install[^\n]* -q\b", install_sh)   # pip's progress stays visible
    assert 'done in $((SECONDS - t0)) s' in install_sh
    assert all(line.lstrip().startswith(("step ", "#")) or "pip install" not in line
               for line in install_sh.splitlines() if '-m pip install' in line)


@pytest.mark.parametrize("dockerfile", ["Dockerfile.cpu", "Dockerfile.gpu"])
def test_images_copy_the_lock_before_installing(dockerfile):
    text = (REPO_ROOT / dockerfile).read_text()
    assert text.index("requirements.lock") < text.index("scripts/install.sh --no-venv")
