from ..test_db_roles import app_role  # noqa: F401 - the application role's connection settings
