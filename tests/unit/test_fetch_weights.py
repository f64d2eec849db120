"""fetch_weights.py against a fake hub (a local folder): placement, verification, skipping, and the error that
tells users what to run. The real hub is never called: every test patches the two hub functions."""
import dataclasses
import hashlib
import shutil
from pathlib import Path

import pytest
from huggingface_hub import utils as hf_utils

from api.src.builds.base import RemoteFile
from api.src.builds.v1_0 import SPEC
from api.src.inference import fetch_weights as download

WEIGHTS = b"weights" * 1000
CONFIG = b'{"n_token": 178}'


class FakeHub:
    """Serves files from a local folder the way hf_hub_download(local_dir=...) does, and records calls."""

    def __init__(self, root: Path):
        self.root = root
        self.calls: list[str] = []

    def add(self, path: str, data: bytes) -> None:
        (self.root / path).parent.mkdir(parents=True, exist_ok=True)
        (self.root / path).write_bytes(data)

    def hf_hub_download(self, repo_id, filename, *, local_dir, **kwargs):
        assert repo_id == SPEC.repo_id
        self.calls.append(filename)
        target = Path(local_dir) / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.root / filename, target)
        return str(target)

    def list_repo_files(self, repo_id, **kwargs):
        assert repo_id == SPEC.repo_id
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())


def _spec(repo_folder: str = "", weights: bytes = WEIGHTS, **changes):
    prefix = f"{repo_folder}/" if repo_folder else ""
    files = (
        RemoteFile(prefix + "config.json"),
        RemoteFile(prefix + SPEC.weights_file, size=len(weights), sha256=hashlib.sha256(weights).hexdigest()),
    )
    return dataclasses.replace(SPEC, repo_folder=repo_folder, remote_files=files, **changes)


@pytest.fixture(autouse=True)
def no_real_hub(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test reached the real Hugging Face hub")

    monkeypatch.setattr(download, "hf_hub_download", refuse)
    monkeypatch.setattr(download, "list_repo_files", refuse)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    fake = FakeHub(tmp_path / "remote")
    fake.add("config.json", CONFIG)
    fake.add(SPEC.weights_file, WEIGHTS)
    fake.add("voices/af_heart.pt", b"heart")
    fake.add("voices/am_adam.pt", b"adam")
    fake.add("voices/extra/ignored.pt", b"nested")
    fake.add("README.md", b"readme")
    monkeypatch.setattr(download, "hf_hub_download", fake.hf_hub_download)
    monkeypatch.setattr(download, "list_repo_files", fake.list_repo_files)
    return fake


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".download-")]


def test_files_land_in_place_and_temp_dirs_are_removed(hub, tmp_path):
    model_dir = tmp_path / "models"
    written = download.download_version(_spec(), model_dir)
    folder = model_dir / "v1_0"
    assert sorted(written) == sorted([folder / "config.json", folder / SPEC.weights_file,
                                      folder / "voices" / "af_heart.pt", folder / "voices" / "am_adam.pt"])
    assert (folder / SPEC.weights_file).read_bytes() == WEIGHTS
    assert (folder / "voices" / "am_adam.pt").read_bytes() == b"adam"
    assert not (folder / "README.md").exists() and not (folder / "voices" / "extra").exists()
    assert _leftovers(folder) == []
    assert SPEC.missing_files(model_dir) == []


def test_repo_folder_prefix_is_dropped_on_disk(hub, tmp_path):
    hub.add("v0.19/config.json", CONFIG)
    hub.add(f"v0.19/{SPEC.weights_file}", WEIGHTS)
    hub.add("v0.19/voices/af_sky.pt", b"sky")
    spec = _spec("v0.19", version="v0_19")
    written = download.download_version(spec, tmp_path / "models")
    folder = tmp_path / "models" / "v0_19"
    assert sorted(written) == sorted([folder / "config.json", folder / SPEC.weights_file, folder / "voices/af_sky.pt"])
    assert "v0.19/voices/af_sky.pt" in hub.calls


def test_named_voices_only(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "list_repo_files", None)  # must not be needed
    written = download.download_version(_spec(), tmp_path, voices=["af_heart"])
    assert [p.name for p in written] == ["config.json", SPEC.weights_file, "af_heart.pt"]


@pytest.mark.parametrize("bad", [WEIGHTS + b"x", WEIGHTS[:-1] + b"X"], ids=["size", "sha256"])
def test_mismatch_is_refused_and_nothing_is_left(hub, tmp_path, bad):
    hub.add(SPEC.weights_file, bad)
    with pytest.raises(download.DownloadError, match="size|SHA-256|bytes"):
        download.download_version(_spec(), tmp_path, voices=[])
    folder = tmp_path / "v1_0"
    assert not (folder / SPEC.weights_file).exists()
    assert _leftovers(folder) == []


def test_present_files_are_skipped_unless_forced(hub, tmp_path):
    folder = tmp_path / "v1_0"
    folder.mkdir()
    (folder / "config.json").write_bytes(b"old")
    written = download.download_version(_spec(), tmp_path, voices=[])
    assert written == [folder / SPEC.weights_file]
    assert hub.calls == [SPEC.weights_file]
    assert (folder / "config.json").read_bytes() == b"old"

    written = download.download_version(_spec(), tmp_path, voices=[], force=True)
    assert len(written) == 2 and (folder / "config.json").read_bytes() == CONFIG


