"""Chaos harness for replica-failover: a local Alibaba Cloud emulator, fault injection and game days.

The failover function (``functions/failover``) never imports this package.
"""
