"""HTML to PDF with WeasyPrint: the one module that imports it.

Output is reproducible: the same HTML, attachments and ``when`` give the same bytes
(``SOURCE_DATE_EPOCH`` for fontTools' subset fonts, explicit attachment dates, and a
fixed PDF identifier), as measured in /work/shared/reference/weasyprint.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from reports.pack_errors import PackError


@dataclass(frozen=True, slots=True)
class FileAttachment:
    name: str
    data: bytes
    description: str


@dataclass(frozen=True, slots=True)
class Rendered:
    pdf: bytes
    pages: int


@contextmanager
def _source_date(when: datetime) -> Iterator[None]:
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(int(when.timestamp()))
    try:
        yield
    finally:
        if old is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old


def html_to_pdf(
    html: str,
    *,
    base_url: Path,
    attachments: Sequence[FileAttachment],
    identifier: str,
    when: datetime,
) -> Rendered:
    """Lay out ``html`` and write the PDF with ``attachments`` embedded."""
    from weasyprint import HTML, Attachment

    try:
        with _source_date(when):
            document = HTML(string=html, base_url=str(base_url)).render()
            files = [
                Attachment(
                    string=a.data,
                    name=a.name,
                    description=a.description,
                    created=when,
                    modified=when,
                )
                for a in attachments
            ]
            pdf = document.write_pdf(attachments=files, pdf_identifier=identifier.encode())
    except (OSError, ValueError, AttributeError, IndexError) as exc:
        raise PackError(
            f"WeasyPrint could not render the pack: {type(exc).__name__}: {exc}",
            "check the fonts (fonts-noto-core) and Pango are installed: bash .ci/sysdeps.sh",
        ) from exc
    if pdf is None:  # only when a target is given
        raise PackError("WeasyPrint returned no PDF bytes")
    return Rendered(pdf, len(document.pages))


__all__ = ["FileAttachment", "Rendered", "html_to_pdf"]
