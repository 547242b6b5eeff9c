"""Write the sample documents of this folder: a small handbook on sourdough bread, in five formats.

Run `python samples/make_samples.py`; the output is byte-for-byte the same on every run (fixed dates,
fixed zip timestamps), so the generated files can be committed.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import docx
from fpdf import FPDF
from fpdf.enums import XPos, YPos

HERE = Path(__file__).resolve().parent
FIXED_DATE = datetime(2024, 3, 1, 9, 0, 0, tzinfo=UTC)
ZIP_DATE = (2024, 3, 1, 9, 0, 0)
AUTHOR = "Harbour Street Bakery School"

# --- PDF: the handbook itself -------------------------------------------------------------------

HANDBOOK: list[tuple[str, list[str]]] = [
    ("1. What sourdough is", [
        "Sourdough is bread leavened by a culture of wild yeasts and lactic acid bacteria instead of "
        "commercial baker's yeast. The culture lives in a paste of flour and water that the baker keeps "
        "alive by feeding it, and a spoonful of it is enough to raise a whole batch of dough.",
        "A sourdough starter is a stable mixture of flour, water, wild yeast and lactic acid bacteria. "
        "The yeasts produce carbon dioxide, which makes the dough rise, while the bacteria produce lactic "
        "and acetic acids, which give the bread its tang and help it keep for several days.",
        "Leaven is the portion of starter that is mixed, fed and ripened specifically for one bake. "
        "Bakers often build the leaven the evening before mixing so that it is at its most active when "
        "the dough is made.",
    ]),
    ("2. Keeping a starter healthy", [
        "A healthy starter doubles in volume within four to eight hours of a feed at 24 degrees Celsius. "
        "It smells pleasantly sour, like yoghurt or green apples, and its surface is domed and covered "
        "with bubbles when it peaks.",
        "Feeding is the act of discarding part of the starter and replacing it with fresh flour and water. "
        "A common schedule is one part starter, five parts flour and five parts water by weight, given "
        "once a day at room temperature or once a week when the jar lives in the refrigerator.",
        "Hooch is the grey liquid that collects on top of a hungry starter. It is alcohol produced by the "
        "yeasts and is harmless: pour it off or stir it back in, then feed the starter more often.",
        "Pink or orange streaks, or fuzzy mould on the surface, mean the culture is contaminated. In that "
        "case the starter should be thrown away and the jar washed; a new one takes about a week to build.",
    ]),
    ("3. Flour and water", [
        "Hydration is the weight of water in a dough divided by the weight of flour, expressed as a "
        "percentage. A dough made with 1000 g of flour and 750 g of water has a hydration of 75 percent.",
        "Baker's percentage is a way of writing recipes in which every ingredient is given as a "
        "proportion of the total flour weight. Salt at 2 percent therefore means 20 g of salt for each "
        "kilogram of flour, whatever the size of the batch.",
        "Whole wheat and rye flours absorb more water than white bread flour and ferment faster because "
        "they carry more minerals and enzymes. Replacing ten to twenty percent of the white flour with "
        "whole grain flour gives a starter and a loaf more flavour.",
        "Chlorinated tap water can slow a young starter. Leaving the water to stand uncovered for a few "
        "hours, or using filtered water, avoids the problem.",
    ]),
    ("4. Fermentation and temperature", [
        "Bulk fermentation is the first rise of the whole dough, from mixing until it is divided and "
        "shaped. At 24 degrees Celsius it usually lasts four to six hours; the dough is ready when it has "
        "grown by about half, feels airy and shows bubbles along the sides of the container.",
        "Stretch and folds are a gentle way of building gluten strength during bulk fermentation. Every "
        "thirty minutes for the first two hours, the baker lifts one side of the dough, stretches it up "
        "and folds it over the rest, then turns the bowl and repeats on all four sides.",
        "Temperature is the main control a home baker has over fermentation. Every drop of five degrees "
        "roughly doubles the time a dough needs, which is why the final proof is often done overnight in "
        "the refrigerator at 4 degrees Celsius.",
        "Autolyse is a rest of twenty to sixty minutes after mixing only the flour and water. It lets the "
        "flour hydrate fully and makes the dough easier to develop once the leaven and salt are added.",
    ]),
    ("5. A basic country loaf", [
        "The country loaf in this handbook uses 450 g of white bread flour, 50 g of whole wheat flour, "
        "375 g of water, 100 g of ripe leaven and 10 g of salt. That is a hydration of 75 percent before "
        "counting the water in the leaven.",
        "Step one: mix the flours with 350 g of the water and leave the dough to autolyse for forty "
        "minutes. Step two: add the leaven, then the salt dissolved in the remaining 25 g of water, and "
        "squeeze the dough until everything is incorporated.",
        "Step three: give four sets of stretch and folds during the first two hours of bulk fermentation, "
        "then leave the dough alone until it has risen by about half. Step four: pre-shape it into a "
        "loose round, rest it for twenty minutes, then shape it tightly and place it seam side up in a "
        "floured banneton.",
        "Step five: proof the loaf in the refrigerator for twelve to sixteen hours. Step six: bake it in "
        "a Dutch oven preheated to 250 degrees Celsius, twenty minutes with the lid on and twenty to "
        "twenty-five minutes with the lid off at 230 degrees, until the crust is deeply browned.",
        "A loaf is fully baked when its internal temperature reaches 96 degrees Celsius and the base "
        "sounds hollow when tapped. Let it cool for at least one hour before slicing, because the crumb "
        "is still setting as steam escapes.",
    ]),
    ("6. Troubleshooting", [
        "A dense loaf with a tight, gummy crumb is almost always underfermented: the leaven was not at "
        "its peak or bulk fermentation was stopped too early. Extend bulk fermentation or keep the dough "
        "somewhere warmer next time.",
        "A flat loaf that spreads on the peel is usually overfermented or under-shaped. Shorten bulk "
        "fermentation, shape with more tension, and score the loaf straight from the refrigerator.",
        "Oven spring is the rapid rise of a loaf during the first minutes of baking, when trapped gases "
        "expand and the yeasts have a final burst of activity. Good oven spring needs steam, which is "
        "why a covered Dutch oven works so well at home.",
        "A very sour loaf comes from a long, cool fermentation and a stiff starter, which favour acetic "
        "acid. For a milder bread, use a young leaven, keep the dough warmer and shorten the cold proof.",
    ]),
]


def _block(pdf: FPDF, height: float, text: str) -> None:
    pdf.multi_cell(0, height, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def make_pdf(path: Path) -> None:
    pdf = FPDF(format="A4")
    pdf.set_title("The Sourdough Handbook")
    pdf.set_author(AUTHOR)
    pdf.set_subject("Starter care, fermentation and a basic country loaf")
    pdf.set_creator("samples/make_samples.py")
    pdf.set_producer("fpdf2")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 20)
    _block(pdf, 10, "The Sourdough Handbook")
    pdf.set_font("Helvetica", "I", 11)
    _block(pdf, 6, f"{AUTHOR} - course notes, spring 2024")
    pdf.ln(4)
    for index, (heading, paragraphs) in enumerate(HANDBOOK):
        if index in (2, 4):  # one page per two sections, so the page spans mean something
            pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        _block(pdf, 8, heading)
        pdf.ln(1)
        pdf.set_font("Helvetica", "", 11)
        for paragraph in paragraphs:
            _block(pdf, 6, paragraph)
            pdf.ln(2)
    pdf.output(str(path))


# --- DOCX: the starter care sheet, with a list and a table --------------------------------------

FEEDING_TABLE = [
    ("Day", "Flour", "Water", "What to expect"),
    ("1", "50 g whole wheat", "50 g", "A thick paste; no activity yet."),
    ("2", "50 g whole wheat", "50 g", "A few bubbles; it may smell like cheese or old socks."),
    ("3-4", "50 g white + 50 g whole wheat", "100 g", "A sudden rise, then a quiet spell: keep feeding."),
    ("5-7", "100 g white", "100 g", "It doubles within eight hours and smells sour: ready to bake."),
]


def _fixed_zip(data: bytes) -> bytes:
    """The same archive with every member dated ZIP_DATE, so the output is reproducible."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            target.writestr(member, source.read(info.filename))
    return out.getvalue()