def test_progress_bars_are_switched_back_on(hub, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    hf_utils.disable_progress_bars()
    try:
        download.download_version(_spec(), tmp_path, voices=[])
        assert not hf_utils.are_progress_bars_disabled()
    finally:
        hf_utils.enable_progress_bars()


def test_missing_files_without_download_name_files_and_command(tmp_path):
    with pytest.raises(download.MissingModelFiles) as info:
        download.ensure_version_files(SPEC, tmp_path, download=False)
    message = str(info.value)
    for path in (SPEC.config_path(tmp_path), SPEC.weights_path(tmp_path), SPEC.voices_dir(tmp_path) / "*.pt"):
        assert str(path) in message
    assert "kokoro-download --version v1_0" in message and "DOWNLOAD_MODEL=true" in message
    assert "python -m" not in message   # one command name, the one README and the start-up log give
    assert "version folder" not in message


def test_model_dir_set_to_a_version_folder_is_named(tmp_path):
    with pytest.raises(download.MissingModelFiles) as info:
        download.ensure_version_files(SPEC, tmp_path / "v1_0", download=False)
    assert f"looks like a version folder itself: set MODEL_DIR to the folder that holds it ({tmp_path})" \
        in str(info.value)


def test_a_failed_download_does_not_advise_downloading(tmp_path, monkeypatch):
    """Whoever reads this set DOWNLOAD_MODEL=true already (offline, or the hub failed)."""
    monkeypatch.setattr(download.hf_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(download.MissingModelFiles) as info:
        download.ensure_version_files(SPEC, tmp_path, download=True)
    message = str(info.value)
    assert "DOWNLOAD_MODEL" not in message and "kokoro-download --version v1_0" in message
    assert "HF_HUB_OFFLINE=1" in message


def test_failed_download_becomes_missing_model_files(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(download, "list_repo_files", offline)
    monkeypatch.setattr(download, "hf_hub_download", offline)
    with pytest.raises(download.MissingModelFiles, match="network is unreachable") as info:
        download.ensure_version_files(SPEC, tmp_path, download=True)
    assert isinstance(info.value.cause, OSError)
    assert str(SPEC.weights_path(tmp_path)) in str(info.value)


def test_ensure_downloads_when_allowed_and_is_quiet_when_complete(hub, tmp_path):
    spec = _spec()
    download.ensure_version_files(spec, tmp_path, download=True)
    assert spec.missing_files(tmp_path) == []
    calls = len(hub.calls)
    download.ensure_version_files(spec, tmp_path, download=False)
    assert len(hub.calls) == calls


def test_cli(hub, tmp_path, monkeypatch, capsys):
    # the CLI uses the registered spec: give it checkable sizes for the fake files
    monkeypatch.setitem(download.VERSIONS, "v1_0", _spec())
    assert download.main(["--model-dir", str(tmp_path), "--voices", "am_adam"]) == 0
    assert (tmp_path / "v1_0" / "voices" / "am_adam.pt").is_file()
    out = capsys.readouterr().out
    assert "voices/am_adam.pt: downloading" in out and "3 file(s) downloaded" in out

    hub.add(SPEC.weights_file, b"corrupt")
    assert download.main(["--model-dir", str(tmp_path), "--voices", "am_adam", "--force"]) == 1
    assert "download failed" in capsys.readouterr().err


def test_the_real_v0_19_spec_fetches_from_klegacy_folder_v0_19(tmp_path, monkeypatch):
    from api.src.builds import VERSIONS

    spec = VERSIONS["v0_19"]
    remote = {"v0.19/config.json": b"{}", "v0.19/kokoro-v0_19.pth": b"w", "v0.19/voices/af.pt": b"a",
              "v0.19/voices/bf_emma.pt": b"e", "v0.19/README.md": b"r", "kokoro-v0_19.pth": b"root copy"}
    asked = []

    def fake_download(repo_id, filename, *, local_dir, **kwargs):
        asked.append((repo_id, filename))
        target = Path(local_dir) / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(remote[filename])
        return str(target)

    monkeypatch.setattr(download, "hf_hub_download", fake_download)
    monkeypatch.setattr(download, "list_repo_files", lambda repo_id, **kw: sorted(remote))
    download.download_version(spec, tmp_path)
    assert {repo for repo, _ in asked} == {"hexgrad/kLegacy"}
    assert sorted(name for _, name in asked) == ["v0.19/config.json", "v0.19/kokoro-v0_19.pth",
                                                 "v0.19/voices/af.pt", "v0.19/voices/bf_emma.pt"]
    folder = tmp_path / "v0_19"
    assert (folder / "kokoro-v0_19.pth").read_bytes() == b"w"
    assert sorted(p.name for p in (folder / "voices").iterdir()) == ["af.pt", "bf_emma.pt"]
    assert spec.missing_files(tmp_path) == []


def test_offline_mode_fails_at_once_naming_files_folder_and_variables(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the hub must not be called with HF_HUB_OFFLINE=1")

    monkeypatch.setattr(download, "list_repo_files", never)
    monkeypatch.setattr(download, "hf_hub_download", never)
    monkeypatch.setattr(download.hf_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(download.MissingModelFiles) as info:
        download.ensure_version_files(SPEC, tmp_path, download=True)
    message = str(info.value)
    assert str(SPEC.weights_path(tmp_path)) in message and str(SPEC.config_path(tmp_path)) in message
    assert f"Put them in {SPEC.folder(tmp_path)} (MODEL_DIR/v1_0/)" in message
    assert "HF_HUB_OFFLINE=1" in message and "HF_ENDPOINT" in message


def test_a_failed_download_names_the_offline_variables(tmp_path, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(download, "list_repo_files", unreachable)
    monkeypatch.setattr(download, "hf_hub_download", unreachable)
    monkeypatch.setattr(download.hf_constants, "HF_HUB_OFFLINE", False)
    message = str(pytest.raises(download.MissingModelFiles, download.ensure_version_files, SPEC, tmp_path,
                                download=True).value)
    assert "HF_HUB_OFFLINE" in message and "HF_ENDPOINT" in message and str(SPEC.folder(tmp_path)) in message
