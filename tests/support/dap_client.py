"""A small Debug Adapter Protocol client over TCP: what VS Code's Python extension sends debugpy when it attaches.

DAP messages are JSON bodies behind a `Content-Length: N\\r\\n\\r\\n` header. A reader thread sorts what arrives
into responses (by the request's seq) and events (in order), so a test can send a request and wait for its
answer, or wait for an event such as `stopped`, while debugpy keeps talking.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from typing import Any


class DapError(RuntimeError):
    pass


class DapClient:
    def __init__(self, host: str, port: int, timeout: float = 30):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(None)  # the reader blocks until debugpy speaks or the socket closes
        self._seq = 0
        self._lock = threading.Lock()
        self._responses: dict[int, queue.Queue] = {}
        self.events: queue.Queue[dict] = queue.Queue()
        self.seen_events: list[dict] = []
        self._reader = threading.Thread(target=self._read_loop, name="dap-reader", daemon=True)
        self._reader.start()

    # -- wire ---------------------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        stream = self.sock.makefile("rb")
        try:
            while True:
                length = None
                while True:
                    line = stream.readline()
                    if not line:
                        return
                    line = line.strip()
                    if not line:
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if length is None:
                    raise DapError("a DAP message without Content-Length")
                message = json.loads(stream.read(length))
                if message.get("type") == "response":
                    self._responses.setdefault(message["request_seq"], queue.Queue()).put(message)
                elif message.get("type") == "event":
                    self.seen_events.append(message)
                    self.events.put(message)
        except OSError:
            return
        finally:
            self.events.put({"type": "event", "event": "<connection closed>"})

    def send(self, command: str, **arguments: Any) -> int:
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._responses.setdefault(seq, queue.Queue())
            body = json.dumps({"seq": seq, "type": "request", "command": command, "arguments": arguments}).encode()
            self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return seq

    def response(self, seq: int, timeout: float | None = None) -> dict:
        try:
            message = self._responses[seq].get(timeout=timeout or self.timeout)
        except queue.Empty:
            raise DapError(f"no response to request {seq} within {timeout or self.timeout:.0f}s") from None
        if not message.get("success"):
            raise DapError(f"{message.get('command')} failed: {message.get('message')} {message.get('body')}")
        return message.get("body") or {}

    def request(self, command: str, **arguments: Any) -> dict:
        return self.response(self.send(command, **arguments))

    def wait_event(self, name: str, timeout: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self.events.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                seen = [e["event"] for e in self.seen_events]
                raise DapError(f"no {name!r} event within {timeout or self.timeout:.0f}s; saw {seen}") from None
            if event["event"] == name:
                return event.get("body") or {}
            if event["event"] == "<connection closed>":
                raise DapError(f"debugpy closed the connection before a {name!r} event")

    def close(self) -> None:
        with contextlib.suppress(OSError):  # already closed by debugpy
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    # -- the attach sequence VS Code performs ---------------------------------------------------------------
    def attach(self, configuration: dict, breakpoints: dict[str, list[int]]) -> dict[str, list[dict]]:
        """initialize, attach with a launch.json configuration, set breakpoints per local file, then
        configurationDone: the run leaves its wait once debugpy has the breakpoints. Returns what debugpy
        answered for each file's breakpoints."""
        self.request(
            "initialize",
            clientID="medallion-tests",
            adapterID="debugpy",
            pathFormat="path",
            linesStartAt1=True,
            columnsStartAt1=True,
        )
        attach_seq = self.send("attach", **configuration)
        self.wait_event("initialized")
        answered = {}
        for path, lines in breakpoints.items():
            body = self.request("setBreakpoints", source={"path": path}, breakpoints=[{"line": n} for n in lines])
            answered[path] = body.get("breakpoints", [])
        self.request("configurationDone")
        self.response(attach_seq)
        return answered

    def locals_of(self, frame_id: int) -> dict[str, dict]:
        scopes = self.request("scopes", frameId=frame_id)["scopes"]
        local = next(s for s in scopes if s["name"].lower() == "locals")
        variables = self.request("variables", variablesReference=local["variablesReference"])["variables"]
        return {v["name"]: v for v in variables}

    def evaluate(self, expression: str, frame_id: int) -> str:
        return self.request("evaluate", expression=expression, frameId=frame_id, context="watch")["result"]