def make_docx(path: Path) -> None:
    document = docx.Document()
    properties = document.core_properties
    properties.title = "Starting and Keeping a Sourdough Starter"
    properties.author = AUTHOR
    properties.last_modified_by = AUTHOR
    properties.created = properties.modified = FIXED_DATE.replace(tzinfo=None)
    properties.revision = 1

    document.add_heading("Starting and Keeping a Sourdough Starter", level=0)
    document.add_paragraph(
        "This sheet accompanies the first lesson of the bread course. It explains how to create a "
        "starter from nothing but flour and water, and how to keep it lively for years."
    )
    document.add_heading("What you need", level=1)
    for item in (
        "A clean glass jar of about one litre, with a loose lid.",
        "Whole wheat flour for the first days, then white bread flour.",
        "Water at room temperature, filtered if your tap water is heavily chlorinated.",
        "A kitchen scale that weighs to the gram, and a rubber band to mark the level after each feed.",
    ):
        document.add_paragraph(item, style="List Bullet")
    document.add_heading("The first week", level=1)
    document.add_paragraph(
        "A starter becomes reliable after five to seven days of daily feeding. Keep the jar somewhere "
        "between 22 and 26 degrees Celsius and discard all but 50 g of the culture before each feed."
    )
    table = document.add_table(rows=0, cols=len(FEEDING_TABLE[0]))
    table.style = "Table Grid"
    for row in FEEDING_TABLE:
        cells = table.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            cell.text = value
    document.add_heading("Signs of a ripe starter", level=2)
    document.add_paragraph(
        "A ripe starter is a culture at its peak of activity, typically four to eight hours after "
        "feeding. It has at least doubled, its top is domed and full of bubbles, and a spoonful of it "
        "floats in a glass of water."
    )
    document.add_heading("Looking after it long term", level=1)
    document.add_paragraph(
        "A starter kept in the refrigerator needs one feed a week. Take it out the day before baking, "
        "feed it twice at room temperature, and it will be as strong as ever. Dried starter is a "
        "useful backup: spread a thin layer on baking paper, let it dry completely, and store the "
        "flakes in an airtight jar for up to a year."
    )
    for item in (
        "Feed it more often if hooch, a grey liquid, appears on top.",
        "Switch to whole grain flour for a few feeds if it becomes sluggish.",
        "Throw it away if you see pink or orange streaks or fuzzy mould.",
    ):
        document.add_paragraph(item, style="List Bullet")
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(_fixed_zip(buffer.getvalue()))


