"""User blocks and blocklists through the Python SDK: block/unblock/list, blocklist CRUD, and channel
types whose blocklist refuses (code 73) or flags messages that use a listed word."""

from conftest import uid
from eddy_helpers import api_error, assert_api_error, assert_recent


def test_block_list_and_unblock(client, make_user):
    blocker = make_user()["id"]
    first = make_user(name="First")["id"]
    second = make_user()["id"]

    response = client.block_user(first, blocker)
    assert response["blocked_by_user_id"] == blocker
    assert response["blocked_user_id"] == first
    assert_recent(response["created_at"])
    client.block_user(second, blocker)
    # Blocking again keeps the first block.
    again = client.block_user(first, blocker)
    assert again["created_at"] == response["created_at"]

    blocks = client.get_blocked_users(blocker)["blocks"]
    assert [b["blocked_user_id"] for b in blocks] == [first, second]
    assert blocks[0]["user_id"] == blocker
    assert blocks[0]["user"]["id"] == blocker
    assert blocks[0]["blocked_user"]["id"] == first
    assert blocks[0]["blocked_user"]["name"] == "First"
    assert blocks[0]["created_at"] == response["created_at"]
    # The blocked users have blocked nobody.
    assert client.get_blocked_users(first)["blocks"] == []

    client.unblock_user(first, blocker)
    assert [b["blocked_user_id"] for b in client.get_blocked_users(blocker)["blocks"]] == [second]


def test_blocks_with_a_user_token_act_for_the_token_user(client, user_client, make_user):
    blocker = make_user()["id"]
    target = make_user()["id"]
    someone_else = make_user()["id"]
    as_blocker = user_client(blocker)
    # A user token blocks for its own user, whatever user_id the body names.
    response = as_blocker.block_user(target, someone_else)
    assert response["blocked_by_user_id"] == blocker
    assert [b["blocked_user_id"] for b in client.get_blocked_users(blocker)["blocks"]] == [target]
    assert client.get_blocked_users(someone_else)["blocks"] == []
    as_blocker.unblock_user(target, blocker)
    assert client.get_blocked_users(blocker)["blocks"] == []


def test_blocking_yourself_or_nobody_is_refused(client, make_user):
    blocker = make_user()["id"]
    assert_api_error(api_error(client.block_user, blocker, blocker), 4, 400)
    assert_api_error(api_error(client.block_user, uid("nobody"), blocker), 4, 400)
    assert_api_error(api_error(client.block_user, "", blocker), 4, 400)
    assert client.get_blocked_users(blocker)["blocks"] == []


def test_blocked_authors_do_not_count_as_unread(client, make_user, make_channel):
    reader = make_user()["id"]
    talker = make_user()["id"]
    ch, _, owner = make_channel(members=[reader, talker])
    client.block_user(talker, reader)
    ch.send_message({"text": "you will not count this"}, talker)
    ch.send_message({"text": "but this one counts"}, owner)
    assert client.unread_counts(reader)["total_unread_count"] == 1
    client.unblock_user(talker, reader)
    ch.send_message({"text": "counted again"}, talker)
    assert client.unread_counts(reader)["total_unread_count"] == 2


def test_blocklist_crud(client):
    name = uid("words")
    created = client.create_blocklist(name, ["Zeta", "alpha", "Mid-Word"])
    assert created["blocklist"]["name"] == name

    listed = client.list_blocklists()["blocklists"]
    names = [b["name"] for b in listed]
    assert "profanity_en_2020_v1" in names
    assert name in names
    built_in = next(b for b in listed if b["name"] == "profanity_en_2020_v1")
    assert built_in["words"], "the built-in list has words"

    got = client.get_blocklist(name)["blocklist"]
    assert got["name"] == name
    assert got["type"] == "word"
    assert got["words"] == ["zeta", "alpha", "mid-word"], "lower-cased, in the given order"
    assert_recent(got["created_at"])
    assert_recent(got["updated_at"])

    client.update_blocklist(name, ["one", "Two"])
    assert client.get_blocklist(name)["blocklist"]["words"] == ["one", "two"]

    client.delete_blocklist(name)
    assert_api_error(api_error(client.get_blocklist, name), 16, 404)
    assert name not in [b["name"] for b in client.list_blocklists()["blocklists"]]
    assert_api_error(api_error(client.delete_blocklist, name), 16, 404)


