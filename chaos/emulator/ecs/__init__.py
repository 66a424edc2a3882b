"""ECS 2014-05-26 (RPC on ``/``, recognised by ``Version``): instances, disks, attach and start.

``service.py`` (the registered object and control-plane surface), ``responses.py`` (the operation
table and one method per operation), ``backend.py`` (state, transitions on the emulator clock, the
writes), ``models.py`` (records in the API's field names), ``errors.py`` (codes and messages),
``fleet.py`` (standby instances for a set of pairs or groups).
"""