# --- Markdown, in French ------------------------------------------------------------------------

GUIDE_FR = """\
# Guide du levain naturel

Ce guide résume, en français, les notions de base enseignées pendant l'atelier de panification au
levain de l'école de boulangerie de Harbour Street.

## Qu'est-ce que le levain ?

Le levain est une culture de levures sauvages et de bactéries lactiques entretenue dans un mélange de
farine et d'eau. Il remplace la levure de boulanger et donne au pain une mie plus aromatique, une
légère acidité et une meilleure conservation.

Le rafraîchi est l'opération qui consiste à retirer une partie du levain et à la remplacer par de la
farine et de l'eau neuves. Un levain bien nourri double de volume en quatre à huit heures à 24 °C.

## Le pétrissage et l'autolyse

L'autolyse est un repos de vingt à soixante minutes du mélange de farine et d'eau, avant l'ajout du
levain et du sel. Elle facilite le développement du gluten et rend la pâte plus souple.

Le rabat est un geste doux qui remplace une partie du pétrissage : on soulève un côté de la pâte, on
l'étire vers le haut, puis on le replie sur elle-même. On répète ce geste sur les quatre côtés toutes
les trente minutes pendant les deux premières heures du pointage.

## Le pointage et l'apprêt

Le pointage est la première fermentation de la pâte entière, entre le pétrissage et le façonnage. À
24 °C, il dure en général de quatre à six heures ; la pâte est prête lorsqu'elle a gonflé d'environ
moitié et qu'elle est couverte de petites bulles.

L'apprêt est la seconde fermentation, après le façonnage. Beaucoup de boulangers la font au
réfrigérateur pendant une nuit : le froid ralentit les levures et développe les arômes.

### Les températures à retenir

- Levain actif : entre 24 et 26 °C.
- Pâte après pétrissage : environ 25 °C.
- Apprêt au froid : 4 °C pendant douze à seize heures.
- Cuisson : four préchauffé à 250 °C, puis 230 °C sans couvercle.

## La cuisson

La cuisson en cocotte en fonte garde la vapeur autour du pain pendant les vingt premières minutes, ce
qui favorise le développement du pain au four. On retire ensuite le couvercle pour que la croûte dore.
Un pain est cuit lorsque sa température à cœur atteint 96 °C et qu'il sonne creux quand on tapote le
dessous.

> Conseil : laissez toujours refroidir le pain au moins une heure avant de le trancher, car la mie
> continue de cuire pendant que la vapeur s'échappe.
"""


# --- HTML: an article wrapped in a typical site's boilerplate -----------------------------------

ARTICLE_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Shaping and Scoring Sourdough | Harbour Street Bakery School</title>
  <style>body { font-family: Georgia, serif; } .cookie-banner { position: fixed; }</style>
  <script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}</script>
