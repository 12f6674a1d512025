"""Intent classification rules, the model's answer, and the router's sticky decision."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from frontdesk.agents.intent import (
    Classification,
    LlmFailed,
    MatchText,
    RouterSettings,
    classify_rules,
    keyword_score,
    llm_request,
    parse_llm_answer,
)
from frontdesk.agents.router import RouterAgent, config_errors
from frontdesk.agents.router_state import Sticky
from frontdesk.model.routing import AgentInfo

CONFIG = {
    "routes": [
        {
            "agent_id": "billing",
            "description": "invoices and payments",
            "keywords": ["invoice", "payment", "refund"],
        },
        {
            "agent_id": "policy",
            "description": "insurance policies",
            "keywords": ["policy", "coverage", r"re:\bPOL-\d+"],
        },
    ]
}


def settings(**extra: object) -> RouterSettings:
    return RouterSettings.model_validate({**CONFIG, **extra})


def score(keyword: str, text: str) -> float:
    return keyword_score(keyword, MatchText(text), 85)


def test_keyword_matching() -> None:
    assert score("invoice", "Where is my invoice?") == 1.0
    assert score("policy", "I have two policies") == 1.0  # plural
    assert 0.85 <= score("policy", "question about my polcy") < 1.0  # typo
    assert score("car", "my card was charged") == 0.0  # short words match exactly only
    assert score("speak to someone", "can I speak to someone please") == 1.0
    assert score(r"re:\bPOL-\d+", "it is pol-1234") == 1.0
    assert score("refund", "the weather is nice") == 0.0


def test_rules_pick_the_route_with_the_keywords() -> None:
    found = classify_rules(settings(), "I want a refund for this invoice")
    assert found.target == "billing" and found.method == "rules"
    assert found.confidence > classify_rules(settings(), "refund please").confidence > 0.5
    assert classify_rules(settings(), "what does my coverage include").target == "policy"
    assert classify_rules(settings(), "I want to talk to a real person").target == "human"
    nothing = classify_rules(settings(), "hello there")
    assert nothing.confidence == 0.0


def test_two_routes_alike_lower_the_confidence() -> None:
    clear = classify_rules(settings(), "refund")
    mixed = classify_rules(settings(), "refund for my policy")
    assert mixed.confidence < clear.confidence and mixed.confidence < 0.5


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"routes": []}, "at least 1"),
        ({"routes": [{"agent_id": "human"}]}, "built-in person target"),
        ({"routes": [{"agent_id": "a"}, {"agent_id": "a"}]}, "more than once"),
        ({"routes": [{"agent_id": "a"}], "default_target": "b"}, "default_target 'b'"),
        ({"routes": [{"agent_id": "a", "keywords": ["re:(unclosed"]}]}, "not a valid regular expression"),
        ({"routes": [{"agent_id": "a", "keywords": ["!!!"]}]}, "no letters or digits"),
        ({"routes": [{"agent_id": "a"}], "llm": {"base_url": "ftp://x", "model": "m"}}, "http(s) URL"),
    ],
)
def test_invalid_router_config(config: dict, problem: str) -> None:
    with pytest.raises(ValidationError) as info:
        RouterSettings.model_validate(config)
    assert problem in str(info.value)


def test_router_cannot_route_to_itself() -> None:
    problems = config_errors({"routes": [{"agent_id": "r1"}]}, "r1")
    assert problems == [{"field": "config.routes.0.agent_id", "message": "a router cannot route to itself"}]
    assert config_errors(CONFIG, "r1") == []
    assert config_errors({}, "r1")[0]["field"] == "config.routes"


def test_model_request_lists_targets_and_current_agent() -> None:
    s = settings(llm={"base_url": "https://llm.example.com/v1/", "model": "small"})
    body = llm_request(s, "hi", ["customer: earlier"], "billing")
    system = body["messages"][0]["content"]
    assert "- billing: invoices and payments" in system and "- human:" in system
    assert "currently with: billing" in system
    assert body["model"] == "small" and body["response_format"] == {"type": "json_object"}
    assert "customer: earlier" in body["messages"][1]["content"]
    assert s.llm is not None and s.llm.base_url == "https://llm.example.com/v1"


def completion(content: object) -> dict:
    return {"choices": [{"message": {"role": "assistant", "content": content}}]}


def test_model_answers() -> None:
    s = settings()
    found = parse_llm_answer(s, completion('{"target": "policy", "confidence": 0.8}'))
    assert (found.target, found.confidence, found.method) == ("policy", 0.8, "llm")
    fenced = parse_llm_answer(s, completion('```json\n{"target": "human", "confidence": 1}\n```'))
    assert fenced.target == "human"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"choices": []}, "no choices"),
        (completion(None), "not text"),
        (completion("policy"), "did not answer JSON"),
        (completion('["policy"]'), "not an object"),
        (completion('{"target": "sales", "confidence": 0.9}'), "unknown target"),
        (completion('{"target": "policy", "confidence": 7}'), "confidence"),
        (completion('{"target": "policy"}'), "confidence"),
    ],
)
def test_unusable_model_answers(data: dict, problem: str) -> None:
    with pytest.raises(LlmFailed, match=problem):
        parse_llm_answer(settings(), data)


def router(**extra: object) -> RouterAgent:
    info = AgentInfo("r1", "default", "Router", "router", "active", {**CONFIG, **extra})
    return RouterAgent(None, info, build=None)  # type: ignore[arg-type]


def sticky(target: str, confidence: float = 0.75) -> Sticky:
    return Sticky(target, confidence, datetime.now(UTC), "bot")


def test_decide_keeps_the_current_agent_unless_the_topic_clearly_changes() -> None:
    r = router()
    weak = classify_rules(r.settings, "and the polcy?")  # one typo: under switch_confidence
    assert r.decide(weak, sticky("billing")).method == "sticky"
    clear = classify_rules(r.settings, "my policy coverage for POL-1234")
    moved = r.decide(clear, sticky("billing"))
    assert (moved.target, moved.method) == ("policy", "rules")
    same = r.decide(classify_rules(r.settings, "another refund"), sticky("billing", 0.6))
    assert (same.target, same.method) == ("billing", "sticky") and same.confidence == 0.75
    llm = Classification("policy", 0.8, "llm")
    assert r.decide(llm, sticky("billing")).target == "policy"
    assert r.decide(Classification("policy", 0.6, "llm"), sticky("billing")).target == "billing"


def test_decide_without_history_uses_the_default_when_unsure() -> None:
    assert router().decide(Classification("policy", 0.2, "rules"), None).target == "billing"
    to_person = router(default_target="human").decide(Classification("policy", 0.2, "rules"), None)
    assert to_person.target == "human" and to_person.confidence == 0.2
    assert router().decide(Classification("policy", 0.9, "rules"), None).target == "policy"


def test_classification_step() -> None:
    step = Classification("policy", 0.81234, "llm").step()
    assert step == {"type": "classification", "target": "policy", "confidence": 0.812, "method": "llm"}
    assert Classification("b", 0.5, "rules", error="timeout").step()["llm_error"] == "timeout"
