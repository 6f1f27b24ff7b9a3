"""The Streamlit app: its decisions (mlops.app.auth, form, batch, cache, status, actions,
live) and every view through AppTest."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from mlops.app import actions, auth, batch, form, live
from mlops.app.cache import TTLCache
from mlops.app.context import ALIAS_TTL_SECONDS, AppContext
from mlops.app.status import serving_status
from mlops.core.cells import check_cell
from mlops.core.exceptions import AccessDeniedError, DataError
from mlops.core.schema import ColumnSchema, Schema, load_schema
from mlops.registry import open_registry

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
# A strong token as the docs make one (secrets.token_urlsafe(32)); a test value, no secret.
TOKEN = "yfdib1qVvzZ6dLHZWaBiVft5U0RwMeYkK9RtM8wVJwE"
NAME = "credit-risk"
GOOD_ROW = ("sex,job,housing,saving_accounts,checking_account,credit_amount,duration,"
            "purpose,age\nmale,2,own,little,moderate,1000,12,car,35\n")


def _registry(env: dict[str, str]):
    from mlops.core.config import RegistryConfig

    return open_registry(RegistryConfig("local", env["MLOPS_REGISTRY_PATH"], "",
                                        ("production", "candidate")))


def _app(timeout: float = 30) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    assert not at.exception, at.exception
    return at


def _frame_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first shown table that has ``column`` (st.dataframe keys are not exposed)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _screen(at: AppTest, name: str) -> AppTest:
    at.radio(key="screen").set_value(name)
    at.run()
    assert not at.exception, at.exception
    return at


def _charts(at: AppTest) -> list[pd.DataFrame]:
    """The data of every chart drawn, in order (charts carry it as Arrow IPC bytes)."""
    import pyarrow as pa

    return [pa.ipc.open_stream(d.data.data).read_pandas()
            for chart in at.get("vega_lite_chart") for d in chart.proto.datasets]


def _button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def _select(at: AppTest, key: str):
    """A version selector: its widget key carries the aliases (``key@production=2``)."""
    return next(s for s in at.selectbox if s.key and s.key.startswith(f"{key}@"))


def _reason_field(at: AppTest):
    return next(t for t in at.text_input if t.key and t.key.startswith("op_reason_"))


def _confirmed(at: AppTest, key: str, reason: str) -> AppTest:
    """Click operator action ``key``, type ``reason`` in its dialog and confirm it."""
    _button(at, key).click()
    at.run()
    assert not at.exception, at.exception
    assert _button(at, "op_confirm").disabled  # no reason yet: nothing can be confirmed
    _reason_field(at).set_value(reason)
    at.run()
    _button(at, "op_confirm").click()
    at.run()
    assert not at.exception, at.exception
    return at


def _operator(at: AppTest | None = None) -> AppTest:
    at = at or _app()
    at.text_input(key="admin_token").set_value(TOKEN)
    return _screen(at, "Operator")


# ------------------------------------------------------------------------ tokens
RIGHT = "Vq3n8LrT0wXe5Jk2Pz7Hc4Bd"  # strong, as far as token_weakness can tell
OTHER = "Ng6Ys1Fm9Qa4Wt8Ur2Ez5Kx"


def test_token_check_refuses_wrong_and_blank_tokens() -> None:
    env = {auth.ADMIN_TOKEN_ENV: RIGHT}
    assert auth.check_admin_token(RIGHT, env)
    assert auth.check_admin_token(f" {RIGHT} ", env)  # stray spaces from a paste
    assert not auth.check_admin_token(RIGHT[:-1] + "x", env)
    assert not auth.check_admin_token("", env)
    assert not auth.check_admin_token(None, env)
    assert not auth.check_admin_token(RIGHT, {})  # not configured: nobody is operator
    assert not auth.check_admin_token("", {auth.ADMIN_TOKEN_ENV: ""})


def test_token_check_is_constant_time_through_hmac_compare_digest(monkeypatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    verdict = [True]

    def compare_digest(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return verdict[0]

    monkeypatch.setattr(auth.hmac, "compare_digest", compare_digest)
    env = {auth.ADMIN_TOKEN_ENV: RIGHT}
    # The verdict is compare_digest's, whatever a plain == would say.
    assert auth.check_admin_token(" wrong ", env)
    verdict[0] = False
    assert not auth.check_admin_token(RIGHT, env)
    assert calls == [(b"wrong", RIGHT.encode()), (RIGHT.encode(), RIGHT.encode())]


def test_require_operator_says_why() -> None:
    with pytest.raises(AccessDeniedError, match="disabled"):
        auth.require_operator("x", {})
    env = {auth.ADMIN_TOKEN_ENV: RIGHT}
    with pytest.raises(AccessDeniedError, match="wrong operator token") as wrong:
        auth.require_operator("x", env)
    with pytest.raises(AccessDeniedError, match="no operator token") as missing:
        auth.require_operator(" ", env)
    assert RIGHT not in str(wrong.value) + str(missing.value)
    auth.require_operator(RIGHT, env)
    assert [auth.token_problem(t, env) for t in (None, "", "y", RIGHT)] == [
        "missing", "missing", "wrong", None]
    assert auth.token_problem(RIGHT, {}) == "disabled"


WEAK_TOKENS = {
    "37": "shorter than 16 characters",  # guessed in 38 tries (issue 26)
    "aaaaaaaaaaaaaaaaaaaa": "fewer than 8 different characters",
    "abababababababababab": "fewer than 8 different characters",
    "1234567890123456": "too predictable",  # digits only: 53 bits
    "qrstuvwxyzabcdefghij": "run of neighbouring characters",
    "s3cret-operator-token": "common words",
    "Password1234567890": "common words",
    "admin-admin-admin-2026": "common words",
}


@pytest.mark.parametrize("weak", list(WEAK_TOKENS))
def test_a_weak_configured_token_disables_the_operator(weak: str) -> None:
    env = {auth.ADMIN_TOKEN_ENV: weak}
    assert WEAK_TOKENS[weak] in auth.token_weakness(weak)
    assert weak not in auth.token_weakness(weak)  # the reason is shown on a public page
    assert not auth.operator_configured(env)
    assert not auth.check_admin_token(weak, env)  # even typed exactly, it opens nothing
    assert auth.token_problem(weak, env) == "weak"
    with pytest.raises(AccessDeniedError, match="too weak") as refused:
        auth.require_operator(weak, env)
    assert auth.GENERATE_TOKEN in str(refused.value)


def test_generated_tokens_are_strong() -> None:
    import secrets
    import subprocess

    made = subprocess.run([sys.executable, "-c", auth.GENERATE_TOKEN.split('"')[1]],
                          capture_output=True, text=True, check=True).stdout.strip()
    for token in [made, TOKEN, RIGHT, OTHER] + [secrets.token_urlsafe(32) for _ in range(500)]:
        assert auth.token_weakness(token) is None, token
    # A passphrase of uncommon words is fine too.
    assert auth.token_weakness("correct horse battery staple") is None


def test_a_weak_token_is_refused_at_start_up_in_the_log(caplog) -> None:
    auth._configured_weakness.cache_clear()
    env = {auth.ADMIN_TOKEN_ENV: "37"}
    with caplog.at_level("WARNING", logger="mlops.app.auth"):
        assert not auth.operator_configured(env)
        assert not auth.operator_configured(env)
    [record] = caplog.records  # said once per process, not on every page
    assert "refused" in record.getMessage() and auth.GENERATE_TOKEN in record.getMessage()
    assert "37" not in record.getMessage()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_wrong_tokens_wait_exponentially_per_key_and_memory_is_bounded() -> None:
    clock = _Clock()
    limiter = auth.AttemptLimiter(base_seconds=1, cap_seconds=60, forget_seconds=3600,
                                  max_keys=3, clock=clock)
    assert [limiter.delay(n) for n in range(1, 10)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert limiter.fail(["session:a", "client:x"]) == (1, 0)  # a typo costs nothing
    assert limiter.wait(["session:a"]) == 0
    assert limiter.fail(["session:a", "client:x"]) == (2, 1)
    assert limiter.fail(["session:b", "client:x"]) == (3, 2)  # a new tab, same address
    assert limiter.wait(["session:c", "client:x"]) == 2
    assert limiter.wait(["session:c", "client:y"]) == 0  # another visitor is not slowed
    clock.now += 2
    assert limiter.wait(["session:a", "client:x"]) == 0
    limiter.forgive(["session:a", "client:x"])
    assert limiter.wait(["session:b"]) == 0 and len(limiter) == 1  # session:b: 1 wrong
    clock.now += 3601  # forgotten an hour after the last wrong token
    assert limiter.fail(["session:b"]) == (1, 0)
    for n in range(10):
        limiter.fail([f"session:{n}"])
    assert len(limiter) == 3  # bounded, however many sessions come


def test_check_attempt_counts_each_wrong_token_once_and_logs_no_text(caplog) -> None:
    clock = _Clock()
    limiter = auth.AttemptLimiter(clock=clock)
    env = {auth.ADMIN_TOKEN_ENV: RIGHT}
    tab1, tab2, elsewhere = {}, {}, {}
    keys1, keys2 = ["session:1", "client:x"], ["session:2", "client:x"]

    def attempt(text, memo, keys):
        return auth.check_attempt(text, memo=memo, keys=keys, env=env, limiter=limiter)

    with caplog.at_level("WARNING", logger="mlops.app.auth"):
        assert attempt("guess-one-Xy7", tab1, keys1) == ("wrong", 0)
        # The page redraws with the same text: not a new guess.
        assert attempt("guess-one-Xy7", tab1, keys1) == ("wrong", 0)
        assert attempt("guess-two-Xy7", tab1, keys1) == ("wrong", 1)
        # The next guess, from this tab or a new one at the same address, is not checked,
        # not even the right token.
        assert attempt(RIGHT, tab1, keys1) == ("throttled", 1)
        assert attempt(RIGHT, tab2, keys2) == ("throttled", 1)
        assert attempt(RIGHT, elsewhere, ["session:3", "client:y"]) == (None, 0)
        clock.now += 1
        assert attempt(RIGHT, tab2, keys2) == (None, 0)
        # The right token cleared the address, not the first tab's own wrong tokens.
        assert attempt("guess-three-Xy7", tab1, keys1) == ("wrong", 2)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3 and "session:1, client:x" in messages[0]
    assert not any("guess" in m or RIGHT in m for m in messages)
    # Without a token, or with none configured, nothing is counted.
    assert attempt("", tab1, keys1) == ("missing", 0)
    assert auth.check_attempt("x", memo={}, keys=keys1, env={}, limiter=limiter) == (
        "disabled", 0)


def test_client_address_trusts_only_the_proxy_next_to_the_app() -> None:
    visitor, other = "93.184.216.34", "151.101.1.69"  # public addresses
    assert auth.client_address(visitor) == visitor
    # A visitor's own X-Forwarded-For is ignored; a private or local proxy's last entry
    # is what that proxy saw (the entries before it are the visitor's to forge).
    assert auth.client_address(visitor, other) == visitor
    assert auth.client_address("10.0.3.4", f"1.2.3.4, {other}") == other
    # Proxies' own private hops are skipped: the visitor is the first public one.
    assert auth.client_address("10.0.3.4", f"1.2.3.4, {other}, 10.1.1.1") == other
    assert auth.client_address(None, other) == other
    assert auth.client_address(None) is None


class _Untouchable:
    """A registry that fails the test on any use."""

    backend = "untouchable"

    def __getattr__(self, name: str):
        raise AssertionError(f"registry reached: {name}")


@pytest.mark.parametrize("action", [
    lambda reg, token, env: actions.promote_version(reg, NAME, 1, "production", token=token,
                                                    expected=2, reason="", env=env),
    lambda reg, token, env: actions.rollback_alias(reg, NAME, token=token, env=env),
    lambda reg, token, env: actions.start_release(reg, NAME, None, candidate=1,
                                                  strategy="canary", token=token, env=env),
    lambda reg, token, env: actions.advance_canary(reg, NAME, token=token, env=env),
    lambda reg, token, env: actions.abort_release(reg, NAME, token=token, env=env),
    lambda reg, token, env: actions.stop_shadow(reg, NAME, token=token, env=env),
    lambda reg, token, env: actions.switch_blue_green(reg, NAME, token=token, env=env),
], ids=["promote", "rollback", "start", "advance", "abort", "stop_shadow", "switch"])
def test_actions_refuse_a_wrong_token_before_touching_the_registry(action) -> None:
    env = {auth.ADMIN_TOKEN_ENV: RIGHT}
    for token in (OTHER, None, ""):
        with pytest.raises(AccessDeniedError):
            action(_Untouchable(), token, env)
    with pytest.raises(AccessDeniedError, match="disabled"):
        action(_Untouchable(), RIGHT, {})
    with pytest.raises(AccessDeniedError, match="too weak"):
        action(_Untouchable(), "37", {auth.ADMIN_TOKEN_ENV: "37"})


# ------------------------------------------------------------------------ form, batch
def test_form_spec_follows_the_schema(schema) -> None:
    specs = {s.name: s for s in form.form_spec(schema)}
    assert list(specs) == list(schema.serving_columns)
    assert "risk" not in specs
    age = specs["age"]
    assert (age.widget, age.min, age.max, age.integer) == ("number", 19, 75, True)
    assert age.min <= age.default <= age.max
    assert specs["housing"].widget == "select"
    assert specs["housing"].options == ("free", "own", "rent")
    # Units and descriptions come from the schema when it has them.
    assert age.label == "Age (years)" and "age of the applicant" in age.help


def test_form_defaults_are_a_typical_case(schema) -> None:
    import dataclasses

    from mlops.core.config import load_params
    from mlops.core.data import load_split

    frame = load_split(load_params(ROOT / "params.yaml")).frame
    # The schema's typical values (infer writes the data's median or most common value).
    specs = {s.name: s for s in form.form_spec(schema)}
    assert not form.needs_reference(schema)
    assert specs["age"].default == int(round(frame["age"].median()))
    assert specs["credit_amount"].default == int(round(frame["credit_amount"].median()))
    assert specs["housing"].default == frame["housing"].mode().iloc[0]
    # A hand-written schema without them: the reference data's, else the range's middle.
    bare = dataclasses.replace(schema, columns=tuple(
        dataclasses.replace(c, typical=None) for c in schema.columns))
    assert form.needs_reference(bare)
    train = load_split(load_params(ROOT / "params.yaml")).train
    from mlops.stages.reference import summarize_reference

    typical = summarize_reference(train, schema).typical  # what a version's summary holds
    from_data = {s.name: s for s in form.form_spec(bare, typical)}
    assert from_data["age"].default == int(round(train["age"].median()))
    assert from_data["housing"].default == train["housing"].mode().iloc[0]
    assert form.form_spec(bare)[-1].default == (19 + 75) // 2


def test_row_from_form_casts_and_rejects(schema) -> None:
    values = {s.name: s.default for s in form.form_spec(schema)}
    row = form.row_from_form(values, schema).frame
    assert row.shape == (1, len(schema.serving_columns))
    assert row["age"].dtype == "int64"
    with pytest.raises(DataError, match="age"):
        form.row_from_form({**values, "age": 35.5}, schema)
    # Two bad fields: the message names both.
    with pytest.raises(DataError, match="'age'.*; .*'duration'"):
        form.row_from_form({**values, "age": 35.5, "duration": "long"}, schema)
    # Outside the training range is scored (the router warns), as in every other path.
    assert form.row_from_form({**values, "age": 200}, schema).frame.loc[0, "age"] == 200


def test_batch_accepts_a_good_file_and_drops_the_target(schema) -> None:
    data = ("risk," + GOOD_ROW.splitlines()[0] + "\n1," + GOOD_ROW.splitlines()[1]).encode()
    result = batch.validate_batch(data, schema)
    assert result.ok, result.issues
    assert list(result.frame.columns) == list(schema.serving_columns)
    assert result.ignored_columns == ("risk",)


def test_batch_reports_each_bad_row_and_column(schema) -> None:
    header = "sex,job,housing,saving_accounts,checking_account,credit_amount,duration,purpose"
    data = (header + "\nmale,2,own,little,moderate,1000,12,car\n"
            "alien,2,own,little,moderate,abc,12,car\n"
            "male,2.5,own,little,moderate,999999,12,car\n").encode()
    result = batch.validate_batch(data, schema)
    assert not result.ok
    texts = [i.text for i in result.issues]
    assert texts[0].startswith("column 'age': required column is missing")
    assert any(t.startswith("row 2, column 'sex'") and "alien" in t for t in texts)
    assert any(t.startswith("row 2, column 'credit_amount'") and "not a number" in t
               for t in texts)
    assert any(t.startswith("row 3, column 'job'") and "whole number" in t for t in texts)
    # Out of the training range is scored with a warning, never refused (one checker rule).
    assert not any(t.startswith("row 3, column 'credit_amount'") for t in texts)


def test_out_of_range_values_are_scored_with_a_note(schema) -> None:
    header = "sex,job,housing,saving_accounts,checking_account,credit_amount,duration,purpose,age"
    result = batch.validate_batch((header + "\nmale,2,own,little,moderate,999999,12,car,35\n"
                                   ).encode(), schema)
    assert result.ok
    assert "credit_amount (1 rows)" in batch.out_of_range_note(result.checked)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"\xff\xfe\x00", "UTF-8"),
    (b"sex,age\n", "no data rows"),
    (b"a,a\n1,2\n", "duplicate"),
])
def test_batch_rejects_unreadable_files(schema, data: bytes, message: str) -> None:
    result = batch.validate_batch(data, schema)
    assert not result.ok and message in result.issues[0].message


def test_batch_size_and_row_limits(schema) -> None:
    assert "limit" in batch.validate_batch(GOOD_ROW.encode(), schema,
                                              max_bytes=10).issues[0].message
    many = GOOD_ROW + GOOD_ROW.splitlines()[1] + "\n"
    assert "rows" in batch.validate_batch(many.encode(), schema,
                                             max_rows=1).issues[0].message


def test_issue_list_is_truncated(schema) -> None:
    bad = GOOD_ROW.splitlines()[0] + "\n" + "\n".join(
        "male,2,own,little,moderate,1000,12,car,old" for _ in range(80)) + "\n"
    result = batch.validate_batch(bad.encode(), schema)
    assert result.total_issues == 80 and len(result.issues) == batch.MAX_ISSUES_SHOWN


# ------------------------------------------------------------------ one parse
# Every kind, nullable and not; names that belong to no data set.
MIXED = Schema(
    (ColumnSchema("count", "int", nullable=True, min=170, max=230),
     ColumnSchema("size", "int", nullable=False, min=0, max=10**6),
     ColumnSchema("weight", "float", nullable=True, min=32.0, max=60.0),
     ColumnSchema("flag", "bool", nullable=True),
     ColumnSchema("group", "category", nullable=True, categories=("a", "b"))),
    target=None, serving_columns=("count", "size", "weight", "flag", "group"))


def test_batch_refuses_what_the_checker_refuses_with_the_row(schema) -> None:
    # float() reads the first two as 35; the converter of the time did not, and raised past
    # the checker: the user saw a generic error with no row.
    data = (GOOD_ROW + "male,2,own,little,moderate,1000,12,car,3_5\n"
            "male,2,own,little,moderate,1000,12,car,\u0663\u0665\n"
            'male,2,own,little,moderate,"1,234",12,car,35\n').encode()
    texts = [i.text for i in batch.validate_batch(data, schema).issues]
    assert [t.split(":")[0] for t in texts] == [
        "row 2, column 'age'", "row 3, column 'age'", "row 4, column 'credit_amount'"]
    assert all("digits 0-9" in t for t in texts)
    with pytest.raises(DataError) as info:
        batch.coerce_frame(pd.read_csv(io.BytesIO(data), dtype=str), schema)
    assert info.value.fields == {"column": "age", "row": 2, "rule": "type"}
    assert str(info.value).startswith("row 2, column 'age': '3_5' (not a number)")


def test_empty_cells_of_nullable_columns_are_missing_values_not_text() -> None:
    data = (b"count,size,weight,flag,group\n"
            b"181,5,39.1,true,a\n"
            b",9007199254740993,,,\n")
    result = batch.validate_batch(data, MIXED)
    assert result.ok, result.issues
    frame = result.frame
    # An int column with a missing cell is float64 with NaN, as pandas reads it for training.
    assert frame["count"].dtype == "float64" and frame["count"].isna().tolist() == [False, True]
    assert frame["size"].dtype == "int64" and frame.loc[1, "size"] == 9007199254740993
    assert frame["weight"].isna().tolist() == [False, True]
    # Not the text "None": an unknown category to the model, where training had a missing value.
    assert frame["flag"].tolist()[0] is True and pd.isna(frame.loc[1, "flag"])
    assert frame["group"].tolist()[0] == "a" and pd.isna(frame.loc[1, "group"])


_VALID_NUMBER = st.one_of(
    st.integers(-10**6, 10**6).map(str), st.floats(-1e6, 1e6).map(repr),
    st.sampled_from(["", " ", " +7 ", "1e3", "35.0", ".5", "-0", "9007199254740993"]))
_HOSTILE_NUMBER = st.one_of(
    st.text(alphabet="0123456789\u0663\uff15+-.,_eE \u00a0", max_size=8),
    st.sampled_from(["nan", "inf", "3_5", "1,000", "\u0663\u0665", "\uff13\uff15", "9" * 25]))
# Mostly valid cells, so that whole files are accepted often enough to compare values.
_NUMBER_CELL = st.integers(0, 4).flatmap(lambda k: _HOSTILE_NUMBER if k == 4 else _VALID_NUMBER)
_UPLOAD_ROW = st.fixed_dictionaries({
    "count": _NUMBER_CELL, "size": _NUMBER_CELL, "weight": _NUMBER_CELL,
    "flag": st.sampled_from(["", "true", " FALSE ", "0", "1", "yes"]),
    "group": st.sampled_from(["", "a", " b ", "a", "c"]),
})


@settings(deadline=None)
@given(rows=st.lists(_UPLOAD_ROW, min_size=1, max_size=3))
def test_an_accepted_upload_holds_exactly_the_values_the_checker_parsed(rows) -> None:
    names = list(MIXED.serving_columns)
    data = (",".join(names) + "\n" + "\n".join(
        ",".join('"' + row[n].replace('"', '""') + '"' for n in names) for row in rows)
        + "\n").encode()
    result = batch.validate_batch(data, MIXED)  # never raises: refusals come back as issues
    raw = pd.DataFrame(rows, columns=names)
    if not result.ok:
        assert all(i.row is not None and i.column for i in result.issues)
        with pytest.raises(DataError) as info:  # the converter alone refuses the same way
            batch.coerce_frame(raw, MIXED)
        first = result.issues[0]
        assert (info.value.fields["row"], info.value.fields["column"]) == (first.row,
                                                                         first.column)
        return
    for name in names:
        for i, cell in enumerate(raw[name]):
            parsed, _ = check_cell(cell, MIXED.by_name[name], text=True)
            served = result.frame.loc[i, name]
            assert (pd.isna(served) if parsed is None else served == parsed), (name, cell)
    pd.testing.assert_frame_equal(batch.coerce_frame(raw, MIXED).frame, result.frame)


def test_ttl_cache_rereads_after_ttl() -> None:
    now = [0.0]
    cache = TTLCache(2.0, clock=lambda: now[0])
    calls = []
    load = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert cache.get("k", load) == 1 and cache.get("k", load) == 1
    now[0] = 1.9
    assert cache.get("k", load) == 1  # still fresh: not loaded again
    now[0] = 2.5
    assert cache.get("k", load) == 2
    cache.clear()
    assert cache.get("k", load) == 3


# ------------------------------------------------------------------------ context
def test_context_predicts_logs_and_takes_feedback(app_env) -> None:
    from mlops.serving.predlog import read_predictions
    from mlops.serving.rules import version_stats

    ctx = AppContext.create(ROOT)
    assert ctx.status().production == 2
    row = batch.validate_batch(GOOD_ROW.encode(), ctx.schema).frame
    result = ctx.predict(row, version=None, session_key="s1")
    assert result.version == 2 and result.routed == "production"
    assert 0.0 <= result.frame["probability"].iloc[0] <= 1.0
    pinned = ctx.predict(row, version=1, session_key="s1")
    assert pinned.version == 1 and pinned.routed == "pinned"
    assert ctx.record_feedback(result.frame["request_id"].iloc[0], 1, token=TOKEN)
    assert not ctx.record_feedback(pinned.frame["request_id"].iloc[0], 0)  # public: untrusted
    summary = live.live_summary(read_predictions(ctx.log_path, model=NAME))
    by_version = summary.per_version.set_index("version")
    assert by_version.loc["v2", "labelled"] == 1
    # A pinned prediction is shown apart: never routed traffic, its label never evidence.
    assert by_version.loc["v1", "requests"] == 0 and by_version.loc["v1", "pinned"] == 1
    assert by_version.loc["v1", "labelled"] == 0
    # The app shows the serving rules' own statistics, not a second computation of them.
    log = read_predictions(ctx.log_path, model=NAME, inputs=False)
    assert summary.stats == (version_stats(log, 1), version_stats(log, 2))
    ctx.close()


def test_an_upload_is_judged_once_from_validation_to_the_log(app_env, monkeypatch) -> None:
    """The app's checks (every problem, with its row) and the router's (the first) are the
    same rules: an accepted upload is checked cell by cell once, not again when scored."""
    from mlops.core import cells
    from mlops.serving import request_check

    ctx = AppContext.create(ROOT)
    judged: list[str] = []

    def counted(series, spec, **kwargs):
        judged.append(spec.name)
        return cells.check_column(series, spec, **kwargs)
    monkeypatch.setattr(batch, "check_column", counted)
    monkeypatch.setattr(request_check, "check_column", counted)
    upload = batch.validate_batch((GOOD_ROW + GOOD_ROW.splitlines()[1] + "\n").encode(),
                                  ctx.schema)
    assert batch.out_of_range_note(upload.checked) is None
    scored = ctx.predict(upload.checked, version=None, session_key="s")
    assert len(scored.frame) == 2
    assert sorted(judged) == sorted(ctx.schema.serving_columns)
    # A frame that did not come through the checks is checked by the router itself, and
    # so is a batch checked against another schema (an equal one is not the same object).
    ctx.predict(upload.frame, version=None, session_key="s")
    assert len(judged) == 2 * len(ctx.schema.serving_columns)
    import dataclasses

    other = dataclasses.replace(upload.checked, schema=dataclasses.replace(ctx.schema))
    ctx.predict(other, version=None, session_key="s")
    assert len(judged) == 3 * len(ctx.schema.serving_columns)
    ctx.close()


def test_context_loads_each_model_once_per_process(app_env, monkeypatch) -> None:
    """The explanation of a served prediction uses the router's model, not a second load."""
    ctx = AppContext.create(ROOT)
    loads: list[int] = []
    original = ctx.registry.load_model
    monkeypatch.setattr(ctx.registry, "load_model",  # a number, or the record already read
                        lambda name, version: loads.append(getattr(version, "version", version))
                        or original(name, version))
    row = batch.validate_batch(GOOD_ROW.encode(), ctx.schema).frame
    ctx.predict(row, version=None, session_key="s1")
    assert loads == [2]
    ctx.explain(2, row)
    assert loads == [2] and ctx.model(2) is ctx.router.loaded_pipeline(2)
    ctx.explain(1, row)  # not served: loaded for the explanation, once
    ctx.explain(1, row)
    assert loads == [2, 1]
    ctx.close()


