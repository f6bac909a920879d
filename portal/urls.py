"""Every URL of the portal. Each view declares who may open it (portal.access)."""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import set_language

from clinics import views as clinic_views

from . import access, views

password_set = access.public(
    auth_views.PasswordResetConfirmView.as_view(
        template_name="portal/password_set.html", post_reset_login=True, success_url="/"
    )
)

clinic_patterns = [
    path("", clinic_views.clinic_start, name="clinic_start"),
    path("klinikadministration/", clinic_views.administration, name="clinic_administration"),
    path("klinikadministration/uppgifter/", clinic_views.details_edit, name="clinic_details_edit"),
    path("klinikadministration/anvandare/ny/", clinic_views.user_new, name="clinic_user_new"),
    path("klinikadministration/anvandare/<int:membership_pk>/roll/", clinic_views.user_role, name="clinic_user_role"),
    path(
        "klinikadministration/anvandare/<int:membership_pk>/ta-bort/",
        clinic_views.user_remove,
        name="clinic_user_remove",
    ),
]

region_patterns = [
    path("", clinic_views.region_start, name="region_start"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("logga-in/", views.login, name="login"),
    path("logga-ut/", views.logout, name="logout"),
    path("valj-losenord/<uidb64>/<token>/", password_set, name="password_set"),
    path("valj-klinik/", views.choose, name="choose"),
    path("support/", views.support, name="support"),
    path("healthz", views.healthz, name="healthz"),
    path("servicefonster/", views.service_windows, name="service_windows"),
    path("servicefonster/<int:window_pk>/ta-bort/", views.service_window_delete, name="service_window_delete"),
    path("klinik/<int:clinic_pk>/", include(clinic_patterns)),
    path("region/<slug:region_code>/", include(region_patterns)),
    path("sprak/", access.public(set_language), name="set_language"),
]
