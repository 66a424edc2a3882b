"""Function Compute's invoke API: 2.0 as ``aliyun-fc2`` (2.5.2) speaks it, 3.0 as ``alibabacloud-fc20230330``.

Functions are Python callables registered with :class:`FunctionSpec` (no deploy API). Error
codes, statuses and message templates follow the FC 2.0 "Error codes" page
(help.aliyun.com/zh/fc/developer-reference/error-codes). Both APIs run the same functions on the
same runtime, async queue and records; FC 3.0 adds async tasks (GetAsyncTask, ListAsyncTasks,
StopAsyncTask) and names a function without its service.

Structure (read in this order):

* ``urls.py``: which requests are FC's (``/2016-08-15/...``, ``/2023-03-30/...``) and what a path names.
* ``service.py``: :class:`FcEmulator`, the service object the emulator registers; wires the
  parts below and is what the control plane talks to (``register``, ``invocations``, ``wait_idle``…).
* ``responses.py``: one method per operation (``invoke_function``): checks, then sync or async.
* ``signing.py``: FC's ``Authorization: FC <key>:<signature>`` scheme and its verification.
* ``responses_v3.py``: the FC 3.0 operations (InvokeFunction and the async-task calls).
* ``signing_v3.py``: FC 3.0's ACS3-HMAC-SHA256, checked by the emulator's shared authenticator.
* ``async_tasks.py``: FC 3.0 async tasks: task ids, the 409 on a reused one, the ``AsyncTask`` view.
* ``registry.py``: :class:`FunctionSpec` and the registered functions; FC's 404s.
* ``runtime.py``: one attempt = one handler thread, timeout, initializer, result encoding.
* ``process.py``, ``child.py``: ``fc.isolation = "process"``: one attempt in a child process of its
  own (killed at the timeout, its peak RSS recorded); ``child.py`` is the script the child runs.
* ``async_queue.py``: async invocations: bounded queue, workers, retries, give-ups.
* ``records.py``: what ``GET /_emulator/fc/invocations`` answers.
* ``context.py``: the handler's ``context`` (:func:`make_context`); ``context_model.py`` its shape
  (:class:`FcContext`, standard library only: the process child loads it by path).
* ``capture.py``, ``envgate.py``: per-invocation log tail and ``os.environ``.
* ``exceptions.py``: :class:`FcApiError` and its catalogue.

Emulator limits worth knowing:

* A timed-out handler thread cannot be killed. The caller gets the timeout error while the
  abandoned thread may still finish its work later (exactly a lost acknowledgement); its late
  outcome is recorded as ``lateOutcome`` on the attempt. It keeps its environment slot until it
  ends, so a function needing a different environment waits for it.
* Handlers share one process: ``os.environ`` is swapped per invocation by a reader/writer gate
  (same environment runs concurrently, a different one waits). A handler that synchronously
  invokes a function with a *different* environment therefore deadlocks until its caller times out.
* What a handler prints (``sys.stdout``) or logs (root logger) from its own thread is captured
  for ``x-fc-log-type: Tail``; output from threads the handler starts is not.
"""

from chaos.emulator.fc.context import FcContext, make_context
from chaos.emulator.fc.exceptions import FcApiError
from chaos.emulator.fc.registry import FunctionSpec
from chaos.emulator.fc.service import FcEmulator
from chaos.emulator.fc.signing import sign, string_to_sign

__all__ = ["FcApiError", "FcContext", "FcEmulator", "FunctionSpec", "make_context", "sign", "string_to_sign"]
