from artimeta_server.rpc import access

access.declare(
    "artimeta.v1.TagService",
    read={"GetTag", "ListTags"},  # readers may call these
    write={"CreateTag", "DeleteTag"},  # optional: writer is the default anyway
    admin=set(),  # admin on the namespace
    global_read=set(),
    global_admin=set(),  # act on every namespace: need a "*" grant
    open=set(),  # callable without a token (rarely right)
)
