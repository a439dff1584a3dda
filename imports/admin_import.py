"""The Import button of the Property changelist, and the upload page it opens.

Registered into the property admin as a `ChangelistExtension` (see imports/admin.py), so the
properties app does not import this one. The URL is the property admin's own
(`admin:properties_property_import`). The upload goes to this app's pipeline, which previews
files of any size and imports the valid rows of a file that also has rejected ones.
"""

from functools import partial

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from organizations.tenancy import scope_of
from properties.admin import ChangelistExtension, ObjectTool

from .forms import PropertyImportForm
from .services.jobs import IMPORT_PERMISSION, import_job_create, import_preview
from .uploads import upload_refusals

IMPORT_FORM_TEMPLATE = "admin/imports/import_form.html"


def _url_name(model_admin) -> str:
    opts = model_admin.opts
    return f"{opts.app_label}_{opts.model_name}_import"


def import_view(model_admin, request):
    """Upload a file into one of the actor's projects; the preview page follows."""
    scope = scope_of(request)
    if not scope.can(IMPORT_PERMISSION):
        raise PermissionDenied
    form = PropertyImportForm(
        request.POST or None,
        request.FILES or None,
        actor=scope,
        upload_refusals=upload_refusals(request),
    )
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
            import_preview(job=job, actor=request.user, background=None)
            site = model_admin.admin_site.name
            return HttpResponseRedirect(reverse(f"{site}:imports_importjob_preview", args=[job.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Import properties",
        "form": form,
        "media": model_admin.media + form.media,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, IMPORT_FORM_TEMPLATE, context)


def _urls(model_admin):
    view = model_admin.admin_site.admin_view(partial(import_view, model_admin))
    return [path("import/", view, name=_url_name(model_admin))]


def _object_tools(request, model_admin):
    if not scope_of(request).can(IMPORT_PERMISSION):
        return []
    url = reverse(f"{model_admin.admin_site.name}:{_url_name(model_admin)}")
    return [ObjectTool(label="Import", url=url, css_class="import_link")]


PROPERTY_IMPORT = ChangelistExtension(urls=_urls, object_tools=_object_tools)
