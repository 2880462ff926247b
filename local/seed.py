"""Demo data, created through the real handlers (so seeding never bypasses validation).

One organisation and RPM deployment (practice zone America/New_York) with ``ENROLLED`` enrolled patients and a
few awaiting onboarding. Each enrolled patient follows one of a handful of profiles (readings every day, every
other day, a few days, just started, stopped, manual only; 0 to 65 minutes of time with or without a call) over the
current and previous month, so that every code status and every urgency colour appears. Instants are real past
instants relative to now; nothing is pinned.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from local.events import rest_event
from local.functions import ApiFunction, FakeContext
from local.tokens import mint, verify
from rpm_billing import clock

DEMO_ORG = "demo-org"
DEMO_DEPLOYMENT = "demo-deployment"
DEMO_ZONE = "America/New_York"
ENROLLED = 50
AWAITING = 4
#: Days of readings per upload.
UPLOAD_DAYS = 7
#: Longest single time entry the seed logs, and the length of a seeded call.
ENTRY_MINUTES = 10
CALL_SECONDS = 600
ACTIVITIES = ("data_review", "care_coordination", "note", "flag_review")
#: A valid NPI (check digit) reserved for examples.
DEMO_NPI = "1234567893"

_GIVEN = ["Alex", "Sam", "Robin", "Jordan", "Casey", "Taylor", "Morgan", "Jamie", "Riley", "Avery", "Quinn", "Drew"]


class SeedError(RuntimeError):
    """A seeding call was refused (status and error code only: the body could hold demo PHI)."""


@dataclass(frozen=True)
class Profile:
    """How one demo patient behaves: monitoring start, reading days and time this month / last month."""

    name: str
    start_days_ago: int
    #: Offsets (days after the monitoring start) of days with readings, relative to the start; None = every day.
    reading_every: int | None = 1
    reading_days: int | None = None
    manual: bool = False
    #: Minutes of non-call time this month, and the number of 10-minute calls this month.
    minutes: int = 0
    calls: int = 0
    previous_minutes: int = 0
    previous_calls: int = 0
    established: bool = True


PROFILES = [
    Profile("steady", 55, minutes=15, calls=1, previous_minutes=30, previous_calls=1),
    Profile("steady", 55, minutes=15, calls=1, previous_minutes=35, previous_calls=1),
    Profile("steady-long", 62, minutes=45, calls=2, previous_minutes=50, previous_calls=2),
    Profile("every-other-day", 20, reading_every=2, minutes=2, calls=1, previous_minutes=10, previous_calls=1),
    Profile("every-other-day", 20, reading_every=2, minutes=8, calls=0),
    Profile("few-days", 25, reading_days=3, minutes=5, calls=0, previous_minutes=5),
    Profile("just-started", 3, minutes=0, calls=0),
    Profile("stopped", 40, reading_days=5, minutes=0, calls=0, previous_minutes=12, previous_calls=1),
    Profile("manual-only", 30, manual=True, minutes=20, calls=1),
    Profile("not-established", 30, reading_every=1, minutes=10, calls=1, established=False),
]


@dataclass
class Demo:
    """What was seeded (ids are fixed)."""

    org_id: str = DEMO_ORG
    deployment_id: str = DEMO_DEPLOYMENT
    enrolled: int = 0
    awaiting: int = 0
    patient_ids: list[str] = field(default_factory=list)
    awaiting_ids: list[str] = field(default_factory=list)
    current_month: str = ""
    previous_month: str = ""
    already_seeded: bool = False

    @property
    def sample_patient(self) -> str:
        """A patient worth looking at first."""
        return self.patient_ids[0] if self.patient_ids else "PATIENT_ID"


class Caller:
    """Calls the functions' handlers in-process with the claims of a verified development token."""

    def __init__(self, functions: list[ApiFunction], role: str, user_id: str, clinical_role: str | None = None) -> None:
        self.functions = functions
        self.claims = verify(mint(role, DEMO_ORG, DEMO_DEPLOYMENT, user_id=user_id, clinical_role=clinical_role))

    def has(self, method: str, path: str) -> bool:
        """Whether a loaded function serves the route."""
        return any(f.app.match(method, path) for f in self.functions)

    def __call__(
        self, method: str, path: str, body: Any = None, idempotent: bool = False, ok: tuple[int, ...] = ()
    ) -> tuple[int, Any]:
        for function in self.functions:
            spec = function.app.match(method, path)
            if spec is None:
                continue
            headers = {"Idempotency-Key": str(uuid.uuid4())} if idempotent else {}
            event = rest_event(method, path, body=body, headers=headers, claims=self.claims, resource=spec.template)
            response = function.invoke(event, FakeContext(f"rpm-billing-{function.name}", str(uuid.uuid4())))
            status = int(response["statusCode"])
            parsed = json.loads(response["body"]) if response.get("body") else None
            if status >= 300 and status not in ok:
                code = (parsed or {}).get("error", {}).get("code") if isinstance(parsed, dict) else None
                fields = [f.get("path") for f in (parsed or {}).get("error", {}).get("fields", [])] if code else []
                raise SeedError(f"{method} {spec.template} -> {status} {code} {fields}")
            return status, parsed
        raise SeedError(f"no function serves {method} {path}")


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _previous_month_start(month_start: date) -> date:
    return (month_start - timedelta(days=1)).replace(day=1)