def test_context_rereads_aliases_after_the_ttl_without_restart(app_env) -> None:
    now = [100.0]
    ctx = AppContext.create(ROOT, clock=lambda: now[0])
    assert ctx.status().production == 2
    _registry(app_env).rollback(NAME, actor="elsewhere", reason="test")
    now[0] += ALIAS_TTL_SECONDS * 0.9
    assert ctx.status().production == 2  # cached: the registry is not read on every rerun
    now[0] += ALIAS_TTL_SECONDS * 0.2
    assert ctx.status().production == 1  # expired: the move made elsewhere shows up
    _registry(app_env).promote(NAME, 2, "production", expected=1, actor="elsewhere",
                               reason="test")
    assert ctx.status(fresh=True).production == 2  # fresh=True skips the cache at once


def test_serving_status_names_the_hub_commit_of_production(
        hub_server, registry_model_dir, tmp_path) -> None:
    from mlops.registry.hub import HubRegistry

    reg = HubRegistry("org/app-status", endpoint=hub_server.url, cache_dir=tmp_path / "c")
    reg.register(NAME, registry_model_dir / "model.skops", metadata={"gates_passed": True})
    reg.promote(NAME, 1, "production", expected=None, actor="test", reason="test")
    tags = {t.name: t.target_commit for t in reg.api.list_repo_refs(reg.repo_id).tags}
    status = serving_status(reg, NAME)
    assert status.revision == reg.revision(NAME, 1) == tags[f"{NAME}--v1"]
    assert status.label == f"{NAME} v1 @ {tags[f'{NAME}--v1'][:10]}"
    assert reg.revision(NAME, 2) is None  # not stored


