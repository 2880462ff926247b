"""The code catalogue as data: one table per effective date, chosen by date of service.

A new fee-schedule year is a new ``Catalogue`` entry in ``CATALOGUES``, not new engine code. ``verified_through``
says up to which date of service the table was checked against published rules; later dates get a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Literal

Kind = Literal["setup", "device", "time", "interpretation"]
PeriodKind = Literal["episode", "30_days", "month"]


@dataclass(frozen=True, slots=True)
class CodeSpec:
    """One code of a catalogue.

    Attributes:
        code: CPT code.
        program: ``RPM`` or ``RTM``.
        kind: ``setup``, ``device``, ``time`` or ``interpretation``.
        period: ``episode`` (judged in the first 30-day period), ``30_days`` or ``month``.
        description: Short description.
        category: RTM device category the code belongs to (device codes only).
        min_days: Least days of data in the period (device codes; set-up takes policy A1).
        max_days: Most days of data of the band (informational: a period has at most 30).
        min_minutes: Least full minutes (time and interpretation codes; add-ons: minutes of the base).
        add_on_of: Base code of an add-on.
        superseded_by: Code that replaces this one for the same period when met (R-X3).
        interactive_required: Whether an interactive communication in the month is needed.
        contractor_priced: No national amount (A11).
    """

    code: str
    program: str
    kind: Kind
    period: PeriodKind
    description: str
    category: str | None = None
    min_days: int | None = None
    max_days: int | None = None
    min_minutes: int | None = None
    add_on_of: str | None = None
    superseded_by: str | None = None
    interactive_required: bool = False
    contractor_priced: bool = False


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The codes in force from ``effective`` on, per program in display order."""

    effective: date
    verified_through: date
    codes: MappingProxyType[str, CodeSpec]
    order: MappingProxyType[str, tuple[str, ...]]

    def codes_for(self, program: str, rtm_category: str | None) -> tuple[str, ...]:
        """Codes of ``program`` in display order; RTM device codes only for the given category."""
        key = program if program == "RPM" else f"RTM:{rtm_category}"
        return self.order.get(key, self.order.get(program, ()))


def _table(specs: tuple[CodeSpec, ...]) -> MappingProxyType[str, CodeSpec]:
    return MappingProxyType({spec.code: spec for spec in specs})


_RTM_CATEGORIES = {
    "respiratory": ("98984", "98976"),
    "musculoskeletal": ("98985", "98977"),
    "cbt": ("98986", "98978"),
}

CY2026 = Catalogue(
    effective=date(2026, 1, 1),
    verified_through=date(2026, 12, 31),
    codes=_table(
        (
            CodeSpec("99453", "RPM", "setup", "episode", "RPM set-up and patient education"),
            CodeSpec(
                "99445", "RPM", "device", "30_days", "RPM device supply, 2-15 days", None, 2, 15, superseded_by="99454"
            ),
            CodeSpec("99454", "RPM", "device", "30_days", "RPM device supply, 16-30 days", None, 16, 30),
            CodeSpec(
                "99470",
                "RPM",
                "time",
                "month",
                "RPM management, first 10 minutes",
                min_minutes=10,
                superseded_by="99457",
                interactive_required=True,
            ),
            CodeSpec(
                "99457",
                "RPM",
                "time",
                "month",
                "RPM management, first 20 minutes",
                min_minutes=20,
                interactive_required=True,
            ),
            CodeSpec(
                "99458",
                "RPM",
                "time",
                "month",
                "RPM management, each additional 20 minutes",
                min_minutes=20,
                add_on_of="99457",
                interactive_required=True,
            ),
            CodeSpec(
                "99091",
                "RPM",
                "interpretation",
                "30_days",
                "Physician/QHP data interpretation, 30 minutes",
                min_minutes=30,
            ),
            CodeSpec("98975", "RTM", "setup", "episode", "RTM set-up and patient education"),
            CodeSpec(
                "98984",
                "RTM",
                "device",
                "30_days",
                "RTM respiratory device supply, 2-15 days",
                "respiratory",
                2,
                15,
                superseded_by="98976",
            ),
            CodeSpec(
                "98976", "RTM", "device", "30_days", "RTM respiratory device supply, 16-30 days", "respiratory", 16, 30
            ),
            CodeSpec(
                "98985",
                "RTM",
                "device",
                "30_days",
                "RTM musculoskeletal device supply, 2-15 days",
                "musculoskeletal",
                2,
                15,
                superseded_by="98977",
            ),
            CodeSpec(
                "98977",
                "RTM",
                "device",
                "30_days",
                "RTM musculoskeletal device supply, 16-30 days",
                "musculoskeletal",
                16,
                30,
            ),
            CodeSpec(
                "98986",
                "RTM",
                "device",
                "30_days",
                "RTM CBT device supply, 2-15 days",
                "cbt",
                2,
                15,
                superseded_by="98978",
                contractor_priced=True,
            ),
            CodeSpec(
                "98978",
                "RTM",
                "device",
                "30_days",
                "RTM CBT device supply, 16-30 days",
                "cbt",
                16,
                30,
                contractor_priced=True,
            ),
            CodeSpec(
                "98979",
                "RTM",
                "time",
                "month",
                "RTM management, first 10 minutes",
                min_minutes=10,
                superseded_by="98980",
                interactive_required=True,
            ),
            CodeSpec(
                "98980",
                "RTM",
                "time",
                "month",
                "RTM management, first 20 minutes",
                min_minutes=20,
                interactive_required=True,
            ),
            CodeSpec(
                "98981",
                "RTM",
                "time",
                "month",
                "RTM management, each additional 20 minutes",
                min_minutes=20,
                add_on_of="98980",
                interactive_required=True,
            ),
        )
    ),
    order=MappingProxyType(
        {
            "RPM": ("99453", "99445", "99454", "99470", "99457", "99458", "99091"),
            "RTM": ("98975", "98979", "98980", "98981"),
            **{
                f"RTM:{category}": ("98975", short, long, "98979", "98980", "98981")
                for category, (short, long) in _RTM_CATEGORIES.items()
            },
        }
    ),
)

CATALOGUES: tuple[Catalogue, ...] = (CY2026,)
"""Every table, oldest first."""


def catalogue_for(date_of_service: date) -> Catalogue:
    """The table in force on ``date_of_service``; before the first table, the first one (no older table is kept)."""
    chosen = CATALOGUES[0]
    for catalogue in CATALOGUES:
        if catalogue.effective <= date_of_service:
            chosen = catalogue
    return chosen


def latest() -> Catalogue:
    """The newest table."""
    return CATALOGUES[-1]
