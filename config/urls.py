from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]

# A refused page is the admin's own, saying which role it needs.
handler403 = "organizations.refusals.permission_denied"
