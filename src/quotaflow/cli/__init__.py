"""The admin CLI: ``quotaflow db upgrade``, ``quotaflow keys …`` and ``quotaflow spend``.

``__main__`` registers these subcommands with ``add_admin_commands`` and runs them with
``run_admin_command``. ``db upgrade`` opens the store itself; ``keys`` and ``spend`` talk to a
running gateway's management API over HTTP (``client``), so every replica's key cache learns of
each change the way it does for any management call. Output is a table, or JSON with ``--json``;
the master key is never printed.

Must not import the server, routing or providers; ``db`` imports ``app`` and ``store`` only
when it runs.
"""

from quotaflow.cli.commands import ADMIN_COMMANDS, add_admin_commands, run_admin_command

__all__ = ["ADMIN_COMMANDS", "add_admin_commands", "run_admin_command"]
