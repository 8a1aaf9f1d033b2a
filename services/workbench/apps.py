from django.apps import AppConfig


class WorkbenchConfig(AppConfig):
    name = "services.workbench"
    label = "workbench"
    verbose_name = "claimflow workbench"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from services.workbench import first_login  # noqa: F401  (connects the user_logged_in receiver)