</head>
<body>
  <div class="cookie-banner" id="cookie-consent">
    We use cookies to improve your experience. <button>Accept all</button> <button>Reject</button>
  </div>
  <header class="site-header">
    <a href="/">Harbour Street Bakery School</a>
    <nav>
      <ul><li><a href="/courses">Courses</a></li><li><a href="/blog">Blog</a></li>
      <li><a href="/shop">Shop</a></li><li><a href="/contact">Contact</a></li></ul>
    </nav>
  </header>
  <main>
    <article>
      <header><h1>Shaping and Scoring Sourdough</h1><p class="byline">By the teaching team</p></header>
      <p>Shaping turns a slack, bubbly dough into a loaf with enough surface tension to hold its form in
      the oven. Scoring then tells the loaf where to open as it expands. Both steps take practice, but a
      few principles make them much easier.</p>
      <h2>Pre-shaping</h2>
      <p>Pre-shaping is a first, gentle rounding of each divided piece of dough, followed by a bench rest
      of twenty to thirty minutes. The rest relaxes the gluten so that the final shape can be tight
      without tearing.</p>
      <h2>Final shaping</h2>
      <p>A boule is a round loaf shaped by dragging the dough towards you on an unfloured bench until the
      surface is smooth and taut. A batard is an oval loaf, shaped by folding the sides to the middle and
      rolling the dough up like a letter.</p>
      <ul>
        <li>Flour the top of the dough, not the bench, before turning it over.</li>
        <li>Use a bench scraper to move sticky dough instead of your fingers.</li>
        <li>Place the shaped loaf seam side up in a banneton dusted with rice flour.</li>
      </ul>
      <h2>Scoring</h2>
      <p>Scoring is the cut made in the surface of a loaf just before baking. It controls where the
      crust bursts during oven spring. Hold the blade, called a lame, at a shallow angle of about thirty
      degrees and cut about one centimetre deep in a single confident stroke.</p>
      <table>
        <tr><th>Pattern</th><th>Best for</th></tr>
        <tr><td>Single long slash</td><td>Batards, to create an "ear"</td></tr>
        <tr><td>Cross</td><td>Boules with a tight shape</td></tr>
        <tr><td>Square</td><td>High-hydration boules</td></tr>
      </table>
      <p>Score the loaf straight from the refrigerator: cold dough is firmer and the blade glides
      through it cleanly.</p>
      <footer>Tags: shaping, scoring, technique. <a href="/share">Share this article</a></footer>
    </article>
    <aside><h3>Related courses</h3><p>Sourdough foundations, every Saturday.</p></aside>
    <form action="/newsletter"><label>Get our newsletter</label><input type="email"></form>
  </main>
  <footer class="site-footer">
    <p>&copy; 2024 Harbour Street Bakery School. 12 Harbour Street, Portmere.</p>
    <nav><a href="/privacy">Privacy</a> <a href="/terms">Terms</a></nav>
  </footer>
  <script src="/static/analytics.js"></script>
</body>
</html>
"""


# --- CSV: a ready-made question/answer dataset --------------------------------------------------

FAQ = [
    ("How long does a new sourdough starter take to become active?",
     "Usually five to seven days of daily feeding at 22 to 26 degrees Celsius. It is ready when it "
     "doubles within eight hours of a feed."),
    ("What is hydration in bread baking?",
     "Hydration is the weight of water divided by the weight of flour, as a percentage. 750 g of water "
     "for 1000 g of flour is 75 percent hydration."),
    ("What is the grey liquid on top of my starter?",
     "It is hooch, alcohol made by hungry yeasts. It is harmless: pour it off or stir it in, and feed "
     "the starter more often."),
    ("Why is my sourdough loaf dense and gummy?",
     "It is most likely underfermented. Use the leaven at its peak and let bulk fermentation run until "
     "the dough has grown by about half."),
    ("How do I make my sourdough less sour?",
     "Use a young leaven, keep the dough warm, and shorten the cold proof; long cool fermentations "
     "favour acetic acid."),
    ("At what internal temperature is sourdough bread done?",
     "At about 96 degrees Celsius in the centre of the loaf."),
    ("Can I store a starter in the refrigerator?",
     "Yes. Feed it once a week, and give it two feeds at room temperature before baking."),
    ("What is a banneton?",
     "A banneton is a proofing basket, usually made of cane or wood pulp, that supports a shaped loaf "
     "during its final rise."),
    ("Why should I wait before slicing a fresh loaf?",
     "The crumb is still setting as steam escapes; slicing too early makes it gummy. Wait at least one "
     "hour."),
    ("What does autolyse mean?",
     "Autolyse is a rest of 20 to 60 minutes after mixing only flour and water, before adding leaven "
     "and salt, so the flour hydrates fully."),
]


def make_csv(path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("question", "answer"))
    writer.writerows(FAQ)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def main() -> None:
    make_pdf(HERE / "sourdough-handbook.pdf")
    make_docx(HERE / "starter-care-sheet.docx")
    (HERE / "guide-du-levain.md").write_text(GUIDE_FR, encoding="utf-8")
    (HERE / "shaping-and-scoring.html").write_text(ARTICLE_HTML, encoding="utf-8")
    make_csv(HERE / "sourdough-faq.csv")


if __name__ == "__main__":
    main()
