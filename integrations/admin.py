from django.contrib import admin

from integrations.models import SsoClient


@admin.register(SsoClient)
class SsoClientAdmin(admin.ModelAdmin):
    list_display = ("application", "enabled", "updated_at")
    list_filter = ("enabled",)
