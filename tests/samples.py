"""Real files of each format, made by the libraries people make them with (reportlab for
PDF, python-docx for DOCX, encoders for legacy text), and their paragraphs as counted by
hand. Shared by the reader tests (test_formats.py, test_decoding.py) and the ones that
drive ``rag ingest`` / ``rag ask`` (test_formats_cli.py).
"""

from __future__ import annotations

from pathlib import Path

from conftest import SAMPLE_CORPUS

# -- PDF: two pages drawn line by line, as a typesetter places them ---------------------

HEADING, BODY = ("Helvetica-Bold", 16), ("Times-Roman", 11)
LIGHTHOUSE_PAGES = [
    [  # (y, font, line)
        (780, HEADING, "The Lighthouse Fund"),
        (748, BODY, "The harbour lighthouse at Cape Verity was built in 1874 and has guided"),
        (734, BODY, "ships through the narrow channel ever since. Its keepers kept a log of"),
        (720, BODY, "every storm, and the town museum now holds forty volumes of it."),
        (696, BODY, "In 2023 the town council voted to restore the tower. The restor-"),
        (682, BODY, "ation fund raised 2.4 million euros from residents, fishermen and a"),
        (668, BODY, "regional heritage grant, twice what the council had hoped for."),
        (100, BODY, "Work began in the spring. Scaffolding went up around the tower, and"),
        (86, BODY, "divers checked the old foundations, which were found to be"),
    ],
    [
        (780, BODY, "sound after a century and a half in salt water."),
        (752, ("Helvetica-Bold", 14), "A Brighter Lamp"),
        (728, BODY, "The new lamp uses light-emitting diodes and can be seen from twenty-"),
        (714, BODY, "two nautical miles away. Engineers say it needs a tenth of the power."),
        (690, BODY, "The restoration ends in May 2025, when the lamp is lit again."),
    ],
]
# (number, page, paragraph on page, first line, last line on the page's text, text), by hand:
# the heading and a paragraph in one size apart from the body; wrapped lines joined; the
# hyphen of "restor-ation" dropped (the document writes "restoration" whole on page 2),
# the one of "twenty-two" kept; the paragraph cut by the page break is one on each page.
LIGHTHOUSE_PARAGRAPHS = [
    (1, 1, 1, 1, 1, "The Lighthouse Fund"),
    (2, 1, 2, 2, 4, "The harbour lighthouse at Cape Verity was built in 1874 and has guided ships through "
                    "the narrow channel ever since. Its keepers kept a log of every storm, and the town "
                    "museum now holds forty volumes of it."),
    (3, 1, 3, 5, 7, "In 2023 the town council voted to restore the tower. The restoration fund raised 2.4 "
                    "million euros from residents, fishermen and a regional heritage grant, twice what the "
                    "council had hoped for."),
    (4, 1, 4, 8, 9, "Work began in the spring. Scaffolding went up around the tower, and divers checked the "
                    "old foundations, which were found to be"),
    (5, 2, 1, 1, 1, "sound after a century and a half in salt water."),
    (6, 2, 2, 2, 2, "A Brighter Lamp"),
    (7, 2, 3, 3, 4, "The new lamp uses light-emitting diodes and can be seen from twenty-two nautical miles "
                    "away. Engineers say it needs a tenth of the power."),
    (8, 2, 4, 5, 5, "The restoration ends in May 2025, when the lamp is lit again."),
]


def lighthouse_pdf(path: Path) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    for page in LIGHTHOUSE_PAGES:
        for y, (font, size), line in page:
            pdf.setFont(font, size)
            pdf.drawString(72, y, line)
        pdf.showPage()
    pdf.save()
    return path


# -- PDF laid out by reportlab itself: wrapping, styles, two columns, a CJK font --------

COUNCIL = [f"The council met on {n} March to discuss the harbour budget. Members agreed that the breakwater "
           f"needs repair before winter, and asked engineers for a plan with costs and dates (item {n})."
           for n in range(1, 15)]
CHONGQING = ["重慶市政府宣布，中歐班列今年已開行超過五千列，運送貨物價值達到一千二百億元人民幣，比去年增長百分之二十。" * 2,
             "官員表示，新的物流園區將於明年投入使用，可以容納三百家企業，並為當地創造一萬個就業機會。" * 2]


