"""What happens to resources that hold data when their stack is deleted or they are replaced.

Kept on deletion and replacement, so tearing a stack down never destroys records, files or the keys that
decrypt them; but removed when the stack's very first create fails and rolls back, so a retry does not trip
over an empty bucket the failed attempt left behind (``BucketAlreadyExists``).
"""

from __future__ import annotations

KEEP_DATA: dict[str, str] = {"DeletionPolicy": "RetainExceptOnCreate", "UpdateReplacePolicy": "Retain"}
