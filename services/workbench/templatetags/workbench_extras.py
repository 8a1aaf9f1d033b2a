"""Small template filters of the workbench."""

from django import template

register = template.Library()


@register.filter
def words(value) -> str:
    """``corrected_claim`` -> ``corrected claim``."""
    return str(value or "").replace("_", " ")