def flowed_pdf(path: Path, columns: int = 1, chinese: bool = False) -> Path:
    """Headings and body paragraphs that reportlab wraps: COUNCIL[:3] on page 1 and the
    rest on page 2; with COLUMNS 2, all on one page, flowing from the left column into
    the right one; CHINESE: CHONGQING on one page, set in a CID font."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import BaseDocTemplate, Frame, PageBreak, PageTemplate, Paragraph

    styles = getSampleStyleSheet()
    heading, body = styles["Heading1"], styles["BodyText"]
    if chinese:
        pdfmetrics.registerFont(UnicodeCIDFont("MSung-Light"))
        heading = ParagraphStyle("zh-h", parent=heading, fontName="MSung-Light")
        body = ParagraphStyle("zh", parent=body, fontName="MSung-Light", wordWrap="CJK")
    doc = BaseDocTemplate(str(path), pagesize=A4)
    width = (doc.width - 20 * (columns - 1)) / columns
    frames = [Frame(doc.leftMargin + i * (width + 20), doc.bottomMargin, width, doc.height) for i in range(columns)]
    doc.addPageTemplates([PageTemplate(frames=frames)])
    if chinese:
        story = [Paragraph("重慶物流報告", heading), *(Paragraph(t, body) for t in CHONGQING)]
    elif columns > 1:
        story = [Paragraph("Harbour Council Minutes", heading), *(Paragraph(t, body) for t in COUNCIL)]
    else:
        story = [Paragraph("Harbour Council Minutes", heading), *(Paragraph(t, body) for t in COUNCIL[:3]),
                 PageBreak(), Paragraph("Later Meetings", heading), *(Paragraph(t, body) for t in COUNCIL[3:])]
    doc.build(story)
    return path


# -- DOCX -----------------------------------------------------------------------------

FESTIVAL_PARAGRAPHS = [  # (number, text), by hand
    (1, "Harbour Festival 2024"),
    (2, "The festival drew 12,000 visitors over two days."),
    (3, "Event: Food stalls; Count: 140"),
    (4, "Event: Boat rides; Count: 36"),
    (5, "Event: Concerts"),
    (6, "Stage: Main stage; Saturday: Closed for repairs"),
    (7, "Stage: Quay; Saturday: Jazz; Sunday: Folk"),
    (8, "Organised by; Harbour Trust"),
    (9, "Next year's festival is planned for June."),
]


def festival_docx(path: Path) -> Path:
    """Paragraphs, an empty one, a table with a header row and an empty cell, a table
    with a cell merged across two columns, a one-row table, and text after them."""
    import docx

    document = docx.Document()
    document.add_heading("Harbour Festival 2024", level=1)
    document.add_paragraph("The festival drew 12,000 visitors over two days.")
    document.add_paragraph("")
    counts = document.add_table(rows=0, cols=2)
    for row in [("Event", "Count"), ("Food stalls", "140"), ("Boat rides", "36"), ("Concerts", "")]:
        cells = counts.add_row().cells
        cells[0].text, cells[1].text = row
    stages = document.add_table(rows=3, cols=3)
    for r, row in enumerate([("Stage", "Saturday", "Sunday"), ("Main stage", "", ""), ("Quay", "Jazz", "Folk")]):
        for c, text in enumerate(row):
            stages.cell(r, c).text = text
    stages.cell(1, 1).merge(stages.cell(1, 2)).text = "Closed for repairs"
    single = document.add_table(rows=1, cols=2)
    single.cell(0, 0).text, single.cell(0, 1).text = "Organised by", "Harbour Trust"
    document.add_paragraph("Next year's festival is planned for June.")
    document.save(str(path))
    return path


# -- HTML -----------------------------------------------------------------------------

FESTIVAL_HTML = """<!DOCTYPE html>
<html><head><title>Festival</title></head>
<body>
<h1>Harbour Festival</h1>
<table>
  <caption>Stalls and rides</caption>
  <thead><tr><th>Event</th><th>Count</th></tr></thead>
  <tbody>
    <tr><td>Food stalls</td><td>140</td></tr>
    <tr>
      <td><p>Boat rides</p></td>
      <td>36</td>
    </tr>
  </tbody>
</table>
<table><tr><td>Organised by</td><td>Harbour Trust</td></tr></table>
<table>
  <tr><th>Stage</th><th colspan="2">Days</th></tr>
  <tr><td>Main</td><td>Sat</td><td>Sun</td></tr>
</table>
<p>Tickets at the quay.</p>
</body></html>
"""
FESTIVAL_HTML_PARAGRAPHS = [  # (number, start line, end line, text), by hand with `cat -n`
    (1, 2, 2, "Festival"),
    (2, 4, 4, "Harbour Festival"),
    (3, 6, 6, "Stalls and rides"),
    (4, 9, 9, "Event: Food stalls; Count: 140"),
    (5, 10, 13, "Event: Boat rides; Count: 36"),
    (6, 16, 16, "Organised by; Harbour Trust"),
    (7, 19, 19, "Stage: Main; Days: Sat; Days: Sun"),
    (8, 21, 21, "Tickets at the quay."),
]

# -- legacy encodings: the sample corpus's own Arabic and Chinese ------------------------


def _lines_in(name: str, encoding: str, keep) -> list[str]:  # noqa: ANN001
    lines = (SAMPLE_CORPUS / name).read_text("utf-8").split("\n")
    return [line for line in lines if keep(line) and line.encode(encoding, "replace").decode(encoding) == line]


def arabic_text() -> str:
    """The first three lines of an Arabic article of the sample corpus (cp1256 has every
    character of them), one paragraph each."""
    return "\n".join(_lines_in("000_0f425e83b5bd7ec2.txt", "cp1256", bool)[:3]) + "\n"


def chinese_text() -> str:
    """The traditional Chinese paragraphs of a sample article that Big5 can spell."""
    lines = _lines_in("003_3e9024b6c632520f.txt", "big5", lambda ln: sum("\u4e00" <= ch <= "\u9fff" for ch in ln) > 10)
    return "\n\n".join(lines) + "\n"
