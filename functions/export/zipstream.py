"""Streaming a ZIP of CSV or JSON files into an S3 multipart upload with bounded memory.

``MultipartSink`` is a write-only, non-seekable stream: ``zipfile`` sees that it cannot seek and writes each
member with a data descriptor, so nothing is ever rewound. Bytes collect in one buffer and leave as a part as
soon as the buffer reaches ``part_size`` (S3 wants every part but the last to be at least 5 MiB). Memory is
one part plus the rows in flight, whatever the number of patients.

``ReportFile`` writes one member of the ZIP row by row (CSV per RFC 4180 with a header row and CRLF line ends,
or a JSON array of objects), counting rows and hashing the uncompressed bytes for the manifest.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rpm_billing.db.client import s3

MIB = 1024 * 1024
#: The smallest part S3 accepts (except the last one).
MIN_PART_SIZE = 5 * MIB
#: Rows are encoded into a small buffer and handed to the compressor in chunks of about this size.
ROW_CHUNK = 64 * 1024


class MultipartSink(io.RawIOBase):
    """A write-only stream that uploads what it receives as the parts of one S3 multipart upload.

    Args:
        bucket: Target bucket.
        key: Target object key.
        part_size: Bytes per part (at least 5 MiB; the last part may be smaller).
        content_type: ``Content-Type`` of the finished object.
    """

    def __init__(self, bucket: str, key: str, *, part_size: int = MIN_PART_SIZE, content_type: str = "") -> None:
        super().__init__()
        if part_size < MIN_PART_SIZE:
            raise ValueError("S3 parts must be at least 5 MiB")
        self.bucket, self.key, self.part_size = bucket, key, part_size
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._upload_id: str | None = None
        self._content_type = content_type
        self.bytes_written = 0
        self.part_sizes: list[int] = []

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._buffer += view
        self.bytes_written += len(view)
        if len(self._buffer) >= self.part_size:
            self._upload_part()
        return len(view)

    def _start(self) -> str:
        if self._upload_id is None:
            extra = {"ContentType": self._content_type} if self._content_type else {}
            response = s3().create_multipart_upload(Bucket=self.bucket, Key=self.key, **extra)  # type: ignore[arg-type]
            self._upload_id = response["UploadId"]
        return self._upload_id

    def _upload_part(self) -> None:
        upload_id = self._start()
        number = len(self._parts) + 1
        body = bytes(self._buffer)
        self._buffer.clear()
        response = s3().upload_part(Bucket=self.bucket, Key=self.key, UploadId=upload_id, PartNumber=number, Body=body)
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self.part_sizes.append(len(body))

    def complete(self) -> None:
        """Upload the last part and assemble the object."""
        if self._buffer or not self._parts:
            self._upload_part()
        s3().complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._start(),
            MultipartUpload={"Parts": self._parts},  # type: ignore[typeddict-item]
        )

    def abort(self) -> None:
        """Drop the upload and its parts (nothing half-written stays in the bucket)."""
        self._buffer.clear()
        if self._upload_id is not None:
            s3().abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
            self._upload_id = None


def cell(value: Any) -> str:
    """One CSV cell: empty for missing, ``true``/``false``, lists joined with ``"; "``, objects as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "; ".join(cell(item) for item in value)
    if isinstance(value, Mapping):
        return json.dumps(plain(value), sort_keys=True, separators=(",", ":"))
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(plain(value))


def plain(value: Any) -> Any:
    """A JSON-ready copy: ``Decimal`` to int or float, sets to sorted lists, dates to ISO strings."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


class ReportFile:
    """One file of the export, written row by row into an open ZIP.

    Args:
        archive: The ZIP being written.
        name: File name without extension (``billing_status``).
        fmt: ``csv`` or ``json`` (a JSON array of objects, one per row).
        columns: Column names, in order; every row is a mapping with these keys.
    """

    def __init__(self, archive: zipfile.ZipFile, name: str, fmt: str, columns: Sequence[str]) -> None:
        self.name = f"{name}.{fmt}"
        self.fmt = fmt
        self.columns = list(columns)
        self.rows = 0
        self._sha = hashlib.sha256()
        self._member = archive.open(self.name, "w", force_zip64=True)
        self._text = io.StringIO()
        self._csv = csv.writer(self._text, lineterminator="\r\n")
        if fmt == "csv":
            self._csv.writerow(self.columns)
        else:
            self._text.write("[")

    def write(self, row: Mapping[str, Any]) -> None:
        """Append one row."""
        if self.fmt == "csv":
            self._csv.writerow([cell(row.get(column)) for column in self.columns])
        else:
            record = {column: plain(row.get(column)) for column in self.columns}
            self._text.write(("\n" if self.rows == 0 else ",\n") + json.dumps(record, ensure_ascii=False))
        self.rows += 1
        if self._text.tell() >= ROW_CHUNK:
            self._drain()

    def _drain(self) -> None:
        data = self._text.getvalue().encode("utf-8")
        self._text.seek(0)
        self._text.truncate()
        self._sha.update(data)
        self._member.write(data)

    def close(self) -> dict[str, Any]:
        """Finish the member; returns its manifest entry (``name``, ``rows``, ``sha256``)."""
        if self.fmt == "json":
            self._text.write("\n]\n")
        self._drain()
        self._member.close()
        return {"name": self.name, "rows": self.rows, "sha256": self._sha.hexdigest()}


def write_bytes(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Write a small member (the manifest) in one go."""
    with archive.open(name, "w") as member:
        member.write(data)
