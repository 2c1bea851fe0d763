"""Generate the binary sample files in ``files/``.

Creates:
  files/warranty-terms.pdf  - 2-page PDF with a text layer (needs ``fpdf2``)
  files/wholesale-faq.docx  - Word document with headings and a table (needs ``python-docx``)

All content is about the fictional company Brewly (brewly.example).
The outputs are committed; run this script only to regenerate them:

    python service/samples/make_binary_samples.py

Both files are written with fixed timestamps so that regenerating them
produces the same content.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

FILES_DIR = Path(__file__).resolve().parent / "files"
FIXED_TIME = dt.datetime(2026, 6, 1, 9, 0, 0, tzinfo=dt.UTC)

# --------------------------------------------------------------------------
# Warranty terms (PDF)
# --------------------------------------------------------------------------

WARRANTY_TITLE = "Brewly Mill - Warranty Terms"
WARRANTY_SUBTITLE = "Version 2.1, valid for Brewly Mills delivered from 1 June 2026"

# Each page is a list of (kind, text) items; kind is "h1", "h2" or "p" / "li".
WARRANTY_PAGES: list[list[tuple[str, str]]] = [
    [
        ("h2", "1. Warrantor"),
        ("p", "The warranty is given by Brewly Roasting GmbH, Roestereiweg 7, 20099 Hamburg, "
              "Germany (\"Brewly\"), for the Brewly Mill grinder with serial numbers starting "
              "with BM1. Contact: support@brewly.example."),
        ("h2", "2. Warranty period"),
        ("p", "Brewly warrants that the Brewly Mill is free from defects in materials and "
              "workmanship for 2 years from the date of delivery to the first buyer. The date "
              "of delivery shown in the Brewly account, or on the receipt of an authorised "
              "retailer, is decisive."),
        ("h2", "3. What the warranty covers"),
        ("li", "Motor and gearbox failures."),
        ("li", "Faults of the electronics, the display, the built-in scale, Wi-Fi and Bluetooth."),
        ("li", "Faults of the grind adjustment mechanism."),
        ("li", "Burrs that break or chip without a foreign object being involved."),
        ("li", "Manufacturing defects of the hopper and the catch cup."),
        ("h2", "4. Exclusions"),
        ("p", "The warranty does not cover:"),
        ("li", "normal wear of the burrs (burrs are wear parts and last for about 250 kg of coffee);"),
        ("li", "damage caused by grinding anything other than roasted coffee beans or "
               "Brewly Clean pellets, for example rice, spices or grains;"),
        ("li", "damage caused by foreign objects such as stones or screws, unless they came "
               "in a Brewly coffee bag;"),
        ("li", "water or liquid damage, drops, and cracks in the housing;"),
        ("li", "opening the housing; removing the upper burr for cleaning is allowed;"),
        ("li", "operation outside 220 to 240 V, or with a voltage converter;"),
        ("li", "commercial use of more than 2 kg of coffee per day."),
        ("h2", "5. Wear parts and spare parts"),
        ("p", "Replacement burr sets are available in the Brewly shop for EUR 29.00. Spare "
              "hoppers, hopper lids and catch cups are available for at least 5 years after "
              "the last Brewly Mill was sold."),
    ],
    [
        ("h2", "6. How to make a claim"),
        ("p", "Claims are made online under Account > Devices > Brewly Mill > Warranty claim "
              "on brewly.example. The claim must contain the serial number (format "
              "BM1-YYWW-NNNNN, printed on the underside of the Mill), a description of the "
              "problem and any error code shown on the display. Buyers from other retailers "
              "upload their receipt. Brewly answers within 2 business days and may ask for a "
              "short video of the problem."),
        ("h2", "7. Replacement"),
        ("p", "If the claim is approved, Brewly sends a new or refurbished replacement Mill "
              "within 3 business days, together with a prepaid label for the defective unit. "
              "The defective unit must be returned within 14 days of receiving the "
              "replacement; otherwise Brewly charges EUR 189.00 for the replacement. "
              "The replacement is covered for the remaining warranty period of the original "
              "Mill or for 6 months, whichever is longer."),
        ("h2", "8. Costs"),
        ("p", "Brewly pays all shipping costs for approved claims in every country it "
              "delivers to. If an inspection shows that the fault is excluded under section 4, "
              "Brewly offers a paid repair quote; if the customer declines it, the Mill is "
              "returned for a handling fee of EUR 15.00."),
        ("h2", "9. Transfer to a new owner"),
        ("p", "The warranty stays with the Mill if it is sold or given away. The new owner "
              "needs the original proof of purchase and must link the Mill to their own "
              "account after a factory reset."),
        ("h2", "10. Statutory rights"),
        ("p", "This warranty is given in addition to the statutory rights of consumers. "
              "It does not limit the rights of the buyer against the seller in case of "
              "defects. Within 14 days of delivery, buyers from Brewly may also return the "
              "Mill for a refund under the Brewly return policy."),
        ("h2", "11. Applicable law"),
        ("p", "These terms are governed by German law. Mandatory consumer protection rules "
              "of the buyer's country of residence remain unaffected."),
    ],
]


def make_pdf(path: Path) -> None:
    from fpdf import FPDF

    class WarrantyPDF(FPDF):
        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", "", 8)
            self.cell(0, 5, f"Brewly Mill warranty terms - page {self.page_no()} of "
                            f"{len(WARRANTY_PAGES)}", align="C")

    pdf = WarrantyPDF(format="A4")
    pdf.set_creation_date(FIXED_TIME)
    pdf.set_title(WARRANTY_TITLE)
    pdf.set_author("Brewly Roasting GmbH")
    pdf.set_subject("Warranty terms for the Brewly Mill (fictional sample)")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(left=20, top=20, right=20)
    width = pdf.w - pdf.l_margin - pdf.r_margin

    for page_no, items in enumerate(WARRANTY_PAGES, start=1):
        pdf.add_page()
        if page_no == 1:
            pdf.set_font("Helvetica", "B", 18)
            pdf.multi_cell(width, 9, WARRANTY_TITLE, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "I", 10)
            pdf.multi_cell(width, 6, WARRANTY_SUBTITLE, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        for kind, text in items:
            if kind == "h2":
                pdf.ln(2)
                pdf.set_font("Helvetica", "B", 12.5)
                pdf.multi_cell(width, 7, text, new_x="LMARGIN", new_y="NEXT")
            elif kind == "li":
                pdf.set_font("Helvetica", "", 10.5)
                pdf.multi_cell(width, 5.4, "- " + text, new_x="LMARGIN", new_y="NEXT")
            else:
                pdf.set_font("Helvetica", "", 10.5)
                pdf.multi_cell(width, 5.4, text, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(1)
        if pdf.page_no() != page_no:
            raise RuntimeError(f"warranty page {page_no} overflowed onto another page")

    pdf.output(str(path))


# --------------------------------------------------------------------------
# Wholesale FAQ (DOCX)
# --------------------------------------------------------------------------

WHOLESALE_SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Who can become a wholesale partner", [
        ("p", "Brewly supplies cafes, restaurants, hotels, bakeries and offices that use more "
              "than 20 kg of coffee per month. Smaller workplaces are better served by the "
              "Office subscription plan."),
        ("p", "Partners must be registered businesses in the EU or Switzerland. We ask for "
              "the company registration number and, for EU partners, a valid VAT ID."),
    ]),
    ("Prices and minimum order", [
        ("p", "Wholesale prices are net prices per kilogram, excluding VAT, and depend on the "
              "monthly volume. The minimum order is 10 kg per delivery. All coffees are "
              "available in 1 kg bags of whole beans."),
        ("table", ""),
        ("p", "Prices are fixed for 6 months from the start of the agreement. We announce "
              "changes at least 60 days in advance."),
    ]),
    ("Ordering and delivery", [
        ("p", "Orders are placed in the partner portal at brewly.example/wholesale by "
              "Tuesday 12:00 CET for roasting on Thursday. Deliveries leave Hamburg on Friday "
              "and arrive within 1 to 3 business days in Germany, Austria and the Benelux "
              "countries. Standing orders can be weekly, every two weeks or monthly."),
        ("p", "Delivery is free from 20 kg per delivery. Below that, a flat fee of EUR 12.00 "
              "per delivery applies."),
    ]),
    ("Payment terms", [
        ("p", "Wholesale partners pay by invoice with 30 days net. A 2 % discount applies to "
              "invoices paid by SEPA direct debit on the invoice date. New partners receive "
              "their first two deliveries against prepayment."),
    ]),
    ("Training and equipment", [
        ("p", "Every new partner receives a free 3-hour barista training for up to 4 staff "
              "members at our Hamburg roastery or on site (on-site training in Germany only). "
              "Partners above 50 kg per month can borrow up to two Brewly Mills free of "
              "charge for the duration of the agreement."),
    ]),
    ("Ending the agreement", [
        ("p", "Wholesale agreements run for an initial 6 months and then renew every month. "
              "Either side can end the agreement with 30 days' notice by email to "
              "wholesale@brewly.example."),
    ]),
]

PRICE_TIERS = [
    ("Monthly volume", "Price per kg (net)", "Roaster's blend", "Single origin surcharge"),
    ("20 to 49 kg", "EUR 22.00", "Included", "+ EUR 3.00"),
    ("50 to 99 kg", "EUR 20.50", "Included", "+ EUR 2.50"),
    ("100 to 249 kg", "EUR 19.00", "Included", "+ EUR 2.00"),
    ("250 kg and more", "On request", "Custom blend possible", "On request"),
]


def make_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title = "Brewly Wholesale FAQ"
    props.author = "Brewly Roasting GmbH"
    props.subject = "Wholesale terms for cafes and offices (fictional sample)"
    naive = FIXED_TIME.replace(tzinfo=None)
    props.created = naive
    props.modified = naive
    props.last_modified_by = "Brewly Roasting GmbH"
    props.revision = 1

    document.add_heading("Brewly Wholesale FAQ", level=1)
    document.add_paragraph(
        "This FAQ answers the most common questions from cafes, restaurants and companies "
        "that want to buy Brewly coffee in larger quantities. Questions that are not "
        "answered here can be sent to wholesale@brewly.example."
    )

    for heading, blocks in WHOLESALE_SECTIONS:
        document.add_heading(heading, level=2)
        for kind, text in blocks:
            if kind == "table":
                table = document.add_table(rows=len(PRICE_TIERS), cols=len(PRICE_TIERS[0]))
                table.style = "Table Grid"
                for r, row in enumerate(PRICE_TIERS):
                    for c, value in enumerate(row):
                        cell = table.cell(r, c)
                        cell.text = value
                        if r == 0:
                            for run in cell.paragraphs[0].runs:
                                run.bold = True
            else:
                document.add_paragraph(text)

    document.save(str(path))


def main() -> None:
    FILES_DIR.mkdir(parents=True, exist_ok=True)
    pdf_path = FILES_DIR / "warranty-terms.pdf"
    docx_path = FILES_DIR / "wholesale-faq.docx"
    make_pdf(pdf_path)
    make_docx(docx_path)
    print(f"wrote {pdf_path}")
    print(f"wrote {docx_path}")


if __name__ == "__main__":
    main()