def test_serving_status_has_no_revision_on_a_local_registry(app_env) -> None:
    reg = _registry(app_env)
    status = serving_status(reg, NAME)
    assert (status.production, status.revision, status.label) == (2, None, f"{NAME} v2")
    assert status.versions == (1, 2) and reg.revision(NAME, 2) is None


# ------------------------------------------------------------------------ AppTest views
def test_public_view_predicts_with_the_serving_version(app_env) -> None:
    at = _app()
    assert "credit-risk v2" in at.markdown[0].value
    at.number_input(key="field_credit-risk_age").set_value(30)
    at.selectbox(key="field_credit-risk_housing").set_value("rent")
    _button(at, "predict").click()
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    # The heading and the class names come from params (model.name, data.class_labels).
    assert at.title[0].value == "Credit risk"
    assert metrics["Prediction"] in {"bad credit", "good credit"}
    assert metrics["Answered by"] == "v2 (production)"
    assert metrics["Chance of good credit"].endswith("%")
    # The header says what the model does and how good it is, in plain words.
    header = at.info[0].value
    assert "predicts **risk**: bad credit or good credit" in header
    assert "times in 100" in header and "95 % interval" in header
    # ...and why: a sentence and a chart of the inputs that pushed it.
    why = next(m.value for m in at.markdown if m.value.startswith("**Why?**"))
    assert "pushed it" in why
    chart = _charts(at)[-1]
    assert any("=" in str(v) for v in chart.iloc[:, 0])  # "age = 35 years" style labels
    # feedback goes into the log and feeds live accuracy
    at.radio(key="feedback_label").set_value(1)
    _button(at, "feedback_submit").click()
    at.run()
    assert any("Recorded outcome good credit" in s.value for s in at.success)
    with sqlite3.connect(app_env["MLOPS_LOG_PATH"]) as conn:
        assert conn.execute("SELECT count(*) FROM feedback").fetchone()[0] == 1


