"""Forged Teams tokens against a real ``policybot serve`` whose token-key endpoint never answers.

Starts ``policybot serve`` (fake embedder, an app id set, web chat off) with ``HTTPS_PROXY`` pointing at
a local listener that accepts connections and never answers, so every fetch of the Bot Framework
signing keys stalls. Then sends, all at once, ``--each`` requests to ``/api/messages`` with each kind
of token (alg ``none``, HS256, an expired RS256 token, and a plausible RS256 token that needs the
keys) while asking ``/healthz`` ten times. Prints one JSON object:

* ``statuses``: ``{kind: {status: count}}`` (expected: 401 for the forgeries, 503 for the plausible one);
* ``slowest_s``: ``{kind: seconds}``, the slowest answer of each kind;
* ``healthz_max_s``: the slowest ``/healthz`` while the forged requests were in flight;
* ``key_endpoint_connections``: how many times the server tried to reach the key endpoint.

Usage: ``python bench/bench_forged_tokens.py [--each 5]``. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

APP_ID = "00000000-0000-0000-0000-00000000abcd"
SERVICE_URL = "https://smba.example/"


def _b64(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def tokens(now: int) -> dict[str, str]:
    """Bearer tokens by kind; none is signed by a Bot Framework key."""
    claims = dict(iss="https://api.botframework.com", aud=APP_ID, exp=now + 600, nbf=now - 10, serviceurl=SERVICE_URL)
    rs256 = {"alg": "RS256", "typ": "JWT", "kid": "k"}
    return {
        "alg none": _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + ".",
        "HS256": _b64({"alg": "HS256", "typ": "JWT", "kid": "k"}) + "." + _b64(claims) + ".c2ln",
        "expired RS256": _b64(rs256) + "." + _b64(dict(claims, exp=now - 3600)) + ".c2ln",
        "plausible RS256": _b64(rs256) + "." + _b64(claims) + ".c2ln",
    }


class Stall:
    """A listener on 127.0.0.1 that accepts and never answers; ``connections`` counts accepted sockets."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    @property
    def connections(self) -> int:
        return len(self.held)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--each", type=int, default=5, help="requests per kind of token")
    a = ap.parse_args(argv)
    stall = Stall()
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as data:
        env = dict(
            os.environ,
            POLICYBOT_FAKE_EMBEDDER="1",
            POLICYBOT_DATA_DIR=data,
            POLICYBOT_WEBCHAT="off",
            MicrosoftAppId=APP_ID,
            MicrosoftAppPassword="not-a-real-secret",
            HTTPS_PROXY=stall.url,
            https_proxy=stall.url,
            NO_PROXY="127.0.0.1,localhost",
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "serve", "--port", "0"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            base = server.stdout.readline().split()[3]
            for _ in range(600):
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1)
                    break
                except (OSError, urllib.error.URLError):
                    time.sleep(0.1)
            forged = tokens(int(time.time()))
            body = json.dumps(
                {
                    "type": "message",
                    "id": "1",
                    "serviceUrl": SERVICE_URL,
                    "channelId": "msteams",
                    "from": {"id": "29:x"},
                    "recipient": {"id": "28:bot"},
                    "conversation": {"id": "a:1"},
                    "text": "hi",
                }
            ).encode()

            def send(kind: str) -> tuple[str, int, float]:
                request = urllib.request.Request(
                    base + "/api/messages",
                    data=body,
                    headers={"Content-Type": "application/json", "Authorization": "Bearer " + forged[kind]},
                )
                t = time.perf_counter()
                try:
                    status = urllib.request.urlopen(request, timeout=60).status
                except urllib.error.HTTPError as err:
                    status = err.code
                return kind, status, time.perf_counter() - t

            def healthz() -> float:
                t = time.perf_counter()
                urllib.request.urlopen(base + "/healthz", timeout=30).read()
                return time.perf_counter() - t

            with concurrent.futures.ThreadPoolExecutor(len(forged) * a.each) as pool:
                futures = [pool.submit(send, kind) for kind in forged for _ in range(a.each)]
                time.sleep(0.2)
                health = [healthz() for _ in range(10)]
                results = [f.result() for f in futures]
        finally:
            server.terminate()
            server.wait(30)
    statuses = {kind: dict(Counter(s for k, s, _ in results if k == kind)) for kind in forged}
    print(
        json.dumps(
            {
                "statuses": statuses,
                "slowest_s": {kind: round(max(t for k, _, t in results if k == kind), 3) for kind in forged},
                "healthz_max_s": round(max(health), 4),
                "key_endpoint_connections": stall.connections,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
