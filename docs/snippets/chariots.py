from artimeta.adapters.chariots import ArtimetaOpStoreClient, Version

op_store = ArtimetaOpStoreClient(target="127.0.0.1:50051", namespace="team-a")
op_store.register_valid_link(None, "train", Version())  # what a chariots pipeline calls
print(op_store.pipeline_exists("daily"))  # False
print(op_store.post("/v1/get_all_versions_of_op", {"desired_op_name": "train"}))
