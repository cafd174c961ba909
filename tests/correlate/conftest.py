"""Diff-test helpers: compare a correlator table with an expected table written as CSV."""

from __future__ import annotations

import io
import textwrap

import pandas as pd
import pytest


def _read(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), skipinitialspace=True, keep_default_na=True)


def assert_table(actual: pd.DataFrame, expected_csv: str) -> None:
    """``actual`` restricted to the expected columns equals the inline CSV table.

    Both sides go through the same CSV parser, so dtypes compare like for like (perfetto's
    diff tests compare text the same way).
    """
    expected = _read(textwrap.dedent(expected_csv).strip())
    missing = [c for c in expected.columns if c not in actual.columns]
    assert not missing, f"columns missing from the result: {missing}"
    got = _read(actual[list(expected.columns)].to_csv(index=False))
    pd.testing.assert_frame_equal(got, expected, check_dtype=True)


@pytest.fixture(name="assert_table")
def assert_table_fixture():
    """The :func:`assert_table` check, as a fixture (test modules are not a package)."""
    return assert_table
