"""No private side door: every attribute the SDK sends is one heron's ingest maps."""

from __future__ import annotations

from heron.ingest.keys import FLAT_PREFIXES, KNOWN
from heron.sdk import attributes as A

# sent on purpose to land in metadata as they are (see docs/sdk.md)
METADATA_KEYS = {A.PROVIDER, A.OPERATION, A.RESPONSE_ID, A.FINISH_REASONS, A.TOOL_DEFINITIONS}


def test_every_sdk_attribute_is_mapped_by_the_server() -> None:
    names = {v for k, v in vars(A).items() if k.isupper() and isinstance(v, str) and "." in v} - {
        A.TRUNCATION_PREFIX,
        A.MASK_FAILED,
    }
    assert names
    for name in sorted(names):
        if name in METADATA_KEYS:
            continue
        if name.endswith("."):  # a prefix: <prefix><key>
            assert name.startswith(FLAT_PREFIXES) or name in FLAT_PREFIXES, name
        else:
            assert name in KNOWN or name.startswith(FLAT_PREFIXES), name
