"""Agent Markdown rendered for each channel and split to its limits; SMS segment arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.channels import formatting
from frontdesk.channels.formatting import split_text
from frontdesk.channels.segments import is_gsm7, sms_segments
from tests.providers import capabilities_of


def render(text: str, channel_type: str, provider: str = "") -> list[str]:
    return formatting.render(text, capabilities_of(channel_type, provider))


def render_reply(
    text: str, buttons: list[str], channel_type: str, provider: str = ""
) -> list[tuple[str, dict | None]]:
    return formatting.render_reply(text, buttons, capabilities_of(channel_type, provider))


def render_buttons(text: str, buttons: list[dict[str, str]], channel_type: str, provider: str = "") -> str:
    return formatting.render_buttons(text, buttons, capabilities_of(channel_type, provider))


def supports_buttons(channel_type: str, provider: str = "") -> bool:
    return capabilities_of(channel_type, provider).buttons is not None


# --- WhatsApp ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "whatsapp"),
    [
        ("**bold**", "*bold*"),
        ("__bold__", "*bold*"),
        ("*italic*", "_italic_"),
        ("_italic_", "_italic_"),
        ("***both***", "_*both*_"),
        ("~~strike~~", "~strike~"),
        ("Call `555-0123` now", "Call ```555-0123``` now"),
        ("```python\nx = 1\n\ny = 2\n```", "```\nx = 1\n\ny = 2\n```"),
        ("# Opening hours", "*Opening hours*"),
        ("## **Menu**", "*Menu*"),
        ("See [our site](https://shop.example/a)", "See our site (https://shop.example/a)"),
        ("[https://shop.example](https://shop.example)", "https://shop.example"),
        ("<https://shop.example>", "https://shop.example"),
        ("Mail <desk@shop.example>", "Mail desk@shop.example"),
        ("- one\n- two", "• one\n• two"),
        ("* one\n* two", "• one\n• two"),
        ("1. one\n2. two", "1. one\n2. two"),
        ("3) three\n4) four", "3) three\n4) four"),
        ("- one\n  - nested", "• one\n  • nested"),
        ("> a quote", "> a quote"),
        ("5 * 3 = 15 for snake_case_names", "5 * 3 = 15 for snake_case_names"),
        ("line one\nline two", "line one\nline two"),
        ("Para one.\n\nPara two.", "Para one.\n\nPara two."),
    ],
)
def test_whatsapp_markup(markdown: str, whatsapp: str) -> None:
    assert render(markdown, "whatsapp", "meta") == [whatsapp]


def test_whatsapp_is_rendered_the_same_through_any_provider() -> None:
    text = "**Hi** _there_, see [menu](https://m.example)"
    assert render(text, "whatsapp", "twilio") == render(text, "whatsapp", "meta") == render(text, "whatsapp")


# --- Plain text: Messenger, Instagram, SMS ----------------------------------------------------


@pytest.mark.parametrize("channel_type", ["messenger", "instagram", "sms"])
def test_plain_channels_lose_the_markers_but_keep_the_words(channel_type: str) -> None:
    text = "# Hours\n\n**Open** _daily_ ~~except~~ `Mon`. See [site](https://s.example).\n\n```\ncode\n```"
    assert render(text, channel_type) == [
        "Hours\n\nOpen daily except Mon. See site (https://s.example).\n\ncode"
    ]


def test_plain_lists_use_bullets_and_keep_numbers() -> None:
    assert render("- a\n- b\n\n1. c\n2. d", "messenger") == ["• a\n• b\n\n1. c\n2. d"]


# --- SMS: typography and segments -------------------------------------------------------------


def test_sms_replaces_typography_that_would_force_ucs2() -> None:
    text = "\u201cWe\u2019re open\u201d \u2013 9\u00a0am\u2026 \u2022 bring ID"
    assert render(text, "sms", "twilio") == ['"We\'re open" - 9 am... - bring ID']


def test_sms_bullets_become_hyphens() -> None:
    assert render("- one\n- two", "sms") == ["- one\n- two"]


def test_typography_replacement_saves_segments() -> None:
    text = "\u201cThanks\u201d \u2014 your table for four is booked for Friday at 8 pm. " * 2
    assert sms_segments(text) == 2  # UCS-2: 122 code units, over the 70 of one segment
    rendered = render(text, "sms")
    assert [sms_segments(part) for part in rendered] == [1]
    assert is_gsm7(rendered[0])


@pytest.mark.parametrize(
    "text", ["See you soon \U0001f600 \u2014 Ana", "\u03b1\u03b2\u03b3 \u2014 ok", "\u4f60\u597d"]
)
def test_sms_keeps_real_non_gsm_text_as_written(text: str) -> None:
    assert render(text, "sms") == [text]


def test_sms_replaces_typography_in_the_parts_that_can_be_gsm() -> None:
    gsm_able = ("It\u2019s fine. " * 100).strip()
    unicode = ("Bien \U0001f600. " * 100).strip()
    parts = render(f"{gsm_able}\n\n{unicode}", "sms")
    assert parts == [gsm_able.replace("\u2019", "'"), unicode]


def test_sms_parts_are_at_most_1600_characters() -> None:
    text = " ".join(f"Sentence number {n} is here." for n in range(400))
    parts = render(text, "sms")
    assert len(parts) > 1
    assert all(len(part) <= 1600 for part in parts)
    assert " ".join(parts) == text


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 0),
        ("a", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("\u20ac" * 80, 1),  # the euro sign takes two septets: 160
        ("\u20ac" * 81, 2),
        ("a" * 159 + "{", 2),
        ("a" * 152 + "\u20ac" + "a" * 152, 3),  # an escape pair is not split across segments
        ("\u03c9" * 70, 1),  # Greek lower case forces UCS-2
        ("\u03c9" * 71, 2),
        ("\u03c9" * 134, 2),
        ("\u03c9" * 135, 3),
        ("\U0001f600" * 35, 1),  # an emoji is two UTF-16 code units: 70
        ("\U0001f600" * 36, 2),
        ("\U0001f600" * 67, 3),  # 134 units, but a surrogate pair is not split: 33 a segment
        ("\u0394\u03a6\u0393 \u00e9\u00e8\u00e0 \u00c4\u00d6\u00dc\u00df @\u00a3$\u00a5", 1),
    ],
)
def test_sms_segments(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


def test_gsm7_alphabet() -> None:
    assert is_gsm7(
        "@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5_^{}\\[~]|\u20ac"
    )
    assert not is_gsm7("\u00e7")  # lower-case c cedilla is not in the alphabet, upper case is
    assert not is_gsm7("`")
    assert not is_gsm7("\u03b1")


# --- Other channels ------------------------------------------------------------------------------


def test_voice_gets_plain_text_for_speech() -> None:
    assert render("# Hours\n\nWe open at **9**.", "voice", "twilio") == ["Hours\n\nWe open at 9."]


@pytest.mark.parametrize("channel_type", ["webchat", "email"])
def test_webchat_and_email_get_the_text_unchanged_and_unsplit(channel_type: str) -> None:
    text = "# Title\n\n**bold** \u201cquoted\u201d\n\n" + "word " * 3000
    assert render(text, channel_type) == [text]


def test_telegram_keeps_the_markdown_and_splits_at_4096() -> None:
    assert render("**bold** and _it_", "telegram", "telegram") == ["**bold** and _it_"]
    parts = render("Some words here. " * 600, "telegram")
    assert len(parts) == 3
    assert all(len(part) <= 4096 for part in parts)


@pytest.mark.parametrize(
    ("channel_type", "limit"), [("whatsapp", 4096), ("messenger", 2000), ("instagram", 1000)]
)
def test_each_channel_splits_at_its_own_limit(channel_type: str, limit: int) -> None:
    text = "\n\n".join(f"Paragraph {n}: " + "lorem ipsum " * 20 for n in range(200))
    parts = render(text, channel_type)
    assert all(0 < len(part) <= limit for part in parts)
    assert " ".join(parts).split() == text.split()


def test_limits() -> None:
    types = ("whatsapp", "telegram", "messenger", "instagram", "sms", "voice", "email", "webchat")
    limits = {t: capabilities_of(t).text_limit for t in types}
    assert {t: n for t, n in limits.items() if n is not None} == {
        "whatsapp": 4096,
        "telegram": 4096,
        "messenger": 2000,
        "instagram": 1000,
        "sms": 1600,
    }
    assert capabilities_of("whatsapp", "meta").text_limit == 4096
    assert capabilities_of("whatsapp", "twilio").text_limit == 1600  # Twilio caps every message body at 1600
    assert capabilities_of("sms", "infobip").text_limit == 1600
    assert capabilities_of("email", "mailgun").text_limit is None
    assert capabilities_of("whatsapp", "meta").caption_limit == 1024
    assert capabilities_of("sms").caption_limit is None


def test_nothing_to_say_renders_no_parts() -> None:
    assert render("  \n\n ", "whatsapp") == []
    assert render("", "webchat") == []


# --- Buttons -------------------------------------------------------------------------------------

BUTTONS = [{"id": "yes", "title": "Yes, book it"}, {"id": "no", "title": "No thanks"}]


@pytest.mark.parametrize("channel_type", ["sms", "voice", "email"])
def test_buttons_degrade_to_a_numbered_list(channel_type: str) -> None:
    assert not supports_buttons(channel_type, "")
    assert (
        render_buttons("Shall I book it?", BUTTONS, channel_type)
        == "Shall I book it?\n\n1. Yes, book it\n2. No thanks"
    )


@pytest.mark.parametrize(
    ("channel_type", "provider"),
    [("whatsapp", "meta"), ("telegram", "telegram"), ("messenger", "meta"), ("webchat", "webchat")],
)
def test_buttons_are_left_to_channels_that_show_them(channel_type: str, provider: str) -> None:
    assert supports_buttons(channel_type, provider)
    assert render_buttons("Shall I book it?", BUTTONS, channel_type, provider) == "Shall I book it?"


def test_whatsapp_through_twilio_has_no_free_form_buttons() -> None:
    assert not supports_buttons("whatsapp", "twilio")
    assert render_buttons("Pick", BUTTONS, "whatsapp", "twilio").endswith("\n\n1. Yes, book it\n2. No thanks")


# --- Splitting -----------------------------------------------------------------------------------


def test_split_prefers_paragraphs_and_packs_those_that_fit() -> None:
    one, two, three = "First paragraph here.", "Second one.", "Third paragraph, a longer one."
    assert split_text(f"{one}\n\n{two}\n\n{three}", 40) == [f"{one}\n\n{two}", three]


def test_split_then_prefers_sentences() -> None:
    text = "Para one is here. It has two sentences.\n\nPara two is longer! Does it split? Yes."
    assert split_text(text, 30) == [
        "Para one is here.",
        "It has two sentences.",
        "Para two is longer!",
        "Does it split? Yes.",
    ]


def test_split_then_prefers_words() -> None:
    parts = split_text("a sentence without any stops that runs on and on", 12)
    assert parts == ["a sentence", "without any", "stops that", "runs on and", "on"]


def test_split_hard_cuts_only_a_word_longer_than_the_limit() -> None:
    assert split_text("go https://example.com/very/long/path now", 10) == [
        "go",
        "https://ex",
        "ample.com/",
        "very/long/",
        "path now",
    ]


def test_split_keeps_a_whatsapp_span_whole_when_it_can() -> None:
    assert split_text("*bold words that are many* and more after", 30) == [
        "*bold words that are many* and",
        "more after",
    ]


def test_split_keeps_a_code_block_whole_when_it_fits() -> None:
    code = "```\nfirst = 1\n\nsecond = 2\n```"
    assert split_text(f"Intro text.\n\n{code}\n\nOutro.", len(code) + 2) == ["Intro text.", code, "Outro."]


def test_split_cuts_a_span_longer_than_the_limit() -> None:
    parts = split_text("*" + "many words in bold " * 5 + "*", 20)
    assert all(len(part) <= 20 for part in parts)


_TEXT = st.text(alphabet=st.sampled_from("abcde XYZ.!?,*_~`\n\t\u00e9\U0001f600"), max_size=600)


@settings(max_examples=300, deadline=None)
@given(text=_TEXT, limit=st.integers(min_value=1, max_value=120))
def test_split_parts_fit_are_stripped_and_lose_nothing(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(0 < len(part) <= limit and part == part.strip() for part in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())


_WORD = st.text(alphabet=st.sampled_from("abcxyz.!?*_"), min_size=1, max_size=12)
_SEP = st.sampled_from([" ", "  ", "\n", "\n\n", "\n \n"])


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.tuples(_WORD, _SEP), max_size=150), limit=st.integers(min_value=12, max_value=200))
def test_split_never_breaks_a_word_that_fits(words: list[tuple[str, str]], limit: int) -> None:
    text = "".join(word + sep for word, sep in words)
    parts = split_text(text, limit)
    assert all(len(part) <= limit for part in parts)
    assert " ".join(parts).split() == text.split()


def test_reply_choices_ride_on_the_last_part_where_buttons_show() -> None:
    parts = render_reply("Which day suits you?", ["Monday", "Tuesday"], "whatsapp", "meta")
    choices = [{"id": "choice_1", "title": "Monday"}, {"id": "choice_2", "title": "Tuesday"}]
    assert parts == [("Which day suits you?", {"buttons": choices})]
    assert render_reply("Pick one", ["A"], "messenger", "meta") == [
        ("Pick one", {"buttons": [choices[0] | {"title": "A"}]})
    ]
    assert render_reply("Hi", [], "whatsapp", "meta") == [("Hi", None)]


def test_reply_choices_become_a_numbered_list_elsewhere() -> None:
    numbered = "Which day suits you?\n\n1. Monday\n2. Tuesday"
    assert render_reply("Which day suits you?", ["Monday", "Tuesday"], "sms", "twilio") == [(numbered, None)]
    assert render_reply("Which day suits you?", ["Monday", "Tuesday"], "whatsapp", "twilio") == [
        (numbered, None)
    ]
    # WhatsApp shows buttons under at most 1024 characters of body: a longer last part gets the list.
    long = "word " * 300
    [(text, payload)] = render_reply(long, ["Yes"], "whatsapp", "meta")
    assert payload is None and text.endswith("1. Yes")
