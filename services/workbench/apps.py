from django.apps import AppConfig


class WorkbenchConfig(AppConfig):
    name = "services.workbench"
    label = "workbench"
    verbose_name = "claimflow workbench"
    default_auto_field = "django.db.models.BigAutoField"
