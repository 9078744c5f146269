"""A child process kept running for as long as the app runs (the figures projector's).

Started with the app; when it exits while the app runs it is logged and started again,
after a pause that doubles from 1 s up to 30 s (and falls back to 1 s once a child has
lived a minute), so a child that cannot start does not spin. At shutdown it gets SIGTERM
and ``grace_s`` seconds, then SIGKILL. Should the app itself be killed, the child notices
that its parent is gone and stops (``tsunagi.actions.figures.worker``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence

from tsunagi.aio import stop_tasks

log = logging.getLogger(__name__)

FIRST_PAUSE_S = 1.0
LONGEST_PAUSE_S = 30.0
HEALTHY_AFTER_S = 60.0


class ChildProcess:
    def __init__(
        self, name: str, args: Sequence[str], env: Mapping[str, str], *, grace_s: float = 10.0
    ) -> None:
        self.name = name
        self.args = list(args)
        self.env = dict(env)
        self.grace_s = grace_s
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether a child is running now (False between a death and the restart)."""
        return self.process is not None and self.process.returncode is None

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return self.process.pid if self.running and self.process is not None else None

    async def start(self) -> None:
        """Start the child (an error if it cannot be), and keep it running."""
        process = await self._spawn()
        self._task = asyncio.create_task(self._keep(process), name=f"child-{self.name}")

    async def _spawn(self) -> asyncio.subprocess.Process:
        self.process = await asyncio.create_subprocess_exec(*self.args, env=self.env)
        self.starts += 1
        log.info("%s started (pid %s)", self.name, self.process.pid)
        return self.process

    async def _keep(self, process: asyncio.subprocess.Process) -> None:
        pause = FIRST_PAUSE_S
        while True:
            began = time.monotonic()
            code = await process.wait()
            if time.monotonic() - began >= HEALTHY_AFTER_S:
                pause = FIRST_PAUSE_S
            log.error(
                "%s (pid %s) exited with %s; starting it again in %.0f s",
                self.name,
                process.pid,
                code,
                pause,
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_S)
            try:
                process = await self._spawn()
            except OSError:
                log.exception("%s could not be started; trying again", self.name)

    async def stop(self) -> None:
        """Stop keeping the child, then end it: SIGTERM, and SIGKILL after ``grace_s``."""
        await stop_tasks([self._task])
        self._task = None
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            async with asyncio.timeout(self.grace_s):
                await process.wait()
        except TimeoutError:
            log.error(
                "%s (pid %s) did not stop in %s s; killed", self.name, process.pid, self.grace_s
            )
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
