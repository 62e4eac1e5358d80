"""Read state and unread counts."""


def _entry(counts, cid):
    matches = [c for c in counts["channels"] if c["channel_id"] == cid]
    assert len(matches) <= 1, counts["channels"]
    return matches[0] if matches else None


def test_mark_read_and_unread_counts(client, make_user, make_channel):
    reader = make_user()["id"]
    ch, _, owner = make_channel(members=[reader])

    ch.send_message({"text": "before read"}, owner)
    resp = ch.mark_read(reader)
    ev = resp["event"]
    assert ev["type"] == "message.read"
    assert ev["cid"] == ch.cid
    assert ev["user"]["id"] == reader

    counts = client.unread_counts(reader)
    assert counts["total_unread_count"] == 0
    entry = _entry(counts, ch.cid)
    if entry is not None:
        assert entry["unread_count"] == 0

    ch.send_message({"text": "after read"}, owner)
    counts = client.unread_counts(reader)
    assert counts["total_unread_count"] == 1
    entry = _entry(counts, ch.cid)
    assert entry is not None
    assert entry["unread_count"] == 1
    by_type = {t["channel_type"]: t for t in counts["channel_type"]}
    assert by_type["messaging"]["unread_count"] == 1

    ch.send_message({"text": "again"}, owner)
    counts = client.unread_counts(reader)
    assert counts["total_unread_count"] == 2
    assert _entry(counts, ch.cid)["unread_count"] == 2

    # own messages never count as unread for the sender
    ch.mark_read(owner)
    ch.send_message({"text": "own"}, owner)
    assert client.unread_counts(owner)["total_unread_count"] == 0

    ch.mark_read(reader)
    assert client.unread_counts(reader)["total_unread_count"] == 0


def test_unread_counts_across_channels(client, make_user, make_channel):
    reader = make_user()["id"]
    ch1, _, o1 = make_channel(members=[reader])
    ch2, _, o2 = make_channel(members=[reader])
    ch1.mark_read(reader)
    ch2.mark_read(reader)
    ch1.send_message({"text": "1"}, o1)
    ch1.send_message({"text": "2"}, o1)
    ch2.send_message({"text": "3"}, o2)
    counts = client.unread_counts(reader)
    assert counts["total_unread_count"] == 3
    assert _entry(counts, ch1.cid)["unread_count"] == 2
    assert _entry(counts, ch2.cid)["unread_count"] == 1

    client.mark_all_read(reader)
    assert client.unread_counts(reader)["total_unread_count"] == 0


def test_read_state_in_channel_query(client, make_user, make_channel):
    reader = make_user()["id"]
    ch, _, owner = make_channel(members=[reader])
    ch.mark_read(reader)
    ch.send_message({"text": "x"}, owner)
    state = ch.query(user_id=reader)
    reads = {r["user"]["id"]: r for r in state["read"]}
    assert reads[reader]["unread_messages"] == 1
    assert reads[reader]["last_read"] is not None


def test_mark_unread_from_message(client, make_user, make_channel):
    reader = make_user()["id"]
    ch, _, owner = make_channel(members=[reader])
    ids = [ch.send_message({"text": f"m{i}"}, owner)["message"]["id"] for i in range(3)]
    ch.mark_read(reader)
    assert client.unread_counts(reader)["total_unread_count"] == 0
    ch.mark_unread(reader, message_id=ids[1])  # inclusive: m1 and m2 unread
    counts = client.unread_counts(reader)
    assert counts["total_unread_count"] == 2
    assert _entry(counts, ch.cid)["unread_count"] == 2
