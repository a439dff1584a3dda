from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model, password_validation

from .admin_pages import ServiceDeleteMixin
from .models import Organization, Profile
from .services import member_create, organization_create, organization_delete
from .tenancy import TenantHistoryAdmin, TenantScopedAdmin, scope_of


class MemberInline(admin.TabularInline):
    model = Profile
    fields = ("user", "full_name", "role", "last_login")
    readonly_fields = ("user", "last_login")
    extra = 0
    can_delete = False
    verbose_name_plural = "members"

    def has_add_permission(self, request, obj=None):
        # New members need a login: they are added on the Members page, which creates both.
        return False


@admin.register(Organization)
class OrganizationAdmin(ServiceDeleteMixin, TenantHistoryAdmin):
    tenant_lookup = "pk"
    history_tenant_lookup = "id"
    list_display = ("name", "slug", "subscription_tier", "created_at")
    search_fields = ("name", "slug")
    inlines = (MemberInline,)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "time_zone":
            return forms.TypedChoiceField(
                choices=_time_zone_choices(),
                required=False,
                label="Time zone",
                help_text=db_field.help_text,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_add_permission(self, request):
        return scope_of(request).sees_all

    def has_delete_permission(self, request, obj=None):
        return scope_of(request).sees_all

    def get_readonly_fields(self, request, obj=None):
        if scope_of(request).sees_all:
            return ()
        return ("slug", "subscription_tier")

    def get_prepopulated_fields(self, request, obj=None):
        # Only superusers edit the slug; simple-history's version page reads the class
        # attribute, which therefore stays empty.
        return {"slug": ("name",)} if scope_of(request).sees_all else {}

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        else:
            obj._history_user = request.user
            organization_create(organization=obj, actor=request.user)

    def delete_row(self, obj, *, actor):
        organization_delete(organization=obj, actor=actor)


def _time_zone_choices() -> list[tuple[str, str]]:
    # Australian zones first: the organisations this platform serves are there.
    zones = sorted(
        available_timezones(), key=lambda name: (not name.startswith("Australia/"), name)
    )
    return [("", f"The deployment's ({settings.TIME_ZONE})"), *((zone, zone) for zone in zones)]


class MemberCreationForm(forms.ModelForm):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)

    class Meta:
        model = Profile
        fields = ("username", "email", "password", "full_name", "role", "organization")

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("That username is taken.")
        return username

    def clean_password(self):
        password = self.cleaned_data["password"]
        password_validation.validate_password(password)
        return password


@admin.register(Profile)
class MemberAdmin(TenantScopedAdmin):
    list_display = ("user", "full_name", "role", "organization", "last_login")
    list_filter = ("role",)
    search_fields = ("user__username", "full_name")
    list_select_related = ("user", "organization")
    readonly_fields = ("last_login",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = MemberCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            fields = ["username", "email", "password", "full_name", "role", "organization"]
        else:
            fields = ["user", "full_name", "role", "organization", "preferences", "last_login"]
        if not scope_of(request).sees_all:
            fields.remove("organization")
        return fields

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ("user", "last_login")
        return ("last_login",)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        scope = scope_of(request)
        organization = form.cleaned_data["organization"] if scope.sees_all else scope.organization
        created = member_create(
            actor=request.user,
            organization=organization,
            username=form.cleaned_data["username"],
            email=form.cleaned_data.get("email", ""),
            password=form.cleaned_data["password"],
            role=form.cleaned_data["role"],
            full_name=form.cleaned_data.get("full_name", ""),
        )
        obj.pk = created.pk
        obj.user = created.user
        obj.organization = created.organization
