"""Several servers on one database: who is alive (``registry``), who may run a project's
code now (``leases``), and project events that cross servers (``relay``).

On SQLite there is one server: the registry still keeps its row, the lease is skipped
and there is no relay.
"""
