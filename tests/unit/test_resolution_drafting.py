"""The extractive drafting of resolutions: what is kept from a question and a reply, and what is dropped."""

from __future__ import annotations

from app.resolutions.drafting import answer_of, extract, language_of, question_of, slug_of, title_of


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


# -- other languages: the same rules in German, Spanish, French and Portuguese ------------------------------
def test_german_greetings_thanks_case_actions_and_sign_offs_go() -> None:
    got = extract(["Hallo zusammen, kurze Frage: Kann ich mein Abo auch mit PayPal bezahlen?"],
                  ["Hallo Frau Weber,\n\nvielen Dank für Ihre Nachricht! Ja, Sie können mit PayPal bezahlen: Wählen "
                   "Sie PayPal an der Kasse aus. Das Abo wird dann jeden Monat über PayPal abgebucht.\n\nIch habe "
                   "Ihre Bestellung #48213 umgestellt. Bei weiteren Fragen melden Sie sich gern.\n\n"
                   "Viele Grüße\nJonas"])
    assert got.title == "Kann ich mein Abo auch mit PayPal bezahlen?"
    assert got.answer == ("Ja, Sie können mit PayPal bezahlen: Wählen Sie PayPal an der Kasse aus. Das Abo wird dann "
                          "jeden Monat über PayPal abgebucht.")
    assert language_of(got.question, got.answer) == "de"
    assert slug_of(got.title, set(), "de") == "abo-paypal-bezahlen"
    assert answer_of(["Danke!", "Liebe Grüße, Jonas"])[0] == ""


def test_spanish_inverted_question_marks_stay_and_the_title_is_capitalised() -> None:
    assert question_of(["¡Hola! ¿puedo pausar mi suscripción durante el verano?"]) == (
        "¿Puedo pausar mi suscripción durante el verano?")
    assert title_of("hola, ¿puedo cambiar la molienda?") == "¿Puedo cambiar la molienda?"
    answer, dropped = answer_of(["Hola Marta, gracias por escribirnos. Sí, puedes pausar la suscripción hasta tres "
                                 "meses en Ajustes. Durante la pausa no se cobra nada.\n\nYa he revisado tu cuenta y "
                                 "todo está bien. Si tienes alguna otra pregunta, aquí estamos.\n\nUn saludo,\nLucía"])
    assert answer == ("Sí, puedes pausar la suscripción hasta tres meses en Ajustes. Durante la pausa no se cobra "
                      "nada.")
    assert any("he revisado" in d for d in dropped)
    assert slug_of("¿Puedo pausar mi suscripción durante el verano?", set(), "es") == "pausar-suscripcion-verano"


def test_french_salutations_with_honorifics_and_closings_go() -> None:
    got = extract(["Bonjour, est-ce que vous livrez en Belgique ?"],
                  ["Bonjour Madame Martin, oui, nous livrons en Belgique en 3 à 5 jours ouvrés. La livraison est "
                   "offerte dès 40 euros.\n\nJ'ai vérifié votre commande. N'hésitez pas si vous avez d'autres "
                   "questions.\n\nCordialement,\nHugo"])
    assert got.title == "Est-ce que vous livrez en Belgique ?"
    assert got.answer == "Oui, nous livrons en Belgique en 3 à 5 jours ouvrés. La livraison est offerte dès 40 euros."
    assert language_of(got.question, got.answer) == "fr"
    assert answer_of(["Merci pour votre patience !", "Bonne journée !"])[0] == ""


def test_portuguese_lead_ins_case_actions_and_personal_data_go() -> None:
    got = extract(["Olá, uma pergunta: como faço para trocar o moinho se ele chegou com defeito?"],
                  ["Olá João, obrigado pelo contato! Se o moinho chegou com defeito, envie uma foto pelo formulário "
                   "de devolução em até 30 dias. Nós enviamos um novo sem custo.\n\nJá verifiquei o seu pedido e "
                   "escrevi para joao@example.com. Qualquer dúvida, estamos à disposição.\n\nAbraços,\nAna"])
    assert got.title == "Como faço para trocar o moinho se ele chegou com defeito?"
    assert got.answer == ("Se o moinho chegou com defeito, envie uma foto pelo formulário de devolução em até 30 "
                          "dias. Nós enviamos um novo sem custo.")
    assert "joao@example.com" not in " ".join(got.dropped)
    assert language_of(got.question, got.answer) == "pt"
    assert slug_of(got.title, set(), "pt") == "trocar-moinho-chegou-defeito"


def test_the_language_is_unknown_for_text_too_short_or_without_known_words() -> None:
    assert language_of("Can I pay with PayPal?", "Yes, choose PayPal at checkout.") == "en"
    assert language_of("PayPal?", "OK.") is None
    assert language_of("Wie pausiere ich?", "Im Konto.") == "de"  # too short for langdetect: stop words decide


def test_two_word_greetings_lead_in_questions_and_conditional_offers_of_help_close_replies() -> None:
    assert question_of(["Guten Tag, kann ich leere Beutel zurückschicken?"]) == "Kann ich leere Beutel zurückschicken?"
    assert title_of("Buenas tardes, ¿puedo cambiar la molienda?") == "¿Puedo cambiar la molienda?"
    assert question_of(["Good morning, do you roast on Fridays?"]) == "Do you roast on Fridays?"
    for closing in ("Si tienes cualquier otra duda, escríbenos.", "Wenn Sie weitere Fragen haben, melden Sie sich.",
                    "Si vous avez d'autres questions, écrivez-nous.", "Se tiver mais alguma dúvida, fale connosco.",
                    "If you have any other questions, just reply."):
        assert answer_of([f"Yes, that works. {closing}"])[0] == "Yes, that works.", closing
