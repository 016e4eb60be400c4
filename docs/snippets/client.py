import contextlib

import artimeta

with artimeta.Client("127.0.0.1:50051") as client:
    # Made earlier already, by hand or by an adapter on first use, is fine too.
    with contextlib.suppress(artimeta.AlreadyExists):
        client.create_namespace("team-a", labels={"owner": "data-eng"})
    print([ns.name for ns in client.list_namespaces()])
    try:
        client.get_namespace("nope")
    except artimeta.NotFound as err:
        print(err.reason)  # NAMESPACE_NOT_FOUND
