"""Japanese and Chinese G2P are optional extras (kokoro-server[ja], [zh]): without them a request for those
languages is a 400 that names the extra and the install command, never a 500."""
import tomllib

import pytest

from api.src.builds.v1_0.g2p import OPTIONAL_LANGUAGES, make_g2p, require_language
from api.src.http.errors import HTTP_ERRORS
from api.src.core.exceptions import InvalidRequest
from tests.support.paths import REPO_ROOT


def importer_without(*missing):
    def fake(name):
        if name in missing:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return object()
    return fake


@pytest.mark.parametrize("lang, extra, module", [("j", "ja", "pyopenjtalk"), ("z", "zh", "jieba"),
                                                 ("z", "zh", "misaki.zh")])
def test_missing_extra_is_a_400_naming_it(lang, extra, module):
    with pytest.raises(InvalidRequest) as info:
        require_language(lang, import_module=importer_without(module))
    err = info.value
    assert HTTP_ERRORS[InvalidRequest][0] == 400
    assert err.code == "language_unavailable" and err.param == "lang_code"
    assert f"kokoro-server[{extra}]" in str(err) and f"scripts/install.sh --lang {extra}" in str(err)
    assert f"pip install -e '.[{extra}]'" in str(err) and module in str(err)


@pytest.mark.parametrize("lang", ["a", "b", "e", "f", "h", "i", "p", "j", "z"])
def test_installed_or_built_in_languages_pass(lang):
    require_language(lang, import_module=importer_without())


def test_english_and_espeak_languages_never_import_the_extras():
    asked = []
    require_language("e", import_module=asked.append)
    require_language("a", import_module=asked.append)
    assert asked == []


def test_make_g2p_checks_before_building(monkeypatch):
    import api.src.builds.v1_0.g2p as g2p

    monkeypatch.setattr(g2p.importlib, "import_module", importer_without("pyopenjtalk"))
    with pytest.raises(InvalidRequest, match=r"kokoro-server\[ja\]"):
        make_g2p("j")


def test_pyproject_declares_the_extras_and_keeps_them_out_of_the_base():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    for name in ("pyopenjtalk", "jieba", "pypinyin", "cn2an", "[zh", ",zh", "[ja", "unidic", "fugashi"):
        assert name not in base, name
    extras = project["optional-dependencies"]
    assert {extra for extra, _ in OPTIONAL_LANGUAGES.values()} <= set(extras)
    assert any(d.startswith("pyopenjtalk-plus") for d in extras["ja"])
    assert any(d.startswith("misaki[zh]") for d in extras["zh"])


@pytest.mark.parametrize("dockerfile", ["Dockerfile.cpu", "Dockerfile.gpu"])
def test_images_install_every_language(dockerfile):
    text = (REPO_ROOT / dockerfile).read_text()
    runs = [line for line in text.splitlines() if "scripts/install.sh" in line and line.strip().startswith(("&&", "bash"))]
    assert runs and all("--all-languages" in line for line in runs)


@pytest.mark.parametrize("args", [["--lang", "ko"], ["--lang=ja,xx"], ["--lang"]])
def test_install_script_refuses_unknown_languages_before_installing(args):
    import subprocess

    done = subprocess.run(["bash", str(REPO_ROOT / "scripts/install.sh"), *args], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2 and ("unknown language extra" in done.stderr or "needs a list" in done.stderr)
