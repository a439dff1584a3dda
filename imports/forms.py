from django import forms

from properties.models import Project, Status
from properties.selectors import project_list

from .pipeline import OnDuplicate


class PropertyImportForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.none())
    import_file = forms.FileField(
        label="File",
        help_text=(
            "CSV (UTF-8 or Windows-1252; comma, semicolon or tab separated), XLSX (a single sheet, "
            "no merged cells) or JSON (a list of objects). Required columns: address, suburb, "
            "postcode."
        ),
    )
    on_duplicate = forms.ChoiceField(
        label="Rows whose property already exists",
        choices=[
            (OnDuplicate.SKIP, "Skip them"),
            (OnDuplicate.UPDATE, "Update the property where a value changed"),
            (OnDuplicate.ERROR, "Reject them"),
        ],
        initial=OnDuplicate.SKIP,
    )

    def __init__(self, *args, actor, upload_refusals=None, **kwargs):
        super().__init__(*args, **kwargs)
        # A file the upload handler dropped on arrival (imports/uploads.py) is not missing: it
        # was refused, and the field says why.
        self.upload_refusals = upload_refusals or {}
        if "import_file" in self.upload_refusals:
            self.fields["import_file"].required = False
        # Only the actor's projects: another tenant's id is "not a valid choice".
        self.fields["project"].queryset = project_list(actor=actor).exclude(status=Status.DELETED)

    def clean_import_file(self):
        if "import_file" in self.upload_refusals:
            raise forms.ValidationError(self.upload_refusals["import_file"])
        return self.cleaned_data["import_file"]
