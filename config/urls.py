from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from health import views as health_views

PRODUCT_NAME = "Property data platform"
admin.site.site_header = PRODUCT_NAME
admin.site.site_title = PRODUCT_NAME
admin.site.index_title = "Start page"
# The site is the admin: no "View site" link back to where the reader already is.
admin.site.site_url = None

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", health_views.healthz, name="healthz"),
    path("readyz", health_views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
]

# A refused page is the admin's own, saying which role it needs.
handler403 = "organizations.refusals.permission_denied"
