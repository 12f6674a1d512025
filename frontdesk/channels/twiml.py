"""TwiML documents for Twilio calls: speak, listen for speech, redirect, hand over, hang up.

Every builder returns a complete document. They are built with ElementTree so whatever an agent
says is escaped; characters XML 1.0 cannot carry at all (most control characters) are dropped,
because Twilio rejects the whole document, and so the call, when one slips in.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from frontdesk.channels.voice import CallStep, Ended, HangUp, Listen, Redirect, Transfer

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def gather(
    prompt: str,
    action: str,
    *,
    language: str = "en-US",
    timeout: int = 5,
    speech_timeout: str = "auto",
    voice: str | None = None,
) -> str:
    """Ask ``prompt`` and post what the caller says (``SpeechResult``) to ``action``."""
    response = ET.Element("Response")
    _gather(response, [prompt], action, language, timeout, speech_timeout, voice)
    return _document(response)


def say_then_gather(
    text: str,
    action: str,
    prompt: str = "",
    *,
    language: str = "en-US",
    timeout: int = 5,
    speech_timeout: str = "auto",
    voice: str | None = None,
) -> str:
    """Speak an answer, optionally a follow-up prompt, and listen for the caller's next words.

    The answer is spoken inside <Gather> so the caller can interrupt a long answer by talking.
    """
    response = ET.Element("Response")
    _gather(response, [text, prompt], action, language, timeout, speech_timeout, voice)
    return _document(response)


def say_and_redirect(text: str, url: str, *, language: str = "en-US", voice: str | None = None) -> str:
    """Speak, then fetch the next TwiML document from ``url`` (POST)."""
    response = ET.Element("Response")
    _say(response, text, language, voice)
    _child(response, "Redirect", url, method="POST")
    return _document(response)


def say_and_hangup(text: str, *, language: str = "en-US", voice: str | None = None) -> str:
    """Speak a last sentence and end the call."""
    response = ET.Element("Response")
    _say(response, text, language, voice)
    ET.SubElement(response, "Hangup")
    return _document(response)


def dial(
    text: str,
    number: str,
    *,
    caller_id: str | None = None,
    timeout: int = 30,
    action: str | None = None,
    language: str = "en-US",
    voice: str | None = None,
) -> str:
    """Tell the caller they are being connected, then connect them to a person at ``number``."""
    response = ET.Element("Response")
    _say(response, text, language, voice)
    attrs = {"timeout": str(timeout)}
    if caller_id:
        attrs["callerId"] = caller_id
    if action:
        attrs.update(action=action, method="POST")
    dial_verb = _child(response, "Dial", None, **attrs)
    _child(dial_verb, "Number", number)
    return _document(response)


def _gather(
    parent: ET.Element,
    texts: list[str],
    action: str,
    language: str,
    timeout: int,
    speech_timeout: str,
    voice: str | None,
) -> None:
    # actionOnEmptyResult: without it a silent caller falls off the end of the document and the
    # call hangs up; with it the endpoint is asked again and can re-prompt or say goodbye.
    verb = _child(
        parent,
        "Gather",
        None,
        input="speech",
        action=action,
        method="POST",
        language=language,
        timeout=str(timeout),
        speechTimeout=str(speech_timeout),
        actionOnEmptyResult="true",
    )
    for text in texts:
        _say(verb, text, language, voice)


def _say(parent: ET.Element, text: str, language: str, voice: str | None) -> None:
    if not _clean(text).strip():
        return  # an empty <Say> is an error in Twilio's eyes, and says nothing anyway
    attrs = {"language": language}
    if voice:
        attrs["voice"] = voice
    _child(parent, "Say", text, **attrs)


def _child(parent: ET.Element, tag: str, text: str | None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {name: _clean(value) for name, value in attrs.items()})
    if text is not None:
        element.text = _clean(text)
    return element


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _document(response: ET.Element) -> str:
    return DECLARATION + ET.tostring(response, encoding="unicode")


def empty() -> str:
    """A document that does nothing: the answer to a webhook about a call that is over."""
    return DECLARATION + "<Response/>"


def render(step: CallStep) -> str:
    """The TwiML document for what the call does next."""
    match step:
        case Listen(text, action, language):
            return say_then_gather(text, action, language=language)
        case Redirect(text, url, language):
            return say_and_redirect(text, url, language=language)
        case HangUp(text, language):
            return say_and_hangup(text, language=language)
        case Transfer(text, number, language):
            return dial(text, number, language=language)
        case Ended():
            return empty()
    raise TypeError(f"not a call step: {step!r}")