def _reading_days(profile: Profile, start: date, today: date) -> list[date]:
    days = [start + timedelta(days=n) for n in range((today - start).days)]  # up to yesterday
    if profile.reading_days is not None:
        return days[: profile.reading_days]
    return days[:: profile.reading_every or 1]


def _slots(window_start: datetime, window_end: datetime, durations: list[int]) -> Iterator[datetime]:
    """Start instants for entries laid end to end (with gaps) inside a past window."""
    cursor = window_start + timedelta(hours=1)
    for seconds in durations:
        if cursor + timedelta(seconds=seconds) >= window_end:
            return
        yield cursor
        cursor += timedelta(seconds=seconds) + timedelta(minutes=47)


def seed_demo(functions: list[ApiFunction]) -> Demo:
    """Create the demo organisation through the handlers; a second call on the same emulator changes nothing."""
    admin = Caller(functions, "Admin", "demo-admin", clinical_role="physician")
    staff = Caller(functions, "DeploymentStaff", "demo-nurse", clinical_role="clinical_staff")
    now = clock.now()
    zone = ZoneInfo(DEMO_ZONE)
    today = now.astimezone(zone).date()
    month_start = today.replace(day=1)
    demo = Demo(current_month=_month(today), previous_month=_month(_previous_month_start(month_start)))
    config_path = f"/v1/deployments/{DEMO_DEPLOYMENT}/billing-config"
    if not admin.has("PUT", config_path):
        return demo
    status, _ = admin("GET", config_path, ok=(404,))
    if status == 200:
        demo.already_seeded = True
        _, page = admin("GET", f"/v1/deployments/{DEMO_DEPLOYMENT}/patients?billing=all")
        _fill_existing(demo, page)
        return demo
    admin("PUT", config_path, _config())
    for index in range(ENROLLED + AWAITING):
        patient_id = f"demo-patient-{index + 1:02d}"
        staff(
            "PUT",
            f"/v1/deployments/{DEMO_DEPLOYMENT}/patients/{patient_id}",
            {
                "given_name": _GIVEN[index % len(_GIVEN)],
                "family_name": f"Demo{index + 1:02d}",
                "birth_date": f"{1940 + index % 30}-{1 + index % 12:02d}-{1 + index % 27:02d}",
                "mrn": f"DEMO-{index + 1:04d}",
            },
        )
        if index >= ENROLLED:
            demo.awaiting_ids.append(patient_id)
            continue
        profile = PROFILES[index % len(PROFILES)]
        _seed_patient(staff, patient_id, profile, now, today, zone)
        demo.patient_ids.append(patient_id)
    demo.enrolled, demo.awaiting = len(demo.patient_ids), len(demo.awaiting_ids)
    return demo


def _fill_existing(demo: Demo, page: Any) -> None:
    for item in (page or {}).get("items", []):
        target = demo.patient_ids if item.get("billing_state") == "enrolled" else demo.awaiting_ids
        target.append(str(item.get("patient_id")))
    demo.enrolled, demo.awaiting = len(demo.patient_ids), len(demo.awaiting_ids)


def _config() -> dict[str, Any]:
    return {
        "program": "RPM",
        "time_zone": DEMO_ZONE,
        "offline_appointments": True,
        "insurance_carriers": [{"name": "Medicare Part B"}, {"name": "Demo Medicare Advantage"}],
        "billing_providers": [{"name": "Demo Cardiology Group", "npi": DEMO_NPI}],
        "icd10_codes": [
            {"code": "I10", "description": "Essential (primary) hypertension"},
            {"code": "E11.9", "description": "Type 2 diabetes mellitus without complications"},
            {"code": "I50.9", "description": "Heart failure, unspecified"},
        ],
    }


