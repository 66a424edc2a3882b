"""After storage fails over: attach the secondary disks to standby instances, start them, switch DNS.

``map`` declares what goes where, ``validate`` checks it against described resources at plan time,
``steps`` decides the next action of each step from what was read, ``ecs``/``dns`` talk to the APIs.
"""
