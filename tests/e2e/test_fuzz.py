"""Schemathesis against our own OpenAPI schema: no 5xx, and every 4xx in OpenAI's error envelope.

The schema is loaded from the running server and every operation in it is fuzzed, with both schema-valid
(positive) and schema-violating (negative) data. Bounded so that the fuzzing itself stays well under 90 s
on a 2-core CPU machine with the tiny random models: a fixed number of examples per operation and mode,
derandomized (the same cases every run), no example database, no shrinking.

schemathesis' own pytest integration (``from_fixture(...).parametrize()``) does not run under pytest 9.2
(it sets ``Node._nodeid``), so this drives its public strategies with Hypothesis directly, one pytest
subtest per operation.
"""
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

EXAMPLES = 30                 # per operation and generation mode
REQUEST_TIMEOUT = 60          # seconds; requests' read timeout, per request
ENVELOPE_KEYS = {"message", "type", "param", "code"}
CASES: Counter = Counter()    # operation label -> cases sent, across both modes

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # Shrinking re-sends requests without a bound; the failing (unshrunk) example is still printed.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def _describe(case, response) -> str:
    return (f"{case.as_curl_command()}\n-> {response.status_code} {response.headers.get('content-type')}: "
            f"{response.content[:500]!r}")


def no_5xx(ctx, response, case):
    assert response.status_code < 500, f"server error:\n{_describe(case, response)}"


def openai_error_envelope(ctx, response, case):
    """Every 4xx is JSON with all four of OpenAI's error keys and a message."""
    if response.status_code < 400:
        return
    content_type = (response.headers.get("content-type") or [""])[0]  # lowercase keys, list values
    assert content_type.startswith("application/json"), f"error is not JSON:\n{_describe(case, response)}"
    try:
        body = response.json()
    except ValueError as exc:
        raise AssertionError(f"error body is not JSON:\n{_describe(case, response)}") from exc
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), \
        f"no error envelope:\n{_describe(case, response)}"
    assert set(body["error"]) == ENVELOPE_KEYS, \
        f"envelope keys {sorted(body['error'])}:\n{_describe(case, response)}"
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], \
        f"empty error message:\n{_describe(case, response)}"


# Not status_code_conformance (FastAPI documents 422 for validation errors, the server answers 400 in
# OpenAI's envelope) nor content_type_conformance (audio/* bodies, text/plain metrics).
# response_schema_conformance validates JSON bodies against their documented schemas and skips the rest.
CHECKS = [not_a_server_error, response_schema_conformance, no_5xx, openai_error_envelope]


def fuzz_operation(operation, mode: GenerationMode) -> None:
    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case):
        CASES[operation.label] += 1
        case.call_and_validate(timeout=REQUEST_TIMEOUT, checks=CHECKS)

    try:
        fuzz()
    except Unsatisfiable:
        # Nothing in this operation can be made schema-violating (no parameters and no body).
        assert mode == GenerationMode.NEGATIVE


@pytest.mark.timeout(240)  # a request that never finishes (or trickles) fails the test
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_schema_fuzz(server, subtests, mode):
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    for operation in operations:
        with subtests.test(msg=operation.label):
            fuzz_operation(operation, mode)


def test_fuzz_reached_every_operation(server):
    """Guards against a silent no-op fuzz run (operations filtered out, or nothing generated)."""
    if not CASES:
        pytest.skip("test_schema_fuzz did not run in this session")
    import httpx

    paths = httpx.get(f"{server.url}/openapi.json", timeout=30).json()["paths"]
    operations = {f"{method.upper()} {path}" for path, methods in paths.items() for method in methods}
    assert operations <= set(CASES), f"not fuzzed: {sorted(operations - set(CASES))}"
    print(f"schemathesis {schemathesis.__version__}: {sum(CASES.values())} cases: {dict(CASES)}")