def test_first_page_draws_the_headline_and_form_without_pandas(app_env) -> None:
    """Cold start: the first page needs the schema and the records, not pandas, numpy or
    scikit-learn (their imports were most of the app's start-up); a fresh process shows it."""
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({APP!r}, default_timeout=60).run()\n"
        "assert not at.exception, at.exception\n"
        "assert 'times in 100' in at.info[0].value\n"
        "assert at.number_input(key='field_credit-risk_age').value > 0\n"
        "print(' '.join(m for m in ('pandas', 'numpy', 'sklearn', 'pyarrow') "
        "if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env={**os.environ, **app_env})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""


def test_version_selector_pins_a_version_read_only(app_env) -> None:
    at = _app()
    _select(at, "version_choice").set_value(1)
    at.run()
    _button(at, "predict").click()
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Answered by"] == "v1 (pinned)"
    assert _registry(app_env).aliases(NAME)["production"] == 2  # nothing moved
    _screen(at, "Model card")
    assert any(s.value.startswith("credit-risk v1") for s in at.subheader)  # its model card


def test_batch_view_scores_and_reports_problems(app_env) -> None:
    at = _screen(_app(), "Batch")
    at.text_area(key="batch_text").set_value(GOOD_ROW + GOOD_ROW.splitlines()[1] + "\n")
    _button(at, "batch_score").click()
    at.run()
    assert not at.exception, at.exception
    assert any("Scored 2 rows with v2" in s.value for s in at.success)
    results = _frame_with(at, "predicted risk")
    # Prediction columns first, in the Predict screen's words; inputs after.
    assert list(results.columns[:4]) == ["request id", "predicted risk",
                                         "chance of good credit", "answered by"]
    assert list(results.columns[4:]) == list(load_schema(ROOT / 'data' / 'schema.yaml')
                                             .serving_columns)
    at.text_area(key="batch_text").set_value(GOOD_ROW.replace("own", "castle"))
    _button(at, "batch_score").click()
    at.run()
    assert "1 cell needs fixing" in at.error[0].value
    problems = _frame_with(at, "problem")
    assert problems.iloc[0]["column"] == "Housing" and problems.iloc[0]["row"] == 1


