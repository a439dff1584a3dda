"""The import entry point on the Property changelist.

django-import-export supplies the Import button, the URL and the `import_property` permission
check; the upload itself goes to this app's pipeline, which (unlike the stock flow) previews
files of any size and imports the valid rows of a file that also has rejected ones.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV, JSON, XLSX

from .forms import PropertyImportForm
from .services import import_job_create, import_preview_start


class PropertyImportMixin(ImportExportMixin):
    import_form_template = "admin/imports/import_form.html"
    export_formats = [CSV, XLSX, JSON]

    def import_action(self, request, **kwargs):
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = PropertyImportForm(request.POST or None, request.FILES or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["import_file"]
            try:
                job = import_job_create(
                    actor=request.user,
                    project=form.cleaned_data["project"],
                    file=upload,
                    file_name=upload.name,
                    on_duplicate=form.cleaned_data["on_duplicate"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                import_preview_start(job=job, actor=request.user)
                return HttpResponseRedirect(
                    reverse(f"{self.admin_site.name}:imports_importjob_preview", args=[job.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import properties",
            "form": form,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.import_form_template, context)

    def process_import(self, request, **kwargs):
        # The stock confirm step would import the whole file or nothing; confirming happens on
        # the import job's preview page instead.
        messages.info(request, "Start an import from the Import button.")
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:properties_property_import"))
