"""Alidns 2015-01-09 (RPC on ``/``, recognised by ``Version``): domain records read and updated.

``service.py`` (registered object, control-plane surface), ``responses.py`` (operation table and
handlers), ``backend.py`` (records, the update effect), ``models.py`` (records in the API's names).
"""