def test_a_paste_over_the_upload_cap_is_refused_in_words(app_env) -> None:
    at = _screen(_app(), "Batch")
    area = at.text_area(key="batch_text")
    assert area.max_chars == batch.MAX_UPLOAD_BYTES + 1  # the one cap, for paste and file
    filler = "male,2,own,little,moderate,1000,12,car,35\n"
    area.set_value(GOOD_ROW + filler * (batch.MAX_UPLOAD_BYTES // len(filler) + 10))
    _button(at, "batch_score").click()
    at.run()
    assert not at.exception, at.exception
    [error] = [e.value for e in at.error]
    assert error.startswith("The pasted text is longer than the limit of 2,000,000 bytes")
    assert not any("Scored" in s.value for s in at.success)


def test_csv_download_escapes_spreadsheet_formulas() -> None:
    import csv
    import io

    frame = pd.DataFrame({
        "text": ['=HYPERLINK("http://evil.example","click")', "+1+2", "-2+3", "@SUM(A1)",
                 "\tx", "\rx", "plain", "-3", "1e5"],
        "number": [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0, -8.0, 9.0],
        "whole": [-1, 2, -3, 4, 5, 6, 7, -8, 9],
        "=cmd|' /C calc'!A0": ["a"] * 9,
    })
    rows = list(csv.reader(io.StringIO(batch.to_csv_bytes(frame).decode("utf-8"),
                                       newline="")))
    assert rows[0] == ["text", "number", "whole", "'=cmd|' /C calc'!A0"]
    assert [r[0] for r in rows[1:]] == [
        '\'=HYPERLINK("http://evil.example","click")', "'+1+2", "'-2+3", "'@SUM(A1)",
        "'\tx", "'\rx", "plain", "-3", "1e5"]
    # Numbers stay numbers: a negative one is not a formula.
    assert [r[1] for r in rows[1:3]] == ["-1.5", "2.0"] and rows[1][2] == "-1"
    assert frame["text"][0].startswith("=")  # the shown frame is left as it was


def test_model_card_shows_metrics_and_plots(app_env) -> None:
    at = _screen(_app(), "Model card")
    metrics = _frame_with(at, "metric")
    assert "ROC-AUC" in set(metrics["metric"])  # human names, not internal keys
    assert "roc_auc" not in set(metrics["metric"])
    gates = _frame_with(at, "rule")
    assert set(gates["check"]) == {"ROC-AUC"} and gates["rule"].iloc[0] == "≥ 0.700"
    assert not at.get("image")  # plots are read only when their part is opened
    at.radio(key="card_view").set_value("Plots").run()
    assert len(at.get("image")) >= 1
    at.radio(key="card_view").set_value("Lineage").run()
    lineage = _frame_with(at, "where")
    assert "git commit" in set(lineage["what"])


def test_without_the_token_no_operator_action_is_possible(app_env) -> None:
    before = len(_registry(app_env).history(NAME))
    at = _screen(_app(), "Operator")
    assert not any(b.key and b.key.startswith("op_") for b in at.button)
    assert any("Enter the operator token" in w.value for w in at.warning)
    at.text_input(key="admin_token").set_value("wrong-token")
    at.run()
    assert not any(b.key and b.key.startswith("op_") for b in at.button)
    # Forged session state: flags and button states do not unlock anything.
    for key, value in {"operator": True, "is_admin": True, "authenticated": True,
                       "op_message": "forged"}.items():
        at.session_state[key] = value
    at.run()
    assert not any(b.key and b.key.startswith("op_") for b in at.button)
    assert len(_registry(app_env).history(NAME)) == before


def test_operator_view_disabled_when_no_token_is_configured(app_env, monkeypatch) -> None:
    monkeypatch.delenv("MLOPS_ADMIN_TOKEN")
    at = _screen(_app(), "Operator")
    assert not [t for t in at.text_input if t.key == "admin_token"]
    assert any("disabled" in i.value for i in at.info)


def test_operator_screen_points_to_replacing_a_wrong_production(app_env) -> None:
    at = _operator()
    pointer = [c.value for c in at.caption if "champion gate" in c.value]
    assert pointer and "mlops promote VERSION --to production --force --reason" in pointer[0]
    assert "ledger" in pointer[0]


def test_operator_rolls_back_and_promotes_as_app_after_confirmation(app_env) -> None:
    at = _operator()
    ledger = _frame_with(at, "actor")
    assert list(ledger["actor"])[:1] == ["fixture"]
    registry = _registry(app_env)
    before = len(registry.history(NAME))
    # The button only opens a dialog that says exactly what will change.
    _button(at, "op_rollback").click()
    at.run()
    assert any("goes back from v2 to **v1**" in m.value for m in at.markdown)
    assert len(registry.history(NAME)) == before  # nothing moved yet
    _reason_field(at).set_value("typed, then cancelled")
    at.run()
    _button(at, "op_cancel").click()
    at.run()
    assert not [b for b in at.button if b.key == "op_confirm"]  # the dialog is gone
    assert len(registry.history(NAME)) == before
    _button(at, "op_rollback").click()
    at.run()
    assert _reason_field(at).value == ""  # a cancelled reason is not offered again
    _button(at, "op_cancel").click()
    at.run()
    # The ledger names the operator who typed a name (markup stripped), else says "app".
    at.text_input(key="operator_name").set_value("Ana <b>Ops</b>")
    _confirmed(at, "op_rollback", "v2 misbehaves")
    assert registry.aliases(NAME)["production"] == 1
    last = registry.history(NAME)[-1]
    assert (last.actor, last.action, last.to_version, last.reason) == (
        "app:Ana bOpsb", "rollback", 1, "v2 misbehaves")
    # The header and the sidebar both follow the alias in the same run.
    assert "credit-risk v1" in at.markdown[0].value
    assert "production=v1" in at.sidebar.caption[0].value
    assert any(s.value.startswith("Roll back production from v2 to v1: ledger entry")
               for s in at.success)
    # v1 is now the first production version left on the stack: no further rollback.
    assert _button(at, "op_rollback").disabled
    assert any("none to go back to" in c.value for c in at.caption)
    # Promote v2 back: the reason field is empty again (never the rollback's reason).
    _select(at, "op_version").set_value(2)
    at.selectbox(key="op_alias").set_value("production")
    at.run()
    _button(at, "op_promote").click()
    at.run()
    assert _reason_field(at).value == ""
    _reason_field(at).set_value("fixed")
    at.run()
    _button(at, "op_confirm").click()
    at.run()
    last = registry.history(NAME)[-1]
    assert (last.actor, last.action, last.to_version, last.reason) == (
        "app:Ana bOpsb", "promote", 2, "fixed")
    assert _button(at, "op_promote").disabled  # v2 is already production
    assert any("v2 is already production" in c.value for c in at.caption)


def test_wrong_and_missing_tokens_get_different_messages(app_env) -> None:
    at = _screen(_app(), "Operator")
    assert any("Enter the operator token" in w.value for w in at.warning)
    assert not at.error
    at.text_input(key="admin_token").set_value("not-the-token")
    at.run()
    assert any("not right" in e.value for e in at.error)
    assert not any("Enter the operator token" in w.value for w in at.warning)
    shown = " ".join(e.value for e in at.error)
    assert TOKEN not in shown and str(len(TOKEN)) not in shown


def test_a_weak_token_keeps_the_operator_screen_disabled_and_says_why(
        app_env, monkeypatch) -> None:
    monkeypatch.setenv("MLOPS_ADMIN_TOKEN", "37")
    at = _app()
    assert not [t for t in at.text_input if t.key == "admin_token"]  # nothing to type into
    assert at.metric or at.button  # the public page works
    _screen(at, "Operator")
    [warning] = [w.value for w in at.warning if "disabled" in w.value]
    assert "shorter than 16 characters" in warning and auth.GENERATE_TOKEN in warning
    assert not any(b.key and b.key.startswith("op_") for b in at.button)
    # A forged token field opens nothing either.
    at.session_state["admin_token"] = "37"
    at.run()
    assert not any(b.key and b.key.startswith("op_") for b in at.button)


@pytest.fixture
def limiter(monkeypatch) -> tuple[auth.AttemptLimiter, _Clock]:
    """A fresh wrong-token limiter for the app, on a clock the test moves."""
    clock = _Clock()
    fresh = auth.AttemptLimiter(clock=clock)
    monkeypatch.setattr(auth, "LIMITER", fresh)
    return fresh, clock


def test_wrong_tokens_slow_down_in_a_session(app_env, limiter, caplog) -> None:
    _, clock = limiter
    at = _screen(_app(), "Operator")
    with caplog.at_level("WARNING", logger="mlops.app.auth"):
        for guess in ("first-wrong-guess-1", "second-wrong-guess-2"):
            at.text_input(key="admin_token").set_value(guess)
            at.run()
            assert any("not right" in e.value for e in at.error)
    assert any("next one is checked in 1 s" in e.value for e in at.error)
    at.text_input(key="admin_token").set_value(TOKEN)
    at.run()  # within the wait: not even the right token is checked
    assert any("Too many wrong operator tokens" in e.value for e in at.error)
    assert not any(b.key and b.key.startswith("op_") for b in at.button)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "2 in a row" in logged and "guess" not in logged and TOKEN not in logged
    clock.now += 1
    at.run()
    assert not at.error and _button(at, "op_rollback")


def test_wrong_tokens_slow_down_per_client_across_sessions(app_env, limiter,
                                                           monkeypatch) -> None:
    from mlops.app import guard

    monkeypatch.setattr(guard, "_client", lambda: "93.184.216.34")
    for guess in ("first-wrong-guess-1", "second-wrong-guess-2"):
        at = _screen(_app(), "Operator")  # a new browser tab for every guess
        at.text_input(key="admin_token").set_value(guess)
        at.run()
    at = _screen(_app(), "Operator")
    at.text_input(key="admin_token").set_value(TOKEN)
    at.run()
    assert any("Too many wrong operator tokens" in e.value for e in at.error)
    assert not any(b.key and b.key.startswith("op_") for b in at.button)
    # Nor does the feedback form say whether a token was right while the address waits.
    _screen(at, "Predict")
    _button(at, "predict").click()
    at.run()
    _button(at, "feedback_submit").click()
    at.run()
    assert any("Recorded as public feedback" in c.value for c in at.caption)


def test_operator_sees_conflicts_instead_of_overwriting(app_env) -> None:
    at = _operator()
    _select(at, "op_version").set_value(1)
    at.selectbox(key="op_alias").set_value("candidate")
    at.run()
    _button(at, "op_promote").click()
    at.run()
    # someone else sets the candidate while the dialog is open
    _registry(app_env).promote(NAME, 2, "candidate", expected=None, actor="ci", reason="x")
    _reason_field(at).set_value("try v1")
    at.run()
    _button(at, "op_confirm").click()
    at.run()
    assert any("failed" in e.value for e in at.error)
    assert _registry(app_env).aliases(NAME)["candidate"] == 2


def test_operator_monitoring_charts(app_env) -> None:
    ctx = AppContext.create(ROOT)
    row = batch.validate_batch(GOOD_ROW.encode(), ctx.schema).frame
    ctx.predict(pd.concat([row] * 3, ignore_index=True), version=None, session_key="s")
    ctx.log.flush()
    at = _operator()
    table = _frame_with(at, "latency p99")
    assert table.set_index("version").loc["v2", "requests"] == "3"
    requests, errors, latency, quality = _charts(at)[:4]  # over time, one line per version
    assert requests["value"].sum() == 3 and set(requests["series"]) == {"v2"}
    assert errors["value"].sum() == 0
    assert set(latency["series"]) == {"v2 p50", "v2 p99"}
    # No labels yet: quality is the CBPE estimate alone, a probability.
    estimated = quality[quality["series"] == "v2 estimated"]
    assert len(estimated) and 0 <= estimated["value"].iloc[-1] <= 1
    at.toggle(key="mon_drift").set_value(True).run()
    # Three requests are far below the one minimum sample: no verdict, no bars.
    assert any("Not enough requests to judge drift (3 of the 30 needed)" in m.value
               for m in at.markdown)
    ctx.close()


def test_the_operator_screen_reads_the_ledger_and_the_log_once_per_run(app_env,
                                                                        monkeypatch) -> None:
    """Rollback's target, the ledger table, the canary's steps and the drift report share
    one read of the ledger; the table, the charts and drift share one read of the log."""
    from mlops.registry.local import LocalRegistry
    from mlops.serving.predlog import readers

    ctx = AppContext.create(ROOT)
    row = batch.validate_batch(GOOD_ROW.encode(), ctx.schema).frame
    ctx.predict(pd.concat([row] * 3, ignore_index=True), version=None, session_key="s")
    ctx.close()
    at = _operator()
    at.toggle(key="mon_timeline_drift").set_value(True)
    at.toggle(key="mon_drift").set_value(True)
    reads: list[str] = []
    real_history, real_open = LocalRegistry.history, readers.open_read_only

    def history(self, name):
        reads.append("ledger")
        return real_history(self, name)

    def traced(path):
        conn = real_open(path)
        conn.set_trace_callback(
            lambda sql: reads.append("log") if "FROM predictions" in sql else None)
        return conn
    monkeypatch.setattr(LocalRegistry, "history", history)
    monkeypatch.setattr(readers, "open_read_only", traced)
    at.run()
    assert not at.exception, at.exception
    assert any("drift" in m.value for m in at.markdown)  # the drift report was drawn
    assert sorted(reads) == ["ledger", "log"]


@pytest.mark.slow
def test_operator_canary_start_advance_abort_shadow_and_blue_green(app_env) -> None:
    from mlops.serving.deployment import read_deployment

    registry = _registry(app_env)
    registry.rollback(NAME, actor="fixture", reason="make v2 a candidate again")  # prod v1
    at = _operator()
    _select(at, "op_candidate").set_value(2)
    at.run()
    _button(at, "op_canary_start").click()
    at.run()
    assert any("starts answering **5 %**" in m.value for m in at.markdown)
    assert read_deployment(registry, NAME)[0] is None  # not before the confirmation
    _reason_field(at).set_value("canary v2")
    at.run()
    _button(at, "op_confirm").click()
    at.run()
    dep, _ = read_deployment(registry, NAME)
    assert (dep.strategy, dep.candidate, dep.weight) == ("canary", 2, 5.0)
    # While a release runs, production cannot be moved by hand.
    _select(at, "op_version").set_value(2)
    at.selectbox(key="op_alias").set_value("production")
    at.run()
    assert _button(at, "op_promote").disabled
    _confirmed(at, "op_canary_advance", "looks good")
    assert read_deployment(registry, NAME)[0].weight == 25.0
    # a visitor's predictions now go through the router: sticky per session, logged
    _screen(at, "Predict")
    _button(at, "predict").click()
    at.run()
    assert {m.label: m.value for m in at.metric}["Answered by"] in {
        "v1 (production)", "v2 (canary)"}
    _screen(at, "Operator")
    _confirmed(at, "op_release_abort", "stop it")
    assert read_deployment(registry, NAME)[0].status == "aborted"
    _confirmed(at, "op_shadow_start", "shadow v2")
    assert read_deployment(registry, NAME)[0].strategy == "shadow"
    _confirmed(at, "op_shadow_stop", "enough")
    assert read_deployment(registry, NAME)[0].status == "stopped"
    _confirmed(at, "op_bluegreen_start", "load v2 next to v1")
    dep = read_deployment(registry, NAME)[0]
    assert (dep.strategy, sorted(dep.slots.values())) == ("blue_green", [1, 2])
    assert registry.aliases(NAME)["production"] == 1  # loading is not switching
    _confirmed(at, "op_bluegreen_switch", "switch to v2")
    assert registry.aliases(NAME)["production"] == 2
    assert "credit-risk v2" in at.markdown[0].value
    app_entries = [e for e in registry.history(NAME) if e.actor == "app"]
    # start, advance, abort, start, stop, start, switch (alias move + state)
    reasons = [e.reason for e in app_entries]
    assert reasons[0] == "canary v2" and "looks good" in reasons[1]
    assert reasons[2:5] == ["abort: stop it", "shadow v2", "enough"]
    assert app_entries[-1].reason == "switch to v2"


def test_compare_screen_shows_two_versions_side_by_side(app_env) -> None:
    at = _screen(_app(), "Compare")
    entries = at.selectbox(key="cmp_a").options
    assert entries[0].startswith("v2 · production · logistic_regression · 20")
    table = _frame_with(at, "change")
    assert list(table.columns) == ["metric", "v2", "v1", "change", "verdict"]
    auc = table.set_index("metric").loc["ROC-AUC"]
    assert auc["change"].startswith(("+", "-")) and "(" in auc["v2"]  # value (interval)
    at.radio(key="cmp_view").set_value("Params").run()
    diff = _frame_with(at, "params key")
    assert list(diff["params key"]) == ["model.hyperparameters.logistic_regression.C"]
    assert list(diff.iloc[0][["v2", "v1"]]) == ["1.0", "0.05"]
    at.radio(key="cmp_view").set_value("Plots").run()
    assert len(at.get("image")) == 2  # the same plot of each version, next to each other
    at.radio(key="cmp_view").set_value("Timeline").run()
    timeline = _frame_with(at, "who")
    assert list(timeline["what"])[:2] == ["production: promoted v1 → v2",
                                          "production: promoted → v1"]
    assert set(timeline["why"]) == {"test fixture"}
    at.radio(key="cmp_view").set_value("Lineage").run()
    assert sum("where" in d.value.columns for d in at.dataframe) == 2


# ------------------------------------------------------------------------ live push
def test_live_log_is_pushed_to_a_dataset_repo(app_env, hub_server, tmp_path) -> None:
    from huggingface_hub import HfApi

    from mlops.space.logpush import snapshot_log, start_push

    ctx = AppContext.create(ROOT)
    row = batch.validate_batch(GOOD_ROW.encode(), ctx.schema).frame
    result = ctx.predict(row, version=None, session_key="s")
    ctx.record_feedback(result.frame["request_id"].iloc[0], 0)
    assert snapshot_log(tmp_path / "absent.sqlite", tmp_path / "x.sqlite") is None
    api = HfApi(endpoint=hub_server.url, token="test-token")
    scheduler = start_push(ctx.log_path, "org/live-log", every_minutes=60, hf_api=api)
    try:
        scheduler.trigger().result(timeout=30)  # push now instead of in an hour
    finally:
        scheduler.stop()
        ctx.close()
    repo = next(r for k, r in hub_server.state.repos.items() if "live-log" in k)
    files = repo.commits[repo.branches["main"]][1]
    pushed = tmp_path / "pushed.sqlite"
    pushed.write_bytes(files["live/predictions.sqlite"])
    with sqlite3.connect(pushed) as conn:
        assert conn.execute("SELECT count(*) FROM predictions").fetchone()[0] == 1
        assert conn.execute("SELECT label FROM feedback").fetchone()[0] == 0


def test_model_picker_serves_each_model_of_the_repository(app_env) -> None:
    """With models/<name>/params.yaml beside params.yaml, the sidebar picks the model: the
    diabetes regressor answers with a value and the operator view acts on its namespace."""
    from sklearn.linear_model import Ridge

    from mlops.core.config import load_params
    from mlops.core.data import read_csv
    from mlops.core.modelio import save_model
    from mlops.registry.local import LocalRegistry

    params = load_params(ROOT / "models" / "diabetes" / "params.yaml")
    frame = read_csv(params.resolve(params.data.path))
    model = Ridge().fit(frame.drop(columns=[params.data.target]), frame[params.data.target])
    save_model(model, Path(app_env["MLOPS_REGISTRY_PATH"]).parent / "ridge.skops")
    registry = LocalRegistry(Path(app_env["MLOPS_REGISTRY_PATH"]))
    registry.register(params.model.name, Path(app_env["MLOPS_REGISTRY_PATH"]).parent /
                      "ridge.skops", metadata={"gates_passed": True, "metrics": {}})
    registry.promote(params.model.name, 1, "production", expected=None, actor="test",
                     reason="test")
    at = _app()
    assert at.selectbox(key="model_choice").options == ["credit-risk", "diabetes"]
    assert at.title[0].value == "Credit risk"
    at.number_input(key="field_credit-risk_age").set_value(99).run()  # diabetes has age too
    at.selectbox(key="model_choice").set_value("diabetes").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Diabetes"
    assert at.number_input(key="field_diabetes_age").value == 50, "the form starts afresh"
    assert "v1" in at.markdown[0].value  # serving: diabetes@production
    assert any(n.label.startswith("Bmi") for n in at.number_input), "its own form"
    _button(at, "predict").click().run()
    assert not at.exception, at.exception
    shown = " ".join(m.value for m in at.metric) + " ".join(m.value for m in at.markdown)
    assert "points" in shown, "a predicted value in the target's unit"
