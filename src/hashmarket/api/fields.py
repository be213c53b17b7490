"""Field types shared by the routers: ids that fit the ledger's 64-bit integers.

Both databases store ids, seqs and amounts as signed 64-bit integers. A larger number in a
path, a query or a body is refused at the edge as a 422 naming the field, instead of reaching
the database driver, which cannot even ask for it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field, StrictInt

from hashmarket.ledger import INT64_MAX

# A body integer in the database's range (StrictInt: "100" and 1.5 are refused, not coerced).
Int64 = Annotated[StrictInt, Field(le=INT64_MAX)]

# Path ids: accounts are positive; a transfer id may be a ledger-assigned -seq.
ACCOUNT_ID = Path(..., ge=1, le=INT64_MAX, description="An account id")
TRANSFER_ID = Path(..., ge=-INT64_MAX, le=INT64_MAX, description="A transfer id (or -seq)")
