"""ICD-10-CM form, NPI check digit and CSV list parsing."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpm_billing.csvlists import normalise_icd10, npi_valid, parse_list_csv
from rpm_billing.errors import Invalid


@pytest.mark.parametrize(
    ("code", "expected"), [("I10", "I10"), ("e11.9", "E11.9"), ("E1165", "E11.65"), ("S72.001A", "S72.001A")]
)
def test_normalise_icd10_accepts_valid_forms(code: str, expected: str) -> None:
    # Given / When
    result = normalise_icd10(code)
    # Then
    assert result == expected


@pytest.mark.parametrize("code", ["", "10", "I1", "II0", "I10.12345", "I10..1", "I-10", "I10."])
def test_normalise_icd10_rejects_malformed(code: str) -> None:
    # Given / When
    result = normalise_icd10(code)
    # Then
    assert result is None


def test_npi_valid_accepts_check_digit() -> None:
    # Given: the CMS example NPI
    # When / Then
    assert npi_valid("1234567893")


@settings(max_examples=50, deadline=None)
@given(st.from_regex(r"\A[0-9]{9}\Z"))
def test_npi_valid_exactly_one_check_digit_per_prefix(prefix: str) -> None:
    # Given: nine digits
    # When
    valid = [d for d in "0123456789" if npi_valid(prefix + d)]
    # Then: exactly one check digit completes them
    assert len(valid) == 1


@pytest.mark.parametrize("npi", ["1234567890", "123456789", "12345678931", "abcdefghij"])
def test_npi_valid_rejects_bad(npi: str) -> None:
    # Given / When / Then
    assert not npi_valid(npi)


def test_parse_list_csv_providers() -> None:
    # Given
    text = "name,npi\nDr A,1234567893\n\nDr A,1234567893\n"
    # When
    entries = parse_list_csv("billing-providers", text)
    # Then: blank lines and duplicates dropped
    assert entries == [{"name": "Dr A", "npi": "1234567893"}]


def test_parse_list_csv_names_bad_line() -> None:
    # Given: the header is line 1, the bad NPI is on line 3
    text = "name,npi\nDr A,1234567893\nDr B,1234567890\n"
    # When
    with pytest.raises(Invalid) as caught:
        parse_list_csv("billing-providers", text)
    # Then
    assert [f.path for f in caught.value.fields] == ["line 3.npi"]


def test_parse_list_csv_counts_quoted_newlines() -> None:
    # Given: a quoted description spanning lines 2-3, a bad code on line 4
    text = 'code,description\nI10,"two\nlines"\nXX,bad\n'
    # When
    with pytest.raises(Invalid) as caught:
        parse_list_csv("icd10-codes", text)
    # Then
    assert caught.value.fields[0].path == "line 4.code"


def test_parse_list_csv_requires_header() -> None:
    # Given: a list without its header
    text = "Medicare\n"
    # When
    with pytest.raises(Invalid) as caught:
        parse_list_csv("insurance-carriers", text)
    # Then
    assert caught.value.fields[0].path == "line 1"


def test_parse_list_csv_icd10_optional_description() -> None:
    # Given
    text = "code\ni10\nE119\n"
    # When
    entries = parse_list_csv("icd10-codes", text)
    # Then
    assert entries == [{"code": "I10", "description": ""}, {"code": "E11.9", "description": ""}]


def test_parse_list_csv_wrong_column_count() -> None:
    # Given
    text = "name\nMedicare,extra\n"
    # When
    with pytest.raises(Invalid) as caught:
        parse_list_csv("insurance-carriers", text)
    # Then
    assert caught.value.fields[0].path == "line 2"
