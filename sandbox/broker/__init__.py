"""``avo-sandboxd``: the multi-tenant sandbox broker, the only process that talks to dockerd.

Tenants (Unix users in the socket's group) connect to its Unix socket; it identifies
them by ``SO_PEERCRED``, applies the host policy (``/etc/avo/sandboxd.yaml``), checks
and pins their mounts, leases GPUs, enforces per-tenant quotas, runs each call in a
container built from the docker backend's hardened options with the tenant's uid
forced, and audits every call. One job per module:

- ``host_policy``: the admin's policy file (pydantic) and who gets which entry;
- ``peer``: who is calling (``SO_PEERCRED``);
- ``admission``: a request checked against the tenant's entry, and what is forced;
- ``mount_guard``: mount paths opened without following links, then pinned;
- ``gpu_leases``: the GPU inventory and exclusive leases;
- ``container_slots``: per-tenant container quotas and queues;
- ``audit_log``: one JSON line per call;
- ``protocol``: the wire format shared with the client (``sandbox.backends.broker``);
- ``session``: one tenant's run session; ``server``: the socket server;
- ``daemon``: start-up (sweep leftovers, serve, shut down cleanly).

Nothing here imports ``orchestrator``: the broker runs without the agent's dependencies.
"""
