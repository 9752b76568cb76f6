from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class BranchPortalConfig(AppConfig):
    name = "branch_portal"

    def ready(self):
        post_migrate.connect(_setup_db_roles, dispatch_uid="setup_db_roles")


def _setup_db_roles(app_config, using, verbosity=1, **kwargs):
    """After every migrate (and the test database's creation): the truncate guards and the
    application role's grants, so tables a migration just created get them too."""
    from django.conf import settings
    from django.core.management.base import CommandError
    from django.db import connections

    from .db_roles import NotTheOwner, UnsafeAppRole, setup

    # The signal comes once per app with models, after the whole plan ran: act on the last. A
    # flush sends it too, without a plan (the transactional tests' teardown): nothing changed.
    if "plan" not in kwargs:
        return
    if app_config is not [a for a in apps.get_app_configs() if a.models_module][-1]:
        return
    try:
        done = setup(connections[using], settings.APP_DATABASE)
    except (NotTheOwner, UnsafeAppRole) as exc:
        raise CommandError(str(exc)) from exc
    for line in done:
        if verbosity >= 1:
            print(f"  Database roles: {line}")
