"""After storage fails over: attach the secondary disks to standby instances, start them, switch DNS.

``map`` declares what goes where, ``validate`` checks it against described resources at plan time,
``steps`` decides the next action of each step from what was read, ``ecs``/``dns``/``hook`` talk to
the APIs; in the function, ``prepare`` builds a ``stage`` at plan time, the stage runs it after storage,
and ``report`` shapes its part of the result.
"""
