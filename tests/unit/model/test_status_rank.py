from frontdesk.model.messages import STATUS_RANK


def test_statuses_only_move_forward() -> None:
    order = ["queued", "sent", "delivered", "read"]
    assert [STATUS_RANK[s] for s in order] == sorted(STATUS_RANK[s] for s in order)
