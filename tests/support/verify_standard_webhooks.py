"""Checks one delivery with the Standard Webhooks reference library, the way a receiver would.

Reads a JSON object on stdin:
  {"secret": "whsec_..." | null, "raw_secret": "..." | null, "body": "...", "headers": {...}}
`secret` goes to `Webhook(secret)` as a string; `raw_secret` goes as its UTF-8 bytes, which is
how a receiver holds a secret that is not in the `whsec_` form.

Prints a JSON object {"verdict": "accepted" | "rejected", "reason", "library", "module"} and exits
0 when accepted, 3 when the library rejected the delivery. Anything else (a crash, a missing
library) exits with another status, so it is never mistaken for a rejection.
"""

import json
import sys
from importlib.metadata import version

import standardwebhooks
from standardwebhooks import Webhook, WebhookVerificationError


def main() -> int:
    request = json.load(sys.stdin)
    if request.get("raw_secret") is not None:
        webhook = Webhook(request["raw_secret"].encode("utf-8"))
    else:
        webhook = Webhook(request["secret"])

    report = {
        "library": f"standardwebhooks {version('standardwebhooks')}",
        "module": standardwebhooks.__file__,
    }
    try:
        webhook.verify(request["body"].encode("utf-8"), request["headers"])
    except WebhookVerificationError as error:
        print(json.dumps({**report, "verdict": "rejected", "reason": str(error)}))
        return 3
    print(json.dumps({**report, "verdict": "accepted", "reason": None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
