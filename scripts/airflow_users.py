"""Create (or bring up to date) the Airflow accounts of a deployment, one per role, with FAB's auth manager.

Passwords come from the environment, never from a command line (which other users of the machine can read); an
account whose variable is unset is not created:

| account | role | may |
|---|---|---|
| ``admin`` (``AIRFLOW_ADMIN_PASSWORD``) | Admin | everything: users, connections, configuration |
| ``operator`` (``AIRFLOW_OPERATOR_PASSWORD``) | User | read, trigger, clear and pause DAG runs |
| ``viewer`` (``AIRFLOW_VIEWER_PASSWORD``) | Viewer | read DAGs, runs and logs: the ops team and analysts |

Run where Airflow's metadata database is reachable (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``), after ``airflow db
migrate``. An existing account gets its role and password set again (a rotated secret takes effect). Exit 0 when
every account is ready.
"""

from __future__ import annotations

import os
import sys

ACCOUNTS = (("admin", "Admin", "AIRFLOW_ADMIN_PASSWORD"), ("operator", "User", "AIRFLOW_OPERATOR_PASSWORD"),
            ("viewer", "Viewer", "AIRFLOW_VIEWER_PASSWORD"))


def main() -> int:
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        security = appbuilder.sm
        for username, role_name, variable in ACCOUNTS:
            password = os.environ.get(variable)
            if not password:
                continue
            role = security.find_role(role_name)
            user = security.find_user(username=username)
            if user is None:
                user = security.add_user(username, username, role_name, f"{username}@localhost", role, password)
                if not user:
                    print(f"airflow_users: creating {username!r} failed", file=sys.stderr)
                    return 1
            else:
                user.roles = [role]
                security.update_user(user)
                security.reset_password(user.id, password)
            print(f"airflow_users: {username!r} ready ({role_name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
