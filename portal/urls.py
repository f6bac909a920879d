"""Every URL of the portal. Each view declares who may open it (portal.access)."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from agreements import urls as agreement_urls
from billing import urls as billing_urls
from billing.api import urls as api_urls
from claims import urls as claims_urls
from clinics import urls as clinic_urls
from eligibility import urls as eligibility_urls
from notifications import urls as notification_urls
from onboarding import urls as onboarding_urls
from payouts import urls as payout_urls
from privacy import urls as privacy_urls
from regioninfo import urls as regioninfo_urls
from reports import urls as reports_urls
from review import urls as review_urls

from . import access, access_log, account, login, metrics, oidc, views

password_set = access.public(
    auth_views.PasswordResetConfirmView.as_view(
        template_name="portal/password_set.html",
        post_reset_login=True,
        # Logged in with the password only: the second factor is asked next where the person needs one.
        post_reset_login_backend="django.contrib.auth.backends.ModelBackend",
        success_url="/",
    )
)

clinic_patterns = [
    *clinic_urls.clinic_patterns,
    *billing_urls.clinic_patterns,
    *eligibility_urls.clinic_patterns,
    *claims_urls.clinic_patterns,
    *payout_urls.clinic_patterns,
    *review_urls.clinic_patterns,
    *regioninfo_urls.clinic_patterns,
    *agreement_urls.clinic_patterns,
]

region_patterns = [
    *clinic_urls.region_patterns,
    path("atkomstlogg/", access_log.access_log_review, name="region_access_log"),
    path("servicefonster/", views.region_service_windows, name="region_service_windows"),
    path(
        "servicefonster/<int:window_pk>/ta-bort/",
        views.region_service_window_delete,
        name="region_service_window_delete",
    ),
    path("servicefonster/<int:window_pk>/avsluta/", views.region_service_window_end, name="region_service_window_end"),
    *eligibility_urls.region_patterns,
    *onboarding_urls.region_patterns,
    *claims_urls.region_patterns,
    *payout_urls.region_patterns,
    *reports_urls.region_patterns,
    *review_urls.region_patterns,
    *regioninfo_urls.region_patterns,
    *agreement_urls.region_patterns,
]

# The database away answers 503 with Retry-After instead of the 500 page (portal/middleware.py).
handler500 = "portal.middleware.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("logga-in/", login.login, name="login"),
    path("logga-in/kod/", login.two_factor_verify, name="two_factor_verify"),
    path("logga-in/sso/", oidc.oidc_authenticate, name="oidc_authentication_init"),
    path("logga-in/sso/svar/", oidc.oidc_callback, name="oidc_authentication_callback"),
    path("logga-in/tvastegsverifiering/", login.two_factor_enrol, name="two_factor_enrol"),
    path("logga-ut/", views.logout, name="logout"),
    path("valj-losenord/<uidb64>/<token>/", password_set, name="password_set"),
    path("glomt-losenord/", account.password_reset, name="password_reset"),
    path("glomt-losenord/skickat/", account.password_reset_done, name="password_reset_done"),
    path("konto/", account.account, name="account"),
    path("konto/losenord/", account.password_change, name="account_password"),
    path("konto/aktiv/", account.keepalive, name="account_keepalive"),
    *notification_urls.account_patterns,
    *privacy_urls.account_patterns,
    path("konto/e-post/", account.email_change, name="account_email"),
    path("konto/e-post/<str:token>/", account.email_confirm, name="account_email_confirm"),
    path("konto/reservkoder/", account.recovery_codes_new, name="account_recovery_codes"),
    path("konto/tvastegsverifiering/ta-bort/", account.two_factor_remove, name="account_two_factor_remove"),
    *notification_urls.urlpatterns,
    path("valj-klinik/", views.choose, name="choose"),
    path("support/", views.support, name="support"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    *billing_urls.public_patterns,
    *clinic_urls.public_patterns,
    *onboarding_urls.public_patterns,
    path("servicefonster/", views.service_windows, name="service_windows"),
    path("servicefonster/<int:portal_window_pk>/ta-bort/", views.service_window_delete, name="service_window_delete"),
    path("servicefonster/<int:portal_window_pk>/avsluta/", views.service_window_end, name="service_window_end"),
    path("klinik/<int:clinic_pk>/", include(clinic_patterns)),
    path("region/<slug:region_code>/", include(region_patterns)),
    path("organisation/<int:organisation_pk>/", include(billing_urls.organisation_patterns)),
    path("sprak/", account.language_switch, name="set_language"),
    # The journal-system API (issue 13): authenticated by API key, never by session.
    path("api/v1/", include(api_urls)),
]
