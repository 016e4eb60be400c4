"""The client's cheap read of DownloadResponse bytes agrees with protobuf's parse."""

from __future__ import annotations

import pytest

from artimeta.blob_requests import _download_data
from artimeta.v1 import blobs_pb2 as pb


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 4 * 1024 * 1024 + 3])
def test_slices_the_bytes_of_any_size(size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    raw = pb.DownloadResponse(data=data).SerializeToString()
    assert _download_data(raw) == data


def test_other_forms_are_parsed() -> None:
    # Unknown fields (a later version of the message) around the data: the slice would be wrong.
    data = b"payload"
    unknown = bytes([0x10, 0x2A])  # field 2, varint 42
    raw = pb.DownloadResponse(data=data).SerializeToString()
    assert _download_data(raw + unknown) == data
    assert _download_data(unknown + raw) == data
    truncated = raw[:-1]
    with pytest.raises(Exception):  # noqa: B017 - protobuf's own DecodeError
        _download_data(truncated)
