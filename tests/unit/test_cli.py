"""``python -m api`` flags: each overrides its setting's environment variable, and only when given."""
import os
import socket
from pathlib import Path

from api.__main__ import apply_flags, build_parser, wyoming_port_problem
from api.src.core.config import Settings


def test_flags_win_over_the_environment(monkeypatch, tmp_path):
    environ = {"PORT": "9000", "HOST": "0.0.0.0", "WORKERS": "3", "DEVICE": "cuda", "ENGINE": "auto",
               "MODEL_DIR": "/elsewhere"}
    args = build_parser().parse_args(["--port", "0", "--host", "127.0.0.1", "--workers", "1", "--device", "cpu",
                                      "--engine", "torch-fp32", "--model-dir", str(tmp_path)])
    apply_flags(args, environ)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert (settings.port, settings.host, settings.workers, settings.device, settings.engine, settings.model_dir) == \
        (0, "127.0.0.1", 1, "cpu", "torch-fp32", Path(tmp_path))


def test_flags_not_given_leave_the_environment_alone():
    environ = {"PORT": "9000"}
    apply_flags(build_parser().parse_args([]), environ)
    assert environ == {"PORT": "9000"}
    apply_flags(build_parser().parse_args(["--host", "::1"]), environ)
    assert environ == {"PORT": "9000", "HOST": "::1"}


def test_engine_defaults_to_auto(monkeypatch):
    monkeypatch.delenv("ENGINE", raising=False)
    assert Settings(_env_file=None).engine == "auto"


def test_the_web_ui_url_opens_in_a_local_browser():
    from api.src.routers.web import web_ui_url

    assert web_ui_url("0.0.0.0", 8880) == "http://127.0.0.1:8880/web/"
    assert web_ui_url("::", 8880) == "http://[::1]:8880/web/"
    assert web_ui_url("192.168.1.5", 9000) == "http://192.168.1.5:9000/web/"


def test_engine_and_device_choices_are_the_settings_values():
    import typing

    from api.src.inference.engines import SETTING_VALUES

    choices = {action.dest: tuple(action.choices or ()) for action in build_parser()._actions}
    assert choices["engine"] == SETTING_VALUES == typing.get_args(Settings.model_fields["engine"].annotation)
    assert choices["device"] == typing.get_args(Settings.model_fields["device"].annotation)


def test_the_wyoming_port_flag_sets_its_setting_and_is_checked_before_the_start(monkeypatch):
    environ: dict = {}
    apply_flags(build_parser().parse_args(["--wyoming-port", "10200"]), environ)
    assert environ == {"WYOMING_PORT": "10200"}
    assert Settings(_env_file=None, wyoming_port="").wyoming_port is None   # compose's ${WYOMING_PORT:-}: off
    assert wyoming_port_problem(Settings(_env_file=None)) is None
    assert "a port of its own" in wyoming_port_problem(Settings(_env_file=None, port=9000, wyoming_port=9000))
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        problem = wyoming_port_problem(Settings(_env_file=None, host="127.0.0.1", wyoming_port=port))
    assert f"127.0.0.1:{port} is already in use" in problem and f"--wyoming-port {port + 1}" in problem
    # port 0 with several workers: one free port, chosen here, for all of them
    monkeypatch.delenv("WYOMING_PORT", raising=False)
    assert wyoming_port_problem(Settings(_env_file=None, host="127.0.0.1", wyoming_port=0, workers=2)) is None
    assert int(os.environ["WYOMING_PORT"]) > 0
