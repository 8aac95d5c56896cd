"""Whether a project kernel lives, and why it ended: judged from the kernel manager.

Local kernels are judged by their process (still the one we connected to, running);
kernels on a gateway have no process here, so our reader's open connection stands for
them (it hears the gateway's ``restarting``/``dead`` status) unless we ask the gateway.
Used by ``kernels.py`` (ready, ensure, the restarter's callback), the setup and
connection waits and the spare pool.
"""

from __future__ import annotations

import signal
from typing import Any

from jupyter_core.utils import ensure_async

from .kernel_handle import KernelHandle, kernel_pid


def reader_open(handle: KernelHandle) -> bool:
    """Whether our reader of the kernel's channels is there and not closed."""
    return handle.reader is not None and not handle.reader.closed


def process_running(kernel: Any, pid: int | None) -> bool:
    """Whether a local kernel's process is still ``pid`` and running, judged without
    awaiting (the process object's ``poll``)."""
    process = getattr(getattr(kernel, "provisioner", None), "process", None)
    return process is not None and kernel_pid(kernel) == pid and process.poll() is None


async def process_alive(km: Any, kernel_id: str) -> bool:
    """Whether the kernel process lives (whatever our bookkeeping says)."""
    if kernel_id not in km:
        return False
    return bool(await ensure_async(km.get_kernel(kernel_id).is_alive()))


def usable_now(km: Any, handle: KernelHandle) -> bool:
    """Whether code can go to the handle's kernel, judged without awaiting: connected,
    not known dead, and (local kernels only) its process the one we connected to and
    running."""
    if handle.client is None or handle.died.is_set() or handle.kernel_id not in km:
        return False
    if handle.remote:  # no process to look at: the reader hears of a death
        return reader_open(handle)
    return process_running(km.get_kernel(handle.kernel_id), handle.pid)


async def handle_alive(km: Any, handle: KernelHandle) -> bool:
    """Whether the kernel we connected to lives: its process for local kernels, the
    gateway's word (an HTTP request) for remote ones. A process replaced behind our back
    sets the handle's death reason."""
    if handle.died.is_set() or handle.kernel_id not in km:
        return False
    if handle.remote and not reader_open(handle):
        return False
    kernel = km.get_kernel(handle.kernel_id)
    if handle.pid is not None and kernel_pid(kernel) not in (None, handle.pid):
        handle.death_reason = "the kernel was restarted outside AI Notebook"
        return False
    return await process_alive(km, handle.kernel_id)


def exit_reason(km: Any, handle: KernelHandle) -> str:
    """Why the kernel process ended: its exit code or signal, when the manager has it."""
    if handle.remote:
        return "the kernel on the gateway ended"
    kernel = km.get_kernel(handle.kernel_id) if handle.kernel_id in km else None
    process = getattr(getattr(kernel, "provisioner", None), "process", None)
    return describe_exit(getattr(process, "returncode", None))


def describe_exit(returncode: int | None) -> str:
    """A person-readable reason for a kernel process ending."""
    if returncode is None:
        return "the kernel process ended"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " (for example by the out-of-memory killer)" if name == "SIGKILL" else ""
        return f"the kernel process was killed by {name}{hint}"
    return f"the kernel process exited with code {returncode}"