def test_blocklist_input_is_checked(client, user_client, make_user):
    assert_api_error(api_error(client.create_blocklist, "", ["a"]), 4, 400)
    assert_api_error(api_error(client.create_blocklist, "x" * 256, ["a"]), 4, 400)
    assert_api_error(api_error(client.create_blocklist, uid("long"), ["w" * 41]), 4, 400)
    assert_api_error(api_error(client.create_blocklist, uid("re"), ["a+"], type="regex"), 4, 400)
    assert_api_error(api_error(client.create_blocklist, "profanity_en_2020_v1", ["a"]), 4, 400)
    assert_api_error(api_error(client.update_blocklist, "profanity_en_2020_v1", ["a"]), 4, 400)
    assert_api_error(api_error(client.delete_blocklist, "profanity_en_2020_v1"), 4, 400)
    name = uid("dup")
    client.create_blocklist(name, ["a"])
    assert_api_error(api_error(client.create_blocklist, name, ["b"]), 4, 400)
    client.delete_blocklist(name)
    # Blocklists are server-side only.
    as_user = user_client(make_user()["id"])
    assert_api_error(api_error(as_user.list_blocklists), 17, 403)
    assert_api_error(api_error(as_user.create_blocklist, uid("mine"), ["a"]), 17, 403)


def test_a_channel_type_naming_an_unknown_blocklist_is_refused(client):
    exc = api_error(
        client.create_channel_type,
        {"name": uid("t").replace("-", "_")[:60], "blocklist": uid("missing")},
    )
    assert_api_error(exc, 4, 400)


def screened_type(client, behavior, words):
    """A fresh blocklist and a channel type that screens with it."""
    blocklist = uid("screen")
    client.create_blocklist(blocklist, words)
    kind = ("t" + uid("").replace("-", ""))[:30]
    client.create_channel_type(
        {"name": kind, "blocklist": blocklist, "blocklist_behavior": behavior}
    )
    config = client.get_channel_type(kind)
    assert config["blocklist"] == blocklist
    assert config["blocklist_behavior"] == behavior
    return kind, blocklist


def test_a_block_blocklist_refuses_messages_with_code_73(client, user_client, make_user, make_channel):
    kind, _ = screened_type(client, "block", ["rutabaga", "bad idea"])
    author = make_user()["id"]
    ch, _, _ = make_channel(channel_type=kind, members=[author])
    as_author = user_client(author).channel(kind, ch.id)

    exc = api_error(as_author.send_message, {"text": "I like RUTABAGA!"}, author)
    body = assert_api_error(exc, 73, 400)
    assert "blocked" in body["message"]
    assert_api_error(api_error(as_author.send_message, {"text": "what a bad-idea"}, author), 73, 400)

    # Parts of words and clean messages pass; server-side sends are not screened.
    sent = as_author.send_message({"text": "rutabagas are fine"}, author)["message"]
    assert ch.send_message({"text": "rutabaga"}, author)["message"]["text"] == "rutabaga"

    # Edits are screened too.
    updater = user_client(author)
    exc = api_error(updater.update_message, {"id": sent["id"], "text": "rutabaga", "user_id": author})
    assert_api_error(exc, 73, 400)
    exc = api_error(updater.update_message_partial, sent["id"], {"set": {"text": "rutabaga"}}, author)
    assert_api_error(exc, 73, 400)
    kept = client.get_message(sent["id"])["message"]
    assert kept["text"] == "rutabagas are fine"


def test_a_flag_blocklist_sends_and_flags(client, user_client, make_user, make_channel):
    kind, blocklist = screened_type(client, "flag", ["parsnip"])
    author = make_user()["id"]
    ch, _, _ = make_channel(channel_type=kind, members=[author])
    as_author = user_client(author).channel(kind, ch.id)
    clean = as_author.send_message({"text": "carrots only"}, author)["message"]
    assert client.query_message_flags({"channel_cid": ch.cid})["flags"] == []

    sent = as_author.send_message({"text": "a Parsnip, please"}, author)["message"]
    assert sent["text"] == "a Parsnip, please"
    flags = client.query_message_flags({"channel_cid": ch.cid})["flags"]
    assert [f["message"]["id"] for f in flags] == [sent["id"]]
    assert flags[0]["created_by_automod"] is True
    assert blocklist in flags[0]["reason"]

    # Deleting the list detaches it from the type: the same word now passes unflagged.
    client.delete_blocklist(blocklist)
    assert client.get_channel_type(kind).get("blocklist") is None
    as_author.send_message({"text": "parsnip again"}, author)
    flagged = [f["message"]["id"] for f in client.query_message_flags({"channel_cid": ch.cid})["flags"]]
    assert flagged == [sent["id"]]
    assert clean["id"] not in flagged
