"""WSGI entry point (served by waitress: ``claimflow workbench serve``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "services.workbench.site.settings")
application = get_wsgi_application()
