import artimeta

with artimeta.Client("127.0.0.1:50051") as client:
    try:
        client.create_namespace("team-a", labels={"owner": "data-eng"})
    except artimeta.AlreadyExists:
        pass  # made earlier: by hand, or by an adapter on first use
    print([ns.name for ns in client.list_namespaces()])
    try:
        client.get_namespace("nope")
    except artimeta.NotFound as err:
        print(err.reason)  # NAMESPACE_NOT_FOUND
