"""Delete the JetStream stream a fuzz run's audit-relay created.

    python delete_stream.py NATS_URL STREAM

A missing stream is not an error: the relay may have died before making it.
"""

import asyncio
import sys

import nats
from nats.js.errors import NotFoundError


async def main(url: str, stream: str) -> None:
    client = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        await client.jetstream().delete_stream(stream)
    except NotFoundError:
        pass
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
