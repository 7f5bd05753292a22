"""A small OpenAI-compatible HTTP server for tests: embeddings and chat completions, scriptable faults."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


def fake_vector(text: str, dimensions: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimensions)
    return (vector / np.linalg.norm(vector)).round(6).tolist()


class FakeOpenAI:
    """Serves /v1/embeddings and /v1/chat/completions on 127.0.0.1 with a random port.

    `fail_next(status, n)` makes the next n requests answer with that status; every request is
    recorded in `requests` (path, JSON body).
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.authorizations: list[str] = []
        self.failures: deque[int] = deque()
        self.chat_reply = "This is the answer."
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with outer.lock:
                    outer.requests.append((self.path, body))
                    outer.authorizations.append(self.headers.get("authorization", ""))
                    status = outer.failures.popleft() if outer.failures else 200
                if status != 200:
                    self._send(status, {"error": {"message": f"injected {status}", "type": "test"}},
                               {"retry-after-ms": "10"})
                    return
                if self.path.endswith("/embeddings"):
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    dims = int(body.get("dimensions") or 1536)
                    self._send(200, {
                        "object": "list", "model": body["model"],
                        "data": [{"object": "embedding", "index": i, "embedding": fake_vector(t, dims)}
                                 for i, t in enumerate(inputs)],
                        "usage": {"prompt_tokens": sum(len(t.split()) for t in inputs),
                                  "total_tokens": sum(len(t.split()) for t in inputs)},
                    })
                elif self.path.endswith("/chat/completions"):
                    self._send(200, {
                        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                        "model": body.get("model", "test"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": outer.chat_reply}}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                    })
                else:
                    self._send(404, {"error": {"message": "no such route"}})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def fail_next(self, status: int, times: int = 1) -> None:
        with self.lock:
            self.failures.extend([status] * times)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
