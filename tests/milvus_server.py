"""Milvus Lite's gRPC server (``milvus-lite server``) in a child process, on 127.0.0.1.

It speaks the same protocol as Milvus Standalone, so tests through it exercise the network
client path a real cluster takes. Each test takes its own collection name in it.
"""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import time
from pathlib import Path

from helpers import free_port

_names = itertools.count()


class MilvusServer:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "MilvusServer":
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from milvus_lite.cmdline import main; sys.exit(main())",
             "server", "--data-dir", str(self.data_dir), "--host", "127.0.0.1", "--port", str(self.port),
             "--max-workers", "4"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180  # a condition with a generous deadline: a busy machine starts slowly
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"milvus-lite server exited with {self.process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("milvus-lite server did not start in 180 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def collection_name() -> str:
    return f"t{next(_names)}"
