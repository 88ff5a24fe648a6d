"""In-process stand-ins for brokers that cannot run on this machine.

Each fake copies the client library's surface that a transport calls (method
names, keyword arguments, return types, the library's own exception classes),
keeps its state in memory shared by every client built on the same namespace,
and is patched in at the transport module's module-level names by the tests.
"""
