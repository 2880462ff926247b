"""Validation of deployment lists: ICD-10-CM code form, NPI check digit, and the CSV uploads of each list.

Problems name the line (the header is line 1) or the field, never the submitted value.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from rpm_billing.errors import FieldProblem, Invalid, PayloadTooLarge

#: ICD-10-CM form: a letter, a digit, one more character, then optionally a dot and up to four more.
ICD10_RE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?$")
NPI_RE = re.compile(r"^[0-9]{10}$")
MAX_ROWS = 5000
MAX_NAME = 200
MAX_DESCRIPTION = 500

#: Column sets of each list, in order; the first column is required, later ones optional where noted.
LISTS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "insurance-carriers": ("insurance_carriers", ("name",), ()),
    "billing-providers": ("billing_providers", ("name", "npi"), ()),
    "icd10-codes": ("icd10_codes", ("code",), ("description",)),
}


def normalise_icd10(code: str) -> str | None:
    """The canonical (upper case, dotted) form of an ICD-10-CM code, or ``None`` if it is malformed.

    Args:
        code: The code as written, e.g. ``"e11.9"`` or ``"E119"``.
    """
    text = code.strip().upper()
    if not ICD10_RE.match(text):
        return None
    bare = text.replace(".", "")
    return bare if len(bare) == 3 else f"{bare[:3]}.{bare[3:]}"


def npi_valid(npi: str) -> bool:
    """Whether ``npi`` is ten digits whose last is the Luhn check digit over ``80840`` + the first nine."""
    if not NPI_RE.match(npi):
        return False
    digits = [int(ch) for ch in "80840" + npi]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _row_problems(list_name: str, line: int, row: dict[str, str]) -> list[FieldProblem]:
    where = f"line {line}"
    name = (row.get("name") or "").strip()
    if list_name in ("insurance-carriers", "billing-providers"):
        if not name:
            return [FieldProblem(f"{where}.name", "is empty")]
        if len(name) > MAX_NAME:
            return [FieldProblem(f"{where}.name", f"is longer than {MAX_NAME} characters")]
    if list_name == "billing-providers" and not npi_valid((row.get("npi") or "").strip()):
        return [FieldProblem(f"{where}.npi", "is not a valid NPI (10 digits with a check digit)")]
    if list_name == "icd10-codes":
        if normalise_icd10(row.get("code") or "") is None:
            return [FieldProblem(f"{where}.code", "is not an ICD-10-CM code")]
        if len((row.get("description") or "").strip()) > MAX_DESCRIPTION:
            return [FieldProblem(f"{where}.description", f"is longer than {MAX_DESCRIPTION} characters")]
    return []


def parse_list_csv(list_name: str, text: str) -> list[dict[str, Any]]:
    """Parse and validate one deployment list from CSV with a header row.

    Args:
        list_name: ``insurance-carriers``, ``billing-providers`` or ``icd10-codes``.
        text: The CSV document (already decoded).

    Returns:
        The list entries as stored on the configuration item, duplicates dropped.

    Raises:
        Invalid: The header is wrong or a row is bad (each problem names its line; the header is line 1).
        PayloadTooLarge: More than ``MAX_ROWS`` rows.
    """
    _, required, optional = LISTS[list_name]
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [cell.strip().lower() for cell in next(reader)]
    except StopIteration:
        raise Invalid(
            "the CSV is empty; a header row is required", [FieldProblem("line 1", "missing header")]
        ) from None
    except csv.Error:
        raise Invalid("the CSV header is malformed", [FieldProblem("line 1", "malformed CSV")]) from None
    allowed = set(required) | set(optional)
    if any(col not in header for col in required) or any(col not in allowed for col in header):
        columns = ",".join(required) + "".join(f"[,{col}]" for col in optional)
        raise Invalid("the CSV header is wrong", [FieldProblem("line 1", f"header must be {columns}")])
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    problems: list[FieldProblem] = []
    line = 1
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(entries) >= MAX_ROWS:
                raise PayloadTooLarge(f"at most {MAX_ROWS} rows per list")
            if len(cells) != len(header):
                problems.append(FieldProblem(f"line {line}", f"expected {len(header)} columns"))
                continue
            row = {col: cell.strip() for col, cell in zip(header, cells, strict=True)}
            found = _row_problems(list_name, line, row)
            if found:
                problems.extend(found)
                continue
            entry = _entry(list_name, row)
            identity = "|".join(str(v) for v in entry.values()) if list_name != "icd10-codes" else entry["code"]
            if identity not in seen:
                seen.add(identity)
                entries.append(entry)
    except csv.Error:
        problems.append(FieldProblem(f"line {line + 1}", "malformed CSV"))
    if problems:
        raise Invalid(f"{len(problems)} bad row(s); see fields", problems[:50])
    return entries


def _entry(list_name: str, row: dict[str, str]) -> dict[str, Any]:
    if list_name == "insurance-carriers":
        return {"name": row["name"]}
    if list_name == "billing-providers":
        return {"name": row["name"], "npi": row["npi"]}
    return {"code": normalise_icd10(row["code"]), "description": row.get("description", "")}
