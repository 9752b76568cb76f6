"""The printed notices: a group's list of instalments falling due with a slip per household
(the group head hands the slips out and has the list signed), and the commune's notice board
(landscape A4). HTML templates and print CSS, made into PDF by WeasyPrint, in Vietnamese as the
office's other papers (reports.rendering.PDF_LANGUAGE)."""

import datetime as dt

from django.template.loader import render_to_string
from django.utils import translation

from reports.rendering import PDF_LANGUAGE

from .notices import BoardPart, GroupNotices, NoticeBoard


def _pdf(html: str) -> tuple[bytes, int]:
    from weasyprint import HTML  # heavy import: only where a PDF is made

    document = HTML(string=html).render()
    return document.write_pdf(), len(document.pages)


def render_group_notices_html(notices: GroupNotices, *, signed_on: dt.date) -> str:
    with translation.override(PDF_LANGUAGE):
        return render_to_string(
            "commune_day/notices/pdf/group_notices.html",
            {"notices": notices, "group": notices.group, "signed_on": signed_on},
        )


def render_group_notices_pdf(notices: GroupNotices, *, signed_on: dt.date) -> tuple[bytes, int]:
    """The group's list (to sign on receipt) then a slip per household; the PDF and its pages."""
    return _pdf(render_group_notices_html(notices, signed_on=signed_on))


def render_board_html(board: NoticeBoard, part: BoardPart) -> str:
    with translation.override(PDF_LANGUAGE):
        return render_to_string(
            "commune_day/notices/pdf/board.html", {"board": board, "part": part}
        )


def render_board_pdf(board: NoticeBoard, part: BoardPart) -> tuple[bytes, int]:
    """One part of the board (NoticeBoard.parts: at most BOARD_PART_ROWS rows), landscape A4."""
    return _pdf(render_board_html(board, part))
