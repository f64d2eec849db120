"""Session fixtures: random-weight models in the real on-disk layout, and the real server on loopback;
and the unit / e2e markers, given by folder (helpers live in tests/support/)."""
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.support")   # the helpers' asserts explain a failure, as the tests' do

from tests.support.models import TEST_VOICES, V0_19_TEST_VOICES  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402


FOLDER_MARKS = {"unit": pytest.mark.unit, "e2e": pytest.mark.e2e, "clients": pytest.mark.clients}
TESTS_DIR = Path(__file__).resolve().parent
CLIENTS_DIR = TESTS_DIR / "clients"


def pytest_addoption(parser):
    parser.addoption("--clients", action="store_true",
                     help="run tests/clients (the real pipecat and livekit-agents clients) and nothing else; "
                          "needs the clients venv: .venv-clients/bin/python -m pytest --clients tests/clients")


def pytest_ignore_collect(collection_path, config):
    """tests/clients runs only with --clients (in .venv-clients, which has the clients but not the server's
    packages), and then alone."""
    path = Path(collection_path).resolve()
    in_clients = path == CLIENTS_DIR or CLIENTS_DIR in path.parents
    if config.getoption("--clients"):
        return True if TESTS_DIR in path.parents and not in_clients else None
    return True if in_clients else None


def pytest_collection_modifyitems(items):
    for item in items:
        folder = item.path.parent.name
        if folder in FOLDER_MARKS:
            item.add_marker(FOLDER_MARKS[folder])


@pytest.fixture(scope="session")
def v1_model_dir(tmp_path_factory) -> Path:
    """Tiny random v1.0 model and voice packs under MODEL_DIR/v1_0 (no other version)."""
    from api.src.tools.random_model import write_random_model

    root = tmp_path_factory.mktemp("models-v1")
    write_random_model(root, version="v1_0", size="tiny", voices=TEST_VOICES, seed=1)
    return root


@pytest.fixture(scope="session")
def model_dir(v1_model_dir, tmp_path_factory) -> Path:
    """Both versions, tiny and random, in their real layouts: MODEL_DIR/v1_0 and MODEL_DIR/v0_19."""
    from api.src.tools.random_model import write_random_model

    root = tmp_path_factory.mktemp("models")
    (root / "v1_0").symlink_to(v1_model_dir / "v1_0", target_is_directory=True)
    write_random_model(root, version="v0_19", size="tiny", voices=V0_19_TEST_VOICES, seed=2)
    return root


@pytest.fixture(scope="session")
def server(model_dir, tmp_path_factory):
    """The shared server: v1.0 by default, v0.19 preloaded beside it; model-free (``tests.support.model_free``:
    real text path, scheduler and encoders, tones instead of a forward). Tests of the network's own output
    (the pinned hashes, seeded isolation) start a server with the tiny random model."""
    # 16-client tests run against it: above the default MAX_ACTIVE_REQUESTS of 10 (tested on its own)
    proc = ServerProcess(model_dir, tmp_path_factory.mktemp("logs") / "server.log", preload_versions="v0_19",
                         max_active_requests=64, model_free=True).start()
    yield proc
    proc.stop()


@pytest.fixture
def client(server):
    from openai import OpenAI
    return OpenAI(base_url=server.url + "/v1", api_key="not-needed", max_retries=0, timeout=120)
