"""The extractive drafting of resolutions: what is kept from a question and a reply, and what is dropped."""

from __future__ import annotations

from app.resolutions.drafting import answer_of, extract, question_of, slug_of, title_of


def test_the_question_is_the_asking_sentence_without_greetings_or_requests_for_a_person() -> None:
    assert question_of(["Hi there, quick question: can I pay with PayPal?"]) == "Can I pay with PayPal?"
    assert question_of(["I want to speak to a person."]) == ""
    assert question_of(["Hello!", "My grinder makes a squeaking noise when it starts."]) == (
        "My grinder makes a squeaking noise when it starts.")
    three = question_of(["Do you ship to Norway? And to Iceland? What does it cost? Thanks?"])
    assert three == "Do you ship to Norway? What does it cost?"  # the first two, fragments dropped


def test_the_title_is_the_first_question_capitalised_and_bounded() -> None:
    assert title_of("so do you sell tea? I love tea.") == "Do you sell tea?"
    long = title_of("Can I " + "really " * 60 + "do that?")
    assert len(long) <= 150 and long.endswith("…")


def test_the_answer_drops_greetings_case_actions_sign_offs_and_personal_data() -> None:
    reply = ("Hi Anna,\n\nThanks for reaching out! Yes, we accept PayPal at checkout. It is charged monthly.\n\n"
             "I've updated order #4711 for you. Write to me at anna@example.com or call +49 170 1234567.\n\n"
             "Let me know if you need anything else.\nBest regards,\nTom")
    answer, dropped = answer_of([reply])
    assert answer == "Yes, we accept PayPal at checkout. It is charged monthly."
    assert any("order #4711" in d for d in dropped) and any("[EMAIL]" in d for d in dropped)
    assert "anna@example.com" not in " ".join(dropped)
    assert answer_of(["Hi Max, I've sent you the form. Cheers, Tom"])[0] == ""


def test_paragraphs_are_kept_and_an_extract_has_all_parts() -> None:
    got = extract(["Can I grind for cold brew?"], ["Yes. Use grind setting 30.\n\nSteep it for 16 hours."])
    assert got.title == "Can I grind for cold brew?"
    assert got.answer == "Yes. Use grind setting 30.\n\nSteep it for 16 hours."


def test_slugs_come_from_the_title_and_never_collide() -> None:
    assert slug_of("Can I pay with PayPal?", set()) == "pay-paypal"
    assert slug_of("Can I pay with PayPal?", {"pay-paypal"}) == "pay-paypal-2"
    assert slug_of("???", set()) == "answer"


def test_a_salutation_before_the_answer_goes_and_the_answer_stays() -> None:
    assert answer_of(["Hi Ole, only the catch cup can go in the dishwasher."])[0] == (
        "Only the catch cup can go in the dishwasher.")
    assert answer_of(["Hi Mr. Braun, we don't print catalogues. Good luck!"])[0] == "We don't print catalogues."
    kept, dropped = answer_of(["Jobs are listed at brewly.example/jobs; or write to jobs@brewly.example."])
    assert kept == "Jobs are listed at brewly.example/jobs." and "[EMAIL]" in dropped[0]
    assert answer_of(["We send a Swiss cable for free: reply with your order number."])[0] != ""
