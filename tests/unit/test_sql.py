from artimeta_server.storage.sql import given


def test_given_numbers_the_present_conditions_after_the_existing_parameters() -> None:
    args: list[object] = [7, 100]
    sql = given(args, ("name = {}", None), ("(name, tag) > ({}, {})", ("a", "b")), ("seq < {}", (5,)))
    assert sql == " AND (name, tag) > ($3, $4) AND seq < $5"
    assert args == [7, 100, "a", "b", 5]


def test_given_with_nothing_present_adds_nothing() -> None:
    args: list[object] = [1]
    assert given(args, ("name > {}", None)) == ""
    assert args == [1]