def _seed_patient(staff: Caller, patient_id: str, profile: Profile, now: datetime, today: date, zone: ZoneInfo) -> None:
    start = today - timedelta(days=profile.start_days_ago)
    staff(
        "POST",
        f"/v1/patients/{patient_id}/billing/enrollment",
        {
            "insurance_carriers": [{"name": "Medicare Part B", "member_id": f"1EG4-TE5-{patient_id[-2:]}MK"}],
            "billing_provider": {"name": "Demo Cardiology Group", "npi": DEMO_NPI},
            "primary_diagnosis": ["I10", "E11.9", "I50.9"][int(patient_id[-2:]) % 3],
            "consent_date": (start - timedelta(days=2)).isoformat(),
            "monitoring_start": start.isoformat(),
            "established_patient": profile.established,
        },
    )
    _seed_readings(staff, patient_id, profile, start, today, zone)
    _seed_time(staff, patient_id, profile, now, today, zone)


def _seed_readings(staff: Caller, patient_id: str, profile: Profile, start: date, today: date, zone: ZoneInfo) -> None:
    path = f"/v1/patients/{patient_id}/readings"
    if not staff.has("POST", path):
        return
    readings = []
    for day in _reading_days(profile, start, today):
        measured = datetime.combine(day, time(8, 30), zone).astimezone(UTC)
        readings.append(
            {
                "reading_id": f"{patient_id}-{day.isoformat()}",
                "measured_at": measured.isoformat(),
                "type": "blood_pressure",
                "source": "manual" if profile.manual else "device",
                "device_id": "demo-bp-cuff",
                "value": {"systolic": 118 + day.day % 20, "diastolic": 76 + day.day % 9},
                "unit": "mmHg",
            }
        )
    # A hub uploading a week at a time (also keeps each batch's update expression small for the emulator).
    for offset in range(0, len(readings), UPLOAD_DAYS):
        staff("POST", path, {"readings": readings[offset : offset + UPLOAD_DAYS]}, idempotent=True)


def _seed_time(staff: Caller, patient_id: str, profile: Profile, now: datetime, today: date, zone: ZoneInfo) -> None:
    entries_path = f"/v1/patients/{patient_id}/time-entries"
    if not staff.has("POST", entries_path):
        return
    month_start = datetime.combine(today.replace(day=1), time(0), zone)
    previous_start = datetime.combine(_previous_month_start(today.replace(day=1)), time(0), zone)
    enrolled_since = datetime.combine(today - timedelta(days=profile.start_days_ago), time(0), zone)
    windows = [
        (max(month_start, enrolled_since), now - timedelta(minutes=30), profile.minutes, profile.calls),
        (max(previous_start, enrolled_since), month_start, profile.previous_minutes, profile.previous_calls),
    ]
    for window_start, window_end, minutes, calls in windows:
        if window_end <= window_start:
            continue
        # Work logged in pieces of up to ENTRY_MINUTES, as clinicians do (and cheap for the emulator's
        # per-minute overlap conditions).
        pieces = [min(ENTRY_MINUTES, minutes - done) for done in range(0, minutes, ENTRY_MINUTES)]
        durations = [CALL_SECONDS] * calls + [piece * 60 for piece in pieces]
        for number, started in enumerate(_slots(window_start, window_end, durations)):
            if number < calls:
                _completed_call(staff, patient_id, started)
                continue
            staff(
                "POST",
                entries_path,
                {
                    "activity": ACTIVITIES[number % len(ACTIVITIES)],
                    "started_at": started.isoformat(),
                    "duration_seconds": durations[number],
                },
                idempotent=True,
            )


def _completed_call(staff: Caller, patient_id: str, started: datetime) -> None:
    path = f"/v1/patients/{patient_id}/appointments"
    _, created = staff("POST", path, {"scheduled_at": started.isoformat(), "duration_minutes": 10}, idempotent=True)
    appointment_id = (created.get("appointment") or created)["appointment_id"]
    staff(
        "POST",
        f"{path}/{appointment_id}/complete",
        {"started_at": started.isoformat(), "duration_seconds": CALL_SECONDS, "modality": "audio"},
        idempotent=True,
    )
