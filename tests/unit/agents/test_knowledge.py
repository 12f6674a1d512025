from frontdesk.agents.knowledge import KnowledgeIndex, tokenize

ENTRIES = [
    {
        "id": "hours",
        "question": "What are your opening hours?",
        "answer": "Mon-Fri 9-17.",
        "tags": ["hours", "open"],
    },
    {
        "id": "price",
        "question": "How much does a wedding package cost?",
        "answer": "From $5,000.",
        "tags": ["price"],
    },
    {
        "id": "where",
        "question": "Where are you located?",
        "answer": "12 Harbour Street.",
        "tags": ["address"],
    },
]


def test_tokenize_drops_stopwords_and_plurals() -> None:
    assert tokenize("What are your opening hours?") == ["opening", "hour"]


def test_exact_question_is_certain() -> None:
    best = KnowledgeIndex(ENTRIES).search("What are your opening hours?")[0]
    assert best.entry_id == "hours"
    assert best.confidence == 1.0


def test_typos_are_mended() -> None:
    best = KnowledgeIndex(ENTRIES).search("wat are yuor openning hourss")[0]
    assert best.entry_id == "hours"
    assert best.confidence >= 0.6


def test_tags_and_paraphrases_match() -> None:
    assert KnowledgeIndex(ENTRIES).search("what's the price?")[0].entry_id == "price"


def test_unrelated_question_has_low_confidence() -> None:
    matches = KnowledgeIndex(ENTRIES).search("can you repair my tractor engine")
    assert all(m.confidence < 0.3 for m in matches)


def test_empty_index_and_empty_query() -> None:
    assert KnowledgeIndex([]).search("hello") == []
    assert KnowledgeIndex(ENTRIES).search("the of and") == []
